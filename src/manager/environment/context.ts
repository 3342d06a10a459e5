/** What the environment area uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { Activity } from "../activity.js";
import type { TaskRegistry } from "../tasks/registry.js";
import type { EnvironmentController } from "./controller.js";

/** What the controller needs besides its options. */
export interface EnvironmentContext {
  /** Opening, closing, destroying: begun and ended here. */
  activity: Pick<Activity, "begin" | "end">;
  /** The tasks running in a worker that is gone fail, saying why. */
  tasks: Pick<TaskRegistry, "failRunning">;
  log: Logger;
  /** Worker output, published on QS_Console. */
  console(text: string): void;
}

/** What the environment handlers use. */
export interface EnvironmentHandlersContext {
  env: Pick<
    EnvironmentController,
    "phase" | "exists" | "open" | "close" | "destroy" | "sendScript"
  >;
  activity: Pick<Activity, "requireIdle" | "requireEnvironmentOpen" | "begin">;
  /** Scripts are tasks: their record is added here. */
  tasks: Pick<TaskRegistry, "add">;
}
