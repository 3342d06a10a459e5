/**
 * The workers the scheduler deals function tasks to, behind one interface:
 * the forked local pool (local-pool.ts) is one implementation; workers on
 * other hosts can be another. The scheduler knows only this.
 */
import type {
  ExecuteFunctionMsg,
  SubtaskDoneMsg,
  SubtaskReplyMsg,
  WorkerToManager,
} from "../../protocol/ipc.js";

/** A worker's reports about tasks (started, progress, done) and its requests of subtasks. */
export type TaskMessage = Extract<
  WorkerToManager,
  { type: "task_started" | "task_progress" | "task_done" | "subtask" }
>;

/** What the manager tells a worker about the subtasks its tasks asked for. */
export type SubtaskNotice = SubtaskReplyMsg | SubtaskDoneMsg;

/** A worker that may take tasks now. */
export interface TaskWorker {
  id: string;
  /** The main worker: it runs foreground tasks (and plans). */
  main: boolean;
  /** Its own number of slots (default: the pool's `slotsPerWorker`). */
  slots?: number;
  /**
   * With `slots`: it is dealt ahead beyond them by its recent call times, as
   * local pool workers are (at least the pool's `aheadPerWorker`).
   */
  ahead?: boolean;
  /** false: it takes no background task (the main worker with `--workers 0`). */
  background?: boolean;
  /** A worker on another host (its tasks outlive the local environment). */
  remote?: boolean;
  /** Whether it offers this function (default: every function). */
  offers?: (name: string) => boolean;
  /**
   * The functions it offers, when it names them (as `offers` answers): the
   * scheduler then indexes it with the workers offering the same list. Keep
   * the same object while the list stays the same.
   */
  functions?: ReadonlySet<string>;
  /** Its tags: a task with `worker_tags` goes only to a worker that has them all. */
  tags?: ReadonlySet<string>;
}

/**
 * What a pool tells the scheduler:
 *  - task-message: a worker's report about a task;
 *  - worker-lost: a worker (not the main one) is gone while the others stay: end its tasks;
 *  - worker-joined: a worker (a replacement) may take tasks;
 *  - all-gone: every worker is gone, after their running tasks were ended
 *    (`reopening`: the pool is being started again), with why.
 */
export interface TaskWorkerPoolEvents {
  "task-message": [workerId: string, message: TaskMessage];
  "worker-lost": [workerId: string, msg: string];
  "worker-joined": [];
  "all-gone": [reopening: boolean, reason: string];
}

export interface TaskWorkerPool {
  /** Tasks one worker runs at once (Infinity: every task it is given). */
  readonly slotsPerWorker: number;
  /**
   * Tasks a worker may hold beyond its slots, dealt ahead: they wait in the
   * worker (highest priority first) and start as soon as a slot frees, with no
   * round trip to the manager. Their timeout counts from their start; a cancel
   * takes them out unrun.
   */
  readonly aheadPerWorker?: number;
  /** The workers that may take tasks now, main first: none while the pool is not open. */
  workers(): TaskWorker[];
  /**
   * A number that changes whenever `workers()` would answer otherwise (a
   * worker joined, left, was lost, drains, or offers something else): the
   * scheduler reads `workers()` again only then. Without it, at every deal.
   */
  readonly workersVersion?: number;
  /** The main worker's id, while there is one. */
  readonly mainWorkerId: string | undefined;
  /** Hand tasks to a worker, as one batch. */
  sendTasks(workerId: string, tasks: readonly ExecuteFunctionMsg[]): void;
  /** Answer a worker about the subtasks it asked for (dropped if the worker is gone). */
  notify(workerId: string, msg: SubtaskNotice): void;
  /** Ask a worker to stop a task (its AbortSignal). */
  cancel(workerId: string | null, taskUid: string, reason: string): void;
  /** End a worker that does not stop its task and start a new one; `why` completes "replaced ...". */
  replace(why: string, workerId: string | null): void;
  on<E extends keyof TaskWorkerPoolEvents>(
    event: E,
    listener: (...args: TaskWorkerPoolEvents[E]) => void,
  ): this;
}
