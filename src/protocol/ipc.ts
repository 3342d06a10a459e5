/**
 * Messages between the manager and a worker process (Node IPC, advanced
 * serialization). Discriminated unions: `type` says what it is; task messages
 * carry the task uid as `id`.
 *
 * Each message is a zod schema and its type is inferred from it: the same
 * schemas check the task messages on the wire of workers on other hosts
 * (worker-wire.ts), so the two cannot drift apart. IPC itself is between
 * processes of one install and is not checked on receipt.
 */
import { z } from "zod";
import type { TaskTrace } from "./task-trace.js";

/** A task's uid (or a plan item's) as it travels between processes. */
const uid = z.string().min(1).max(200);
/** A subtask request's id (a uuid made by the worker). */
const reqId = z.string().min(1).max(200);
const num = z.number().finite();
const record = z.record(z.string(), z.unknown());

// ---- manager → worker ------------------------------------------------------------

export const executeMsgSchema = z.object({
  type: z.literal("execute"),
  id: uid,
  name: z.string(),
  args: z.array(z.unknown()),
  kwargs: record,
  background: z.boolean(),
  attempt: z.number().int(),
  /** Its priority: tasks waiting in a worker for a slot start highest first. */
  priority: num.optional(),
  /** A task of a run: the run and the task's index in it. */
  run: z.object({ uid: z.string(), index: z.number().int() }).optional(),
});
export type ExecuteFunctionMsg = z.infer<typeof executeMsgSchema>;

export const scriptMsgSchema = z.object({
  type: z.literal("script"),
  id: uid,
  /** Module source (JavaScript or TypeScript); "" re-reads the startup code only. */
  script: z.string(),
  updateLists: z.boolean(),
  background: z.boolean(),
});
export type ScriptMsg = z.infer<typeof scriptMsgSchema>;

export const cancelMsgSchema = z.object({ type: z.literal("cancel"), id: uid, reason: z.string() });
export type CancelMsg = z.infer<typeof cancelMsgSchema>;

export const closeMsgSchema = z.object({ type: z.literal("close") });
export type CloseMsg = z.infer<typeof closeMsgSchema>;

/** Run a plan in the worker's run engine; `id` is the item_uid. */
export const planRunMsgSchema = z.object({
  type: z.literal("plan_run"),
  id: uid,
  name: z.string(),
  args: z.array(z.unknown()),
  kwargs: record,
});
export type PlanRunMsg = z.infer<typeof planRunMsgSchema>;

export const planActionSchema = z.enum(["pause", "resume", "stop", "abort", "halt"]);
export type PlanAction = z.infer<typeof planActionSchema>;

/** Control of the running plan; answered by a `control_reply` with the same `reqId`. */
export const planControlMsgSchema = z.object({
  type: z.literal("plan_control"),
  reqId: z.number().int(),
  action: planActionSchema,
  option: z.string().optional(),
});
export type PlanControlMsg = z.infer<typeof planControlMsgSchema>;

/** The manager's answer to a `subtask` request: the child's uid, or why it was refused. */
export const subtaskReplyMsgSchema = z.object({
  type: z.literal("subtask_reply"),
  reqId,
  success: z.boolean(),
  msg: z.string(),
  uid: z.string().nullable(),
});
export type SubtaskReplyMsg = z.infer<typeof subtaskReplyMsgSchema>;

/** An awaited subtask ended (sent after its `subtask_reply`, to the worker that asked). */
export const subtaskDoneMsgSchema = z.object({
  type: z.literal("subtask_done"),
  reqId,
  uid: z.string(),
  /** Its final state (completed, failed, cancelled, timed_out, expired). */
  state: z.string(),
  msg: z.string(),
  traceback: z.string(),
  return_value: z.unknown(),
});
export type SubtaskDoneMsg = z.infer<typeof subtaskDoneMsgSchema>;

export const managerToWorkerSchema = z.discriminatedUnion("type", [
  executeMsgSchema,
  scriptMsgSchema,
  cancelMsgSchema,
  closeMsgSchema,
  planRunMsgSchema,
  planControlMsgSchema,
  subtaskReplyMsgSchema,
  subtaskDoneMsgSchema,
]);
export type ManagerToWorker = z.infer<typeof managerToWorkerSchema>;

// ---- worker → manager ------------------------------------------------------------

/** What the worker found in the startup code, in the Python server's shapes. */
export const environmentContentSchema = z.object({
  plans_existing: record,
  devices_existing: record,
  functions: z.array(z.string()),
});
export type EnvironmentContent = z.infer<typeof environmentContentSchema>;

export const readyMsgSchema = z.object({
  type: z.literal("ready"),
  content: environmentContentSchema,
  /** The run engine's metadata (re_metadata). */
  metadata: record,
  /** Each function's name → a hash of its source (what a remote worker offers). */
  function_hashes: z.record(z.string(), z.string()).optional(),
});
export type ReadyMsg = z.infer<typeof readyMsgSchema>;

