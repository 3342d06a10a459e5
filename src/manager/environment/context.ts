/** What the environment area uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { Activity } from "../activity.js";
import type { StatusState } from "../state.js";
import type { StoreOp } from "../store/types.js";
import type { RunningTask } from "../tasks/task-record.js";

/** Where the environment is in its life. */
export type EnvPhase = "closed" | "opening" | "open" | "closing" | "destroying";

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
  /** The markers of the lists of plans and devices (bumped when they change). */
  state: Pick<StatusState, "bump">;
  /** Write changes no reply waits for (the lists, the fingerprint of the code they came from). */
  writeInBackground(ops: StoreOp[]): void;
}

/** What the environment handlers use. */
export interface EnvironmentHandlersContext {
  env: {
    readonly phase: EnvPhase;
    /** Open, closing or being destroyed. */
    readonly exists: boolean;
    open(): void;
    close(): void;
    destroy(): void;
    /** Load a script into the workers (the task `id`); false when there is no worker. */
    sendScript(id: string, script: string, updateLists: boolean, background: boolean): boolean;
  };
  activity: Pick<Activity, "requireIdle" | "requireEnvironmentOpen" | "begin">;
  /** Scripts are tasks: their record is added here. */
  tasks: { add(task: RunningTask): void };
}
