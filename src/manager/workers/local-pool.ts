/**
 * The local pool: the worker processes the environment forked on this host
 * (`--workers N`), as a TaskWorkerPool. The environment controller owns the
 * processes (open, close, supervision); this is the face the scheduler sees.
 */
import { EventEmitter } from "node:events";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { EnvironmentController } from "../environment/controller.js";
import type { SubtaskNotice, TaskWorker, TaskWorkerPool, TaskWorkerPoolEvents } from "./pool.js";

type Env = Pick<
  EnvironmentController,
  "taskWorkers" | "taskWorkersVersion" | "workerId" | "sendTo" | "sendToOnly" | "replace" | "on"
>;

export class LocalWorkerPool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  constructor(
    private readonly env: Env,
    readonly slotsPerWorker: number,
    readonly aheadPerWorker = 0,
    /** false (`--workers 0`): the main worker runs plans and foreground tasks only. */
    private readonly mainTakesBackground = true,
  ) {
    super();
    env.on("task-message", (id, m) => this.emit("task-message", id, m));
    env.on("pool-worker-lost", (id, msg) => this.emit("worker-lost", id, msg));
    env.on("pool-worker-joined", () => this.emit("worker-joined"));
    env.on("worker-gone", (reopening, why) => this.emit("all-gone", reopening, why));
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
