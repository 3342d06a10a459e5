/**
 * The scheduler's one pool: the local worker processes and the workers on
 * other hosts together. Ids of remote workers are their names; a task goes
 * back to the side that owns the worker it was dealt to.
 */
import { EventEmitter } from "node:events";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { SubtaskNotice, TaskWorker, TaskWorkerPool, TaskWorkerPoolEvents } from "./pool.js";
import type { LocalWorkerPool } from "./local-pool.js";
import type { RemoteWorkerPool } from "./remote-pool.js";

export class CombinedWorkerPool
  extends EventEmitter<TaskWorkerPoolEvents>
  implements TaskWorkerPool
{
  constructor(
    private readonly local: LocalWorkerPool,
    private readonly remote: RemoteWorkerPool,
  ) {
    super();
    for (const p of [local, remote] as TaskWorkerPool[]) {
      p.on("task-message", (id, m) => this.emit("task-message", id, m));
      p.on("worker-lost", (id, msg) => this.emit("worker-lost", id, msg));
      p.on("worker-joined", () => this.emit("worker-joined"));
    }
    local.on("all-gone", (reopening, why) => this.emit("all-gone", reopening, why));
  }

  /** Where a worker runs, on another host or this one (QS_Task events name it). */
  whereIs(id: string): { hostname: string; pid: number | null } {
    return this.remote.info(id) ?? this.local.whereIs(id);
  }

  get slotsPerWorker(): number {
    return this.local.slotsPerWorker;
  }

  get aheadPerWorker(): number {
    return this.local.aheadPerWorker ?? 0;
  }

  get mainWorkerId(): string | undefined {
    return this.local.mainWorkerId;
  }

  get workersVersion(): number | undefined {
    const local = this.local.workersVersion;
    // Both only grow: their sum changes whenever either does.
    return local === undefined ? undefined : local + this.remote.workersVersion;
  }

  workers(): TaskWorker[] {
    const local = this.local.workers();
    // Without the environment open no task is dealt (the main worker is missing).
    return local.length === 0 ? local : [...local, ...this.remote.workers()];
  }

  private side(workerId: string | null): TaskWorkerPool {
    return workerId !== null && this.remote.has(workerId) ? this.remote : this.local;
  }

  sendTasks(workerId: string, tasks: readonly ExecuteFunctionMsg[]): void {
    this.side(workerId).sendTasks(workerId, tasks);
  }

  notify(workerId: string, msg: SubtaskNotice): void {
    this.side(workerId).notify(workerId, msg);
  }

  cancel(workerId: string | null, taskUid: string, reason: string): void {
    this.side(workerId).cancel(workerId, taskUid, reason);
  }

  replace(why: string, workerId: string | null): void {
    this.side(workerId).replace(why, workerId);
  }
}
