/** environment_open/close/destroy/update, script_upload, kernel_interrupt. */
import { randomUUID } from "node:crypto";
import type { Handlers } from "../rpc/dispatch.js";
import { BUSY, NOT_OPEN } from "../activity.js";
import { RequestError } from "../errors.js";
import type { EnvironmentHandlersContext } from "./context.js";

export function environmentHandlers(m: EnvironmentHandlersContext): Handlers {
  const env = m.env;

  /** Start a script task (script_upload, environment_update). */
  const startScript = (
    script: string,
    updateLists: boolean,
    background: boolean,
    label: string,
  ): string => {
    m.activity.requireEnvironmentOpen(NOT_OPEN, undefined, false);
    if (!background) m.activity.requireIdle(BUSY.startTask);
    const uid = randomUUID();
    m.tasks.add({ uid, name: label, kind: "script", background, time_start: Date.now() / 1000 });
    if (!background)
      m.activity.begin("executing_task", { worker_environment_state: "executing_task" });
    env.sendScript(uid, script, updateLists, background);
    return uid;
  };

  return {
    environment_open: () => {
      if (env.phase === "opening") {
        throw new RequestError(
          "Manager is already in the process of creating the RE Worker environment.",
        );
      }
      if (env.exists) throw new RequestError("RE Worker environment already exists.");
      m.activity.requireIdle(BUSY.openEnvironment);
      env.open();
      return { success: true, msg: "" };
    },
    environment_close: () => {
      if (!env.exists) throw new RequestError("RE Worker environment does not exist.");
      m.activity.requireIdle(BUSY.closeEnvironment);
      env.close();
      return { success: true, msg: "" };
    },
    environment_destroy: () => {
      if (!env.exists && env.phase !== "opening")
        throw new RequestError("RE environment does not exist");
      env.destroy();
      return { success: true, msg: "" };
    },
    environment_update: ({ run_in_background }) => {
      const uid = startScript("", true, run_in_background, "environment_update");
      return { success: true, msg: "", task_uid: uid };
    },
    script_upload: ({ script, update_lists, run_in_background }) => {
      const uid = startScript(script, update_lists, run_in_background, "script_upload");
      return { success: true, msg: "", task_uid: uid };
    },
    kernel_interrupt: () => {
      throw new RequestError("RE Manager is not in IPython mode: IPython kernel is not used");
    },
  };
}
