/**
 * Messages between the manager and a worker process (Node IPC, advanced
 * serialization). Discriminated unions: `type` says what it is; task messages
 * carry the task uid as `id`.
 */
import type { TaskTrace } from "./task-trace.js";

export interface ExecuteFunctionMsg {
  type: "execute";
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  background: boolean;
  attempt: number;
  /** Its priority: tasks waiting in a worker for a slot start highest first. */
  priority?: number;
  /** A task of a run: the run and the task's index in it. */
  run?: { uid: string; index: number };
}

export interface ScriptMsg {
  type: "script";
  id: string;
  /** Module source (JavaScript or TypeScript); "" re-reads the startup code only. */
  script: string;
  updateLists: boolean;
  background: boolean;
}

export interface CancelMsg {
  type: "cancel";
  id: string;
  reason: string;
}

export interface CloseMsg {
  type: "close";
}

/** Run a plan in the worker's run engine; `id` is the item_uid. */
export interface PlanRunMsg {
  type: "plan_run";
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export type PlanAction = "pause" | "resume" | "stop" | "abort" | "halt";

/** Control of the running plan; answered by a `control_reply` with the same `reqId`. */
export interface PlanControlMsg {
  type: "plan_control";
  reqId: number;
  action: PlanAction;
  option?: string;
}

/** The manager's answer to a `subtask` request: the child's uid, or why it was refused. */
export interface SubtaskReplyMsg {
  type: "subtask_reply";
  reqId: string;
  success: boolean;
  msg: string;
  uid: string | null;
}

/** An awaited subtask ended (sent after its `subtask_reply`, to the worker that asked). */
export interface SubtaskDoneMsg {
  type: "subtask_done";
  reqId: string;
  uid: string;
  /** Its final state (completed, failed, cancelled, timed_out, expired). */
  state: string;
  msg: string;
  traceback: string;
  return_value: unknown;
}

export type ManagerToWorker =
  | ExecuteFunctionMsg
  | ScriptMsg
  | CancelMsg
  | CloseMsg
  | PlanRunMsg
  | PlanControlMsg
  | SubtaskReplyMsg
  | SubtaskDoneMsg;

/** What the worker found in the startup code, in the Python server's shapes. */
export interface EnvironmentContent {
  plans_existing: Record<string, unknown>;
  devices_existing: Record<string, unknown>;
  functions: string[];
}

export interface ReadyMsg {
  type: "ready";
  content: EnvironmentContent;
  /** The run engine's metadata (re_metadata). */
  metadata: Record<string, unknown>;
  /** Each function's name → a hash of its source (what a remote worker offers). */
  function_hashes?: Record<string, string>;
}

export interface LoadFailedMsg {
  type: "load_failed";
  msg: string;
  traceback: string;
}

export interface TaskStartedMsg {
  type: "task_started";
  id: string;
  time: number;
}

export interface TaskProgressMsg {
  type: "task_progress";
  id: string;
  progress?: number;
  message?: string;
  outputs?: Record<string, unknown>;
}

export interface TaskDoneMsg {
  type: "task_done";
  id: string;
  success: boolean;
  msg: string;
  traceback: string;
  return_value: unknown;
  time_start: number;
  time_stop: number;
  /** How long the call took, in ms to the microsecond (time_start and time_stop have ms steps). */
  call_ms?: number;
  /** Set when the task ended because it was cancelled. */
  cancelled?: boolean;
  /** New lists after a script upload with update_lists. */
  content?: EnvironmentContent;
  /**
   * Bytes the worker had written to its stdout and stderr (together) when it
   * sent this: the manager holds the message until it has read that much, so
   * that a task's output is published before its end.
   */
  out?: number;
  /** The worker's timing marks (received, begins, returns), only with ZQS_TRACE_TASKS=1. */
  trace?: TaskTrace;
}

/** The run engine's state changed. */
export interface ReStateMsg {
  type: "re_state";
  state: "idle" | "running" | "paused";
  pausePending: boolean;
}

export interface RunListEntry {
  uid: string;
  scan_id: number;
  is_open: boolean;
  exit_status: string | null;
}

/** The runs of the plan in progress changed (a run opened or closed). */
export interface ReRunsMsg {
  type: "re_runs";
  runs: RunListEntry[];
}

export interface PlanResultFields {
  exit_status: "completed" | "failed" | "stopped" | "aborted" | "halted" | "unknown";
  run_uids: string[];
  scan_ids: number[];
  msg: string;
  traceback: string;
}

export interface PlanDoneMsg {
  type: "plan_done";
  id: string;
  /** As TaskDoneMsg's `out`: the plan's output is published before its end. */
  out?: number;
  result: PlanResultFields;
  time_start: number;
  time_stop: number;
  /** The engine's metadata after the plan (re_metadata). */
  metadata: Record<string, unknown>;
}

/**
 * A running function or plan (`parent`: its task or item uid) submits a
 * function as a subtask, with function_execute's lifecycle options; `wait`:
 * the worker wants its outcome (`subtask_done`). `reqId` is unique to the
 * request (a uuid made by the worker).
 */
export interface SubtaskMsg {
  type: "subtask";
  reqId: string;
  parent: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  wait: boolean;
}

export interface ControlReplyMsg {
  type: "control_reply";
  reqId: number;
  success: boolean;
  msg: string;
}

export type WorkerToManager =
  | ReadyMsg
  | LoadFailedMsg
  | TaskStartedMsg
  | TaskProgressMsg
  | TaskDoneMsg
  | ReStateMsg
  | ReRunsMsg
  | PlanDoneMsg
  | ControlReplyMsg
  | SubtaskMsg;

/**
 * Heartbeats do not use IPC: a thread of the worker writes one byte to file
 * descriptor 3 every HEARTBEAT_INTERVAL_MS, so a long synchronous computation
 * in user code is not taken for a hung process, while a stopped or dead one is.
 */
export const HEARTBEAT_FD = 3;
export const HEARTBEAT_INTERVAL_MS = 100;

/** Environment variables the manager passes to a forked worker. */
export const WORKER_ENV = {
  startupDir: "ZQS_WORKER_STARTUP_DIR",
  startupModule: "ZQS_WORKER_STARTUP_MODULE",
  workerId: "ZQS_WORKER_ID",
  /** Function tasks it runs at once (unset: no limit); more wait in it, highest priority first. */
  slots: "ZQS_WORKER_SLOTS",
  /** Where it writes uploaded scripts (made and removed by the process that forks it). */
  uploadDir: "ZQS_WORKER_UPLOAD_DIR",
} as const;

/**
 * IPC messages sent in one turn of the event loop go as one array: one pipe
 * write and one wake-up of the other side for a burst of tasks instead of one
 * per message. The receiver takes a single message or an array.
 */
export class IpcBatcher<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(private readonly write: (batch: T | T[]) => void) {}

  push(msg: T): void {
    this.pending.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Send what waits now (before a disconnect). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.write(batch.length === 1 ? (batch[0] as T) : batch);
  }
}

/** Each message of what the other side sent (one, or a batch). */
export function unbatch<T>(received: unknown, each: (msg: T) => void): void {
  if (Array.isArray(received)) for (const m of received) each(m as T);
  else each(received as T);
}
