/**
 * The types around the task lifecycle (lifecycle.ts): a task's options, what
 * cancel answers, what it keeps of a task, and the narrow interfaces the lifecycle is given (the
 * registry it records in, the scheduler it deals through, the workers), and what it makes of
 * a task it accepts (the record, the job the scheduler deals).
 */
import type { Logger } from "pino";
import type { TaskMessage } from "../workers/pool.js";
import type {
  DealJob,
  EndFields,
  FinalState,
  FunctionCall,
  NewTask,
  ProgressReport,
  RunPlace,
  TaskRecord,
} from "./task-record.js";
import type { Clock } from "../due-timer.js";

export interface TaskOptions {
  /** Seconds of run time before the task is stopped as timed_out. */
  timeout?: number | undefined;
  /** Retries after a failed attempt (default 0). */
  max_retries?: number | undefined;
  /** Base of the exponential backoff between tries, in seconds (default 1). */
  retry_backoff?: number | undefined;
  /** Seconds the task may wait to start before it expires unrun. */
  expires?: number | undefined;
  /** Task UIDs that must complete first. */
  after?: string[] | undefined;
  /** Higher runs first among tasks ready at the same time (default 0). */
  priority?: number | undefined;
  /** Only a worker with all these tags takes it (remote workers, `zqs worker --tags`). */
  worker_tags?: string[] | undefined;
}

/** When a task may start (epoch ms): it is `scheduled` until then (delays.ts runs the timer). */
export interface StartAt {
  startAt?: number | undefined;
}

/** One outcome of task_cancel per UID (SPEC §7.1). */
export type CancelOutcome = "cancelled" | "cancelling" | "already_completed" | "not_found";

/** Who asked for a task, the task (or plan item) that submitted it, where it is recorded (see NewTask). */
export type TaskLinks = Pick<
  NewTask,
  "user" | "group" | "parent" | "listedElsewhere" | "dedup" | "createdAt" | "retryOf"
>;

/** What the lifecycle records its decisions in (the registry). */
export interface LifecycleTasks {
  get(uid: string): TaskRecord | undefined;
  active(uid: string): TaskRecord | undefined;
  create(t: NewTask): TaskRecord;
  started(uid: string, worker: string, timeSec: number): void;
  progress(uid: string, p: ProgressReport): void;
  finish(uid: string, state: FinalState, f: EndFields): void;
  due(uid: string): Promise<boolean>;
  undealt(uid: string, reason: string): void;
  retrying(uid: string, reason: string, delaySec: number): void;
  requestStop(uid: string, state: "cancelled" | "timed_out", msg: string): boolean;
  extendStop(uid: string, more: string): void;
  runningOn(worker: string | null): TaskRecord[];
  activeRecords(): TaskRecord[];
  mark(uid: string, name: string, at?: number): void;
  isEnding(uid: string): boolean;
  wasPurged(uid: string): boolean;
  readonly waitingCount: number;
  readonly events: { on(event: "final", listener: (r: TaskRecord) => void): unknown };
}

/** What the lifecycle asks of the scheduler (scheduler.ts). */
export interface TaskDealer {
  add(job: DealJob): void;
  enqueue(uid: string): void;
  forget(uid: string): boolean;
  free(uid: string): void;
  ended(uid: string, worker: string, callMs: number): void;
  /** The task was heard to start (its function's rate limit counts it from `timeSec`). */
  started(uid: string, timeSec: number): void;
  lend(uid: string): void;
  reclaim(uid: string): void;
  /** A task found running at start, taken back by `worker`: it holds a slot there. */
  adopt(uid: string, worker: string): void;
  workerLost(worker: string): void;
  localGone(): void;
  workerCount(): number;
  pump(): void;
  schedulePump(): void;
}

/** What the lifecycle uses of the workers: their events, and stopping a task in one. */
export interface LifecyclePool {
  readonly mainWorkerId: string | undefined;
  cancel(workerId: string | null, taskUid: string, reason: string): void;
  replace(why: string, workerId: string | null): void;
  on(event: "task-message", listener: (worker: string, m: TaskMessage) => void): unknown;
  on(event: "worker-lost", listener: (worker: string, msg: string) => void): unknown;
  on(event: "worker-joined", listener: () => void): unknown;
  on(event: "all-gone", listener: (reopening: boolean, why: string) => void): unknown;
}

export interface LifecycleContext {
  tasks: LifecycleTasks;
  dealer: TaskDealer;
  pool: LifecyclePool;
  log: Pick<Logger, "warn" | "info">;
  cancelGraceSec: number;
  /** Now and a timer for delayed tasks (the real clock unless a test gives a fake one). */
  clock?: Clock;
}

/** What the lifecycle keeps of a function task until it ends. */
export interface Life {
  uid: string;
  timeout: number | undefined;
  maxRetries: number;
  retryBackoff: number;
  expires: number | undefined;
  /** Dependencies that have not completed yet. */
  waitingOn: Set<string>;
  /** Why the task was cancelled by a dependency (for its own dependents' messages). */
  cause: string | undefined;
  /** Submitted but not released yet (a run's task waiting for its turn). */
  held: boolean;
  /** Its timers (task-timers.ts). */
  expiryTimer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  timeoutTimer: NodeJS.Timeout | undefined;
}

/** What the lifecycle keeps of a task just accepted (`held`: a run's, until released). */
export function newLife(uid: string, o: TaskOptions, held: boolean): Life {
  return {
    uid,
    timeout: o.timeout,
    maxRetries: o.max_retries ?? 0,
    retryBackoff: o.retry_backoff ?? 1,
    expires: o.expires,
    waitingOn: new Set(),
    cause: undefined,
    held,
    expiryTimer: undefined,
    retryTimer: undefined,
    timeoutTimer: undefined,
  };
}

export const ENDED_AS: Record<Exclude<FinalState, "completed">, string> = {
  failed: "failed",
  cancelled: "was cancelled",
  timed_out: "timed out",
  expired: "expired",
};

export function clear(t: NodeJS.Timeout | undefined): undefined {
  if (t) clearTimeout(t);
  return undefined;
}

/** The record of a function task just accepted (TaskLifecycle.submit; `o`: its options as they came). */
export function acceptedTask(
  uid: string,
  call: FunctionCall,
  background: boolean,
  o: Omit<TaskOptions & StartAt, "startAt">,
  after: string[],
  priority: number,
  run: { place: RunPlace } | undefined,
  links: TaskLinks,
  startAt: number | undefined,
): NewTask {
  // Every field written out (no spreads): one shape of object per accepted task.
  return {
    uid,
    name: call.name,
    kind: "function",
    background,
    after,
    priority,
    runUid: run?.place.uid,
    user: links.user,
    group: links.group,
    parent: links.parent,
    listedElsewhere: links.listedElsewhere,
    dedup: links.dedup,
    createdAt: links.createdAt,
    retryOf: links.retryOf,
    delayed: startAt !== undefined ? { at: startAt } : undefined,
    // The options as they came: task_info lists those given (task-views.ts), off the hot
    // path; the accepted mark keeps them (a restart submits it again or retries it).
    call: { args: call.args, kwargs: call.kwargs, options: o },
  };
}

/** A function task as the scheduler deals it. */
export function dealJob(
  uid: string,
  call: FunctionCall,
  background: boolean,
  o: TaskOptions,
  run: RunPlace | undefined,
): DealJob {
  return { uid, call, background, priority: o.priority ?? 0, tags: o.worker_tags ?? [], run };
}
