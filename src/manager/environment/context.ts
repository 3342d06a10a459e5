/** What the environment area uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { Activity } from "../activity.js";
import type { RunningTask } from "../tasks/task-record.js";
import type { EnvironmentController } from "./controller.js";

/** Where the controller reports workers of this host lost together (the main one with its pool). */
export interface LostWorkers {
  workersLost(workers: readonly string[], msg: string): void;
}

/** What the controller needs besides its options. */
export interface EnvironmentContext {
  /** Opening, closing, destroying: begun and ended here. */
  activity: Pick<Activity, "begin" | "end">;
  /** The tasks running in workers that are gone end (retried, waiting again or failed), saying why. */
  tasks: LostWorkers;
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
  tasks: { add(task: RunningTask): void };
}
