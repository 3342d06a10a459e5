/** What the queue area (plan queue, executor, their handlers) uses: nothing else of the manager. */
import type { Logger } from "pino";
import type {
  ControlReplyMsg,
  ManagerToWorker,
  PlanDoneMsg,
  ReRunsMsg,
  ReStateMsg,
} from "../../protocol/ipc.js";
import type { ListAccess } from "../access/types.js";
import type { Activity } from "../activity.js";
import type { StatusState } from "../state.js";
import type { PlanAction, RunListEntry } from "../../protocol/ipc.js";
import type { QueueItem, QueueState } from "./types.js";

/** What the executor needs to run plans one after another. */
export interface ExecutorContext {
  queue: QueueState;
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
    /** The worker's messages about plans; its loss; the environment open (with its metadata). */
    on(
      event: "plan-message",
      listener: (msg: ReStateMsg | ReRunsMsg | PlanDoneMsg | ControlReplyMsg) => void,
    ): unknown;
    on(event: "lost", listener: (reason: string) => void): unknown;
    on(event: "ready", listener: (metadata: Record<string, unknown>) => void): unknown;
  };
  log: Pick<Logger, "info" | "warn" | "error">;
}

/** What the queue and history handlers use. */
export interface QueueHandlersContext {
  queue: QueueState;
  executor: {
    /** Start the queue when autostart is on and the manager may. */
    maybeAutostart(): void;
    /** queue_item_execute: run one item now, outside the queue. */
    executeNow(item: QueueItem): Promise<void>;
  };
  /** The requester checks and the plans/devices a group may use. */
  access: ListAccess;
  state: Pick<StatusState, "marker">;
}

/** What the queue control and run engine handlers use. */
export interface ControlHandlersContext {
  queue: Pick<QueueState, "change">;
  executor: {
    /** queue_start */
    start(): Promise<void>;
    /** queue_stop: stop after the running plan. */
    requestStop(): void;
    cancelStop(): void;
    maybeAutostart(): void;
    /** Pause, resume, stop, abort, halt the running plan. */
    control(action: PlanAction, option?: string): Promise<void>;
    /** The runs of the running plan (re_runs). */
    readonly planRuns: RunListEntry[];
    /** The run engine's metadata, as the worker last told it. */
    readonly metadata: Record<string, unknown>;
  };
  state: Pick<StatusState, "marker">;
}
