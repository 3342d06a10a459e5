/** The environment handlers from a fake environment context (no worker process). */
import { describe, expect, it } from "vitest";
import { Activity } from "../../src/manager/activity.js";
import type { EnvironmentHandlersContext } from "../../src/manager/environment/context.js";
import type { EnvPhase } from "../../src/manager/environment/context.js";
import { environmentHandlers } from "../../src/manager/environment/handlers.js";
import { RequestError } from "../../src/manager/errors.js";
import type { RequestContext } from "../../src/manager/rpc/dispatch.js";
import { StatusState } from "../../src/manager/state.js";

function make(phase: EnvPhase) {
  const calls: string[] = [];
  const state = new StatusState();
  const env = {
    phase,
    get exists() {
      return this.phase === "open" || this.phase === "closing" || this.phase === "destroying";
    },
    open: () => void calls.push("open"),
    close: () => void calls.push("close"),
    destroy: () => void calls.push("destroy"),
    sendScript: (id: string, script: string) => calls.push(`script ${script}`) > 0,
  };
  const added: string[] = [];
  const ctx: EnvironmentHandlersContext = {
    env,
    activity: new Activity(state, () => env.phase === "open"),
    tasks: { add: (t) => void added.push(t.name) },
  };
  return { h: environmentHandlers(ctx), calls, added, state, activity: ctx.activity as Activity };
}
const req = { encoding: "json" } as RequestContext;

describe("environment handlers from a fake context", () => {
  it("environment_open opens when closed and idle; refuses while busy", async () => {
    const { h, calls, activity } = make("closed");
    activity.begin("executing_task");
    expect(() => h.environment_open?.({}, req)).toThrow(
      "RE Manager is busy: the environment cannot be opened in state 'executing_task'",
    );
    activity.end();
    expect(await h.environment_open?.({}, req)).toEqual({ success: true, msg: "" });
    expect(calls).toEqual(["open"]);
  });

  it("script_upload needs an open environment; a foreground script holds the manager", async () => {
    const closed = make("closed");
    let err: unknown;
    try {
      await closed.h.script_upload?.(
        { script: "x = 1", update_lists: true, update_re: false, run_in_background: false },
        req,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).message).toBe("RE Worker environment is not open");
    expect((err as RequestError).prefixed).toBe(false);

    const { h, calls, added, state } = make("open");
    const r = await h.script_upload?.(
      { script: "x = 1", update_lists: true, update_re: false, run_in_background: false },
      req,
    );
    expect(r?.success).toBe(true);
    expect(calls).toEqual(["script x = 1"]);
    expect(added).toEqual(["script_upload"]);
    expect(state.get("manager_state")).toBe("executing_task");
  });
});
