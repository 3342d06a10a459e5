/**
 * Shapes shared by several methods: the status map, items, lock info, task
 * records. Types are inferred from these schemas, never written by hand.
 */
import { z } from "zod";
import { isPlainObject } from "./pyrepr.js";

export const MANAGER_STATES = [
  "initializing",
  "idle",
  "paused",
  "creating_environment",
  "starting_queue",
  "executing_queue",
  "executing_task",
  "closing_environment",
  "destroying_environment",
  // zqs: a standby manager (--standby), waiting for the store's lease; it serves only ping and status.
  "standby",
] as const;
export type ManagerState = (typeof MANAGER_STATES)[number];

export const WORKER_ENVIRONMENT_STATES = [
  "initializing",
  "idle",
  "failed",
  "executing_plan",
  "executing_task",
  "closing",
  "closed",
] as const;
export type WorkerEnvironmentState = (typeof WORKER_ENVIRONMENT_STATES)[number];

export const RE_STATES = [
  "idle",
  "running",
  "paused",
  "stopping",
  "aborting",
  "halting",
  "panicked",
] as const;

export const queueModeSchema = z.object({ loop: z.boolean(), ignore_failures: z.boolean() });
export type QueueMode = z.infer<typeof queueModeSchema>;

/** The 27 keys of the Python server's status map, in its order, with its types. */
export const statusSchema = z.object({
  msg: z.string(),
  time: z.string(),
  items_in_queue: z.number().int(),
  items_in_history: z.number().int(),
  running_item_uid: z.string().nullable(),
  manager_state: z.enum(MANAGER_STATES),
  queue_stop_pending: z.boolean(),
  queue_autostart_enabled: z.boolean(),
  worker_environment_exists: z.boolean(),
  worker_environment_state: z.enum(WORKER_ENVIRONMENT_STATES),
  worker_background_tasks: z.number().int(),
  re_state: z.enum(RE_STATES).nullable(),
  ip_kernel_state: z.string().nullable(),
  ip_kernel_captured: z.boolean().nullable(),
  pause_pending: z.boolean(),
  status_uid: z.string(),
  run_list_uid: z.string(),
  plan_queue_uid: z.string(),
  plan_history_uid: z.string(),
  devices_existing_uid: z.string(),
  plans_existing_uid: z.string(),
  devices_allowed_uid: z.string(),
  plans_allowed_uid: z.string(),
  plan_queue_mode: queueModeSchema,
  task_results_uid: z.string(),
  lock_info_uid: z.string(),
  lock: z.object({ environment: z.boolean(), queue: z.boolean() }),
});
export type Status = z.infer<typeof statusSchema>;
export const STATUS_KEYS = Object.keys(statusSchema.shape) as (keyof Status)[];

/**
 * A map (a JSON object) taken as it was sent, every key kept: zod's record
 * drops a `__proto__` key, so a name a client sends would vanish from an item
 * or a mode without a word. Anything else is refused as a record is.
 */
export const mapSchema = z.custom<Record<string, unknown>>(isPlainObject, {
  params: { expected: "record" },
});

/** A queue or function item as it travels on the wire: open-ended map. */
export const itemSchema = mapSchema;
export type Item = z.infer<typeof itemSchema>;

export const lockInfoSchema = z.object({
  environment: z.boolean(),
  queue: z.boolean(),
  user: z.string().nullable(),
  time: z.number().nullable(),
  time_str: z.string(),
  note: z.string().nullable(),
  emergency_lock_key_is_set: z.boolean(),
});
export type LockInfo = z.infer<typeof lockInfoSchema>;

export const TASK_STATUSES = ["running", "completed", "not_found"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Full lifecycle states of a task (SPEC §7.1). */
export const TASK_STATES = [
  "scheduled",
  "pending",
  "running",
  "retrying",
  "completed",
  "failed",
  "cancelled",
  "timed_out",
  "expired",
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const taskResultSchema = z.union([
  z.object({ task_uid: z.string(), time_start: z.number(), run_in_background: z.boolean() }),
  z.object({
    task_uid: z.string(),
    success: z.boolean(),
    msg: z.string(),
    traceback: z.string(),
    return_value: z.unknown(),
    time_start: z.number(),
    time_stop: z.number(),
  }),
  z.object({}),
]);

export const taskInfoSchema = z.object({
  task_uid: z.string(),
  state: z.enum([...TASK_STATES, "not_found"]),
  name: z.string().nullable().optional(),
  created_at: z.string().nullable(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  updated_at: z.string().nullable(),
  attempts: z.number().int(),
  progress: z.number(),
  message: z.string().nullable(),
  outputs: z.record(z.string(), z.unknown()),
  after: z.array(z.string()),
  run_uid: z.string().nullable(),
  worker: z.string().nullable(),
  /** Who asked for it (a subtask: its parent's user). */
  user: z.string().nullable(),
  /** The task or plan item that submitted it as a subtask. */
  parent: z.string().nullable(),
  /** Not started before this time (a delayed task: `delay` / `not_before`), or null. */
  not_before: z.string().nullable().optional(),
  /** Its subtasks still known (within retention): submission order, until a restart. */
  children: z.array(z.string()),
  /** Its children by state (states with none are left out). */
  children_counts: z.record(z.string(), z.number().int()),
  stats: z.object({ queue_depth: z.number().int(), active_workers: z.number().int() }),
  /** The task this one retries (task_retry). */
  retry_of: z.string().nullable().optional(),
  /** The tasks that retry this one (task_retry), still known. */
  retries: z.array(z.string()).optional(),
  /** Its call's arguments and task options (function tasks accepted since the manager started). */
  args: z.array(z.unknown()).optional(),
  kwargs: z.record(z.string(), z.unknown()).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  /** Timing marks along the task's path, epoch ms (only when the manager runs with ZQS_TRACE_TASKS=1). */
  trace: z.record(z.string(), z.number()).optional(),
});
export type TaskInfo = z.infer<typeof taskInfoSchema>;

/** An entry of tasks_list: a task_info record without its outputs, stats and call. */
export const taskListEntrySchema = taskInfoSchema.omit({
  outputs: true,
  stats: true,
  args: true,
  kwargs: true,
  options: true,
});
export type TaskListEntry = z.infer<typeof taskListEntrySchema>;

export const CANCEL_OUTCOMES = [
  "cancelled",
  "cancelling",
  "already_completed",
  "not_found",
] as const;
