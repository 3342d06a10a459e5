/** What the queue area (plan queue, executor, their handlers) uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { ManagerToWorker } from "../../protocol/ipc.js";
import type { AccessControl } from "../access/access.js";
import type { Activity } from "../activity.js";
import type { StatusState } from "../state.js";
import type { QueueExecutor } from "./executor.js";
import type { PlanQueue } from "./plan-queue.js";

/** What the executor needs to run plans one after another. */
export interface ExecutorContext {
  queue: Pick<PlanQueue, "items" | "running" | "mode" | "autostart" | "change">;
  activity: Pick<
    Activity,
    | "current"
    | "idle"
    | "environmentIsOpen"
    | "requireEnvironmentOpen"
    | "requireIdle"
    | "begin"
    | "end"
  >;
  state: Pick<StatusState, "get" | "set" | "bump">;
  env: {
    /** Send to the main worker (plans run there); false when there is none. */
    send(msg: ManagerToWorker): boolean;
  };
  log: Pick<Logger, "info" | "warn" | "error">;
}

/** What the queue and history handlers use. */
export interface QueueHandlersContext {
  queue: PlanQueue;
  executor: Pick<QueueExecutor, "maybeAutostart" | "executeNow">;
  /** The requester checks and the plans/devices a group may use. */
  access: Pick<AccessControl, "hasGroup" | "allowedLists" | "requireLists">;
  state: Pick<StatusState, "marker">;
}

/** What the queue control and run engine handlers use. */
export interface ControlHandlersContext {
  queue: Pick<PlanQueue, "change">;
  executor: Pick<
    QueueExecutor,
    "start" | "requestStop" | "cancelStop" | "maybeAutostart" | "control" | "planRuns" | "metadata"
  >;
  state: Pick<StatusState, "marker">;
}