export const loadFailedMsgSchema = z.object({
  type: z.literal("load_failed"),
  msg: z.string(),
  traceback: z.string(),
});
export type LoadFailedMsg = z.infer<typeof loadFailedMsgSchema>;

export const taskStartedMsgSchema = z.object({
  type: z.literal("task_started"),
  id: uid,
  time: num,
});
export type TaskStartedMsg = z.infer<typeof taskStartedMsgSchema>;

export const taskProgressMsgSchema = z.object({
  type: z.literal("task_progress"),
  id: uid,
  progress: num.optional(),
  message: z.string().optional(),
  outputs: record.optional(),
});
export type TaskProgressMsg = z.infer<typeof taskProgressMsgSchema>;

/** A task's end, as it crosses hosts (worker-wire.ts): without the fields below it. */
export const taskEndSchema = z.object({
  type: z.literal("task_done"),
  id: uid,
  success: z.boolean(),
  msg: z.string(),
  traceback: z.string(),
  return_value: z.unknown(),
  time_start: num,
  time_stop: num,
  /** How long the call took, in ms to the microsecond (time_start and time_stop have ms steps). */
  call_ms: num.nonnegative().optional(),
  /** Set when the task ended because it was cancelled. */
  cancelled: z.boolean().optional(),
});

export const taskDoneMsgSchema = taskEndSchema.extend({
  /** New lists after a script upload with update_lists. */
  content: environmentContentSchema.optional(),
  /**
   * Bytes the worker had written to its stdout and stderr (together) when it
   * sent this: the manager holds the message until it has read that much, so
   * that a task's output is published before its end.
   */
  out: z.number().int().nonnegative().optional(),
  /** The worker's timing marks (received, begins, returns), only with ZQS_TRACE_TASKS=1. */
  trace: z.custom<TaskTrace>((v) => typeof v === "object" && v !== null).optional(),
});
export type TaskDoneMsg = z.infer<typeof taskDoneMsgSchema>;

/** The run engine's state changed. */
export const reStateMsgSchema = z.object({
  type: z.literal("re_state"),
  state: z.enum(["idle", "running", "paused"]),
  pausePending: z.boolean(),
});
export type ReStateMsg = z.infer<typeof reStateMsgSchema>;

export const runListEntrySchema = z.object({
  uid: z.string(),
  scan_id: z.number(),
  is_open: z.boolean(),
  exit_status: z.string().nullable(),
});
export type RunListEntry = z.infer<typeof runListEntrySchema>;

/** The runs of the plan in progress changed (a run opened or closed). */
export const reRunsMsgSchema = z.object({
  type: z.literal("re_runs"),
  runs: z.array(runListEntrySchema),
});
export type ReRunsMsg = z.infer<typeof reRunsMsgSchema>;

export const planResultFieldsSchema = z.object({
  exit_status: z.enum(["completed", "failed", "stopped", "aborted", "halted", "unknown"]),
  run_uids: z.array(z.string()),
  scan_ids: z.array(z.number()),
  msg: z.string(),
  traceback: z.string(),
});
export type PlanResultFields = z.infer<typeof planResultFieldsSchema>;

export const planDoneMsgSchema = z.object({
  type: z.literal("plan_done"),
  id: uid,
  /** As TaskDoneMsg's `out`: the plan's output is published before its end. */
  out: z.number().int().nonnegative().optional(),
  result: planResultFieldsSchema,
  time_start: num,
  time_stop: num,
  /** The engine's metadata after the plan (re_metadata). */
  metadata: record,
});
export type PlanDoneMsg = z.infer<typeof planDoneMsgSchema>;

/**
 * A running function or plan (`parent`: its task or item uid) submits a
 * function as a subtask, with function_execute's lifecycle options; `wait`:
 * the worker wants its outcome (`subtask_done`). `reqId` is unique to the
 * request (a uuid made by the worker).
 */
export const subtaskMsgSchema = z.object({
  type: z.literal("subtask"),
  reqId,
  parent: uid,
  name: z.string(),
  args: z.array(z.unknown()),
  kwargs: record,
  options: record,
  wait: z.boolean(),
});
export type SubtaskMsg = z.infer<typeof subtaskMsgSchema>;

export const controlReplyMsgSchema = z.object({
  type: z.literal("control_reply"),
  reqId: z.number().int(),
  success: z.boolean(),
  msg: z.string(),
});
export type ControlReplyMsg = z.infer<typeof controlReplyMsgSchema>;

export const workerToManagerSchema = z.discriminatedUnion("type", [
  readyMsgSchema,
  loadFailedMsgSchema,
  taskStartedMsgSchema,
  taskProgressMsgSchema,
  taskDoneMsgSchema,
  reStateMsgSchema,
  reRunsMsgSchema,
  planDoneMsgSchema,
  controlReplyMsgSchema,
  subtaskMsgSchema,
]);
export type WorkerToManager = z.infer<typeof workerToManagerSchema>;

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

  /** Messages waiting for the end of the turn. */
  get size(): number {
    return this.pending.length;
  }

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
