/**
 * A task's record, as the registry keeps it (SPEC §7.1), and the types around
 * it: what creates one, how one ends, its states.
 */
import type { TaskState } from "../../protocol/index.js";
import type { TaskTrace } from "../../protocol/task-trace.js";

/** A function call, as a task makes it. */
export interface FunctionCall {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** Where a task of a run stands in it. */
export interface RunPlace {
  uid: string;
  index: number;
}

/** A task as the scheduler deals it. */
export interface DealJob {
  uid: string;
  call: FunctionCall;
  background: boolean;
  priority: number;
  /** Tags a worker must have to take it. */
  tags: string[];
  /** The run it belongs to, and its index there. */
  run: RunPlace | undefined;
}

/** What `add()` takes: a task handed to the worker at once (script uploads, environment updates). */
export interface RunningTask {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  /** Seconds since the epoch. */
  time_start: number;
}

/** A new task as the scheduler creates it (pending until it is dispatched). */
export interface NewTask {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  after?: string[];
  priority?: number;
  /** The run it belongs to. */
  runUid?: string;
  /** Who asked for it (function_execute's user and group; a subtask's are its parent's). */
  user?: string | null;
  group?: string | null;
  /** The task (or plan item) that submitted it as a subtask. */
  parent?: string | null;
  /**
   * No accepted mark of its own: a durable record written before the reply
   * lists it (a run's definition), and restore cuts it off from there (see
   * `restoreCutOff`).
   */
  listedElsewhere?: boolean;
  /**
   * Not started before this time (epoch ms; `delay`, `not_before`): `scheduled`
   * until then, with what its accepted mark needs to submit it again after a
   * restart.
   */
  delayed?: Delayed;
  /** Its dedup key (function_execute's `dedup_key`, `dedup_ttl`). */
  dedup?: Dedup;
  /** When it was accepted (epoch ms), when not now (a delayed task submitted again at start). */
  createdAt?: number;
  /** The task this one retries (task_retry), or null. */
  retryOf?: string | null;
  /** Its call's arguments and task options, kept for task_info and task_retry, and in its accepted mark. */
  call?: KeptCall;
}

/** A delayed task: when it may start (its call, to submit it again after a restart, is its `call`). */
export interface Delayed {
  /** Epoch ms. */
  at: number;
}

/** A task's dedup key, as given (its scope is the task's user and group), and its ttl in seconds. */
export interface Dedup {
  key: string;
  ttl: number;
}

/** A function task's arguments and options, as it was asked for. */
export interface KeptCall {
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** The options of function_execute (timeout, max_retries, ...), those left out undefined. */
  options: Record<string, unknown>;
}

/** The options given (those left out, and empty lists, are not listed). */
export function givenOptions(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
}

export interface CompletedResult {
  task_uid: string;
  success: boolean;
  msg: string;
  traceback: string;
  return_value: unknown;
  time_start: number;
  time_stop: number;
}

export type FinalState = "completed" | "failed" | "cancelled" | "timed_out" | "expired";
export const FINAL_STATES: readonly TaskState[] = [
  "completed",
  "failed",
  "cancelled",
  "timed_out",
  "expired",
];

export function isFinal(state: TaskState): state is FinalState {
  return FINAL_STATES.includes(state);
}

/**
 * Whether `attempt` of this task has ended (its end applied, or its outcome
 * decided): an end of it that comes again is a copy. Absent attempt: any.
 */
export function attemptEnded(r: TaskRecord | undefined, attempt: number | undefined): boolean {
  if (!r || !(r.ending || isFinal(r.state))) return false;
  return attempt === undefined || attempt === r.attempts;
}

export interface TaskRecord {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  state: TaskState;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When it was first handed to a worker (the `time_start` of its result). */
  dispatchedAt: number | undefined;
  /** When the worker began its first attempt. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  updatedAt: number;
  attempts: number;
  progress: number;
  message: string | null;
  outputs: Record<string, unknown>;
  after: string[];
  priority: number;
  /** The run it belongs to (run_create), or null. */
  runUid: string | null;
  /** The worker process that runs (ran) it. */
  worker: string | null;
  /** It has ended and its result is being written: final once durable (see finish). */
  ending: boolean;
  user: string | null;
  group: string | null;
  /** The task or plan item that submitted it (subtasks), or null. */
  parent: string | null;
  /** A stop was asked for (cancel, timeout): the state it ends in, and why. */
  stopping: { state: "cancelled" | "timed_out"; msg: string } | undefined;
  result: CompletedResult | undefined;
  /** Its worker was heard to start this attempt (task_started); false while dealt ahead. */
  heardStart: boolean;
  /** Not started before this time (epoch ms), or undefined. */
  notBefore: number | undefined;
  /** While it is `scheduled`: when it may start, for its accepted mark. */
  delayed: Delayed | undefined;
  dedup: Dedup | undefined;
  /** Timing marks along its path (only with ZQS_TRACE_TASKS=1; see task-trace.ts). */
  trace?: TaskTrace;
  /** The task this one retries (task_retry), or null. */
  retryOf: string | null;
  /** Its arguments and options (function tasks; its accepted mark keeps them across a restart). */
  call?: KeptCall;
  /** A start mark was written for it (dealt to a worker on another host): removed when it ends. */
  startMarked?: boolean;
}

export interface TaskStats {
  queue_depth: number;
  active_workers: number;
}

/** Outcome fields of a task that ends. */
export interface EndFields {
  msg: string;
  traceback?: string;
  return_value?: unknown;
  /** Epoch seconds (default now). */
  time_stop?: number;
}

/** The record of a task just accepted: `pending` (`scheduled` when delayed), no attempt yet. */
export function newRecord(t: NewTask, now: number): TaskRecord {
  return {
    uid: t.uid,
    name: t.name,
    kind: t.kind,
    background: t.background,
    state: t.delayed ? "scheduled" : "pending",
    createdAt: t.createdAt ?? now,
    dispatchedAt: undefined,
    startedAt: undefined,
    endedAt: undefined,
    updatedAt: now,
    attempts: 0,
    progress: 0,
    message: null,
    outputs: {},
    after: t.after ?? [],
    priority: t.priority ?? 0,
    runUid: t.runUid ?? null,
    worker: null,
    ending: false,
    user: t.user ?? null,
    group: t.group ?? null,
    parent: t.parent ?? null,
    stopping: undefined,
    result: undefined,
    heardStart: false,
    notBefore: t.delayed?.at,
    delayed: t.delayed,
    dedup: t.dedup,
    retryOf: t.retryOf ?? null,
    // Always present (undefined when not kept): every record has one shape.
    call: t.call,
  };
}

/** The result of a task that ends in `state` (at `now`, epoch ms), as stored and published. */
export function endResult(
  rec: TaskRecord,
  state: FinalState,
  f: EndFields,
  now: number,
): CompletedResult {
  return {
    task_uid: rec.uid,
    success: state === "completed",
    msg: f.msg,
    traceback: f.traceback ?? "",
    return_value: state === "completed" ? (f.return_value ?? null) : null,
    time_start: (rec.dispatchedAt ?? rec.createdAt) / 1000,
    time_stop: f.time_stop ?? now / 1000,
  };
}

/** What user code reports of a running task (task_progress): only the fields given change. */
export interface ProgressReport {
  progress?: number;
  message?: string;
  outputs?: Record<string, unknown>;
}

/** A running task's report of progress, a message or outputs, applied to `rec`: the fields changed. */
export function applyProgress(rec: TaskRecord, p: ProgressReport): Record<string, unknown> {
  const ev: Record<string, unknown> = {};
  if (p.progress !== undefined && Number.isFinite(p.progress)) {
    rec.progress = Math.max(0, Math.min(100, p.progress));
    ev.progress = rec.progress;
  }
  if (p.message !== undefined) {
    rec.message = p.message;
    ev.message = p.message;
  }
  if (p.outputs) {
    Object.assign(rec.outputs, p.outputs);
    ev.outputs = p.outputs;
  }
  return ev;
}
