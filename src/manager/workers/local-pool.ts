/**
 * The local pool: the worker processes the environment forked on this host
 * (`--workers N`), as a TaskWorkerPool. The environment controller owns the
 * processes (open, close, supervision); this is the face the scheduler sees.
 */
import { EventEmitter } from "node:events";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { LocalEnvironment } from "./context.js";
import type { SubtaskNotice, TaskWorker, TaskWorkerPool, TaskWorkerPoolEvents } from "./pool.js";
import { LOCAL_HOSTNAME } from "./types.js";

/** How many local worker processes there are, and how they take tasks (the manager's options). */
export interface LocalPoolShape {
  /** --workers: 0 is the main worker taking no background task. */
  workers: number;
  /** --worker-slots (with more than one worker). */
  workerSlots: number;
  /** --worker-prefetch (with more than one worker). */
  workerPrefetch: number;
}

/**
 * The slots of one local worker process: one worker takes every task at once,
 * as the Python server's; a pool deals out slots.
 */
export function slotsOfLocalWorker(shape: LocalPoolShape): number {
  return shape.workers > 1 ? shape.workerSlots : Infinity;
}

export class LocalWorkerPool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  readonly slotsPerWorker: number;
  readonly aheadPerWorker: number;
  /** false (`--workers 0`): the main worker runs plans and foreground tasks only. */
  private readonly mainTakesBackground: boolean;

  constructor(
    private readonly env: LocalEnvironment,
    shape: LocalPoolShape,
  ) {
    super();
    this.slotsPerWorker = slotsOfLocalWorker(shape);
    this.aheadPerWorker = shape.workers > 1 ? shape.workerPrefetch : 0;
    this.mainTakesBackground = shape.workers > 0;
    env.on("task-message", (id, m) => this.emit("task-message", id, m));
    env.on("pool-worker-lost", (id, msg) => this.emit("worker-lost", id, msg));
    env.on("pool-worker-joined", () => this.emit("worker-joined"));
    // The main worker (the environment open) may take tasks.
    env.on("ready", () => this.emit("worker-joined"));
    env.on("worker-gone", (reopening, why) => this.emit("all-gone", reopening, why));
  }

  /** The background slots `workers_list` shows for one process (0: none, with `--workers 0`). */
  get listedSlots(): number {
    return this.mainTakesBackground ? this.slotsPerWorker : 0;
  }

  /** Where a worker process runs (QS_Task events name it). */
  whereIs(id: string): { hostname: string; pid: number | null } {
    return { hostname: LOCAL_HOSTNAME, pid: this.env.pidOf(id) ?? null };
  }

  get workersVersion(): number {
    return this.env.taskWorkersVersion;
  }

  workers(): TaskWorker[] {
    const list = this.env.taskWorkers();
    if (this.mainTakesBackground) return list;
    return list.map((w) => (w.main ? { ...w, background: false } : w));
  }

  get mainWorkerId(): string | undefined {
    return this.env.workerId;
  }

  sendTasks(workerId: string, tasks: readonly ExecuteFunctionMsg[]): void {
    for (const t of tasks) this.env.sendTo(workerId, t);
  }

  notify(workerId: string, msg: SubtaskNotice): void {
    this.env.sendToOnly(workerId, msg);
  }

  cancel(workerId: string | null, taskUid: string, reason: string): void {
    this.env.sendTo(workerId, { type: "cancel", id: taskUid, reason });
  }

  replace(why: string, workerId: string | null): void {
    this.env.replace(why, workerId);
  }
}
