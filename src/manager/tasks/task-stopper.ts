/**
 * Stopping a running task (cancel, timeout; decided by the lifecycle,
 * lifecycle.ts): its AbortSignal in the worker is aborted; if it has not
 * stopped after the cancel grace period, its worker process is replaced (the
 * other tasks in it end, saying why) and the environment re-opened, so that
 * the user keeps a working environment.
 */
import type { Logger } from "pino";
import type { LifecyclePool, LifecycleTasks } from "./lifecycle-context.js";
import type { TaskRecord } from "./task-record.js";

/** What stopping a task uses: the records, the workers, the grace period. */
export interface StopContext {
  tasks: Pick<
    LifecycleTasks,
    "requestStop" | "extendStop" | "active" | "runningOn" | "activeRecords"
  >;
  pool: Pick<LifecyclePool, "cancel" | "replace" | "mainWorkerId">;
  log: Pick<Logger, "warn">;
  cancelGraceSec: number;
}

export class TaskStopper {
  /** Running tasks asked to stop: when their grace period ends. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly ctx: StopContext) {}

  /** Abort a running task's signal; replace its worker if it has not stopped after the grace period. */
  stop(rec: TaskRecord, state: "cancelled" | "timed_out", msg: string): void {
    if (!this.ctx.tasks.requestStop(rec.uid, state, msg)) return;
    this.ctx.pool.cancel(rec.worker, rec.uid, msg);
    if (this.graceTimers.has(rec.uid)) return;
    const g = this.ctx.cancelGraceSec;
    const timer = setTimeout(() => {
      this.graceTimers.delete(rec.uid);
      this.graceEnded(rec.uid, g);
    }, g * 1000);
    this.graceTimers.set(rec.uid, timer);
  }

  /** Cancel a running task (task_cancel): what the reply says of it while it stops. */
  cancel(rec: TaskRecord): string {
    this.stop(rec, "cancelled", "The task was cancelled");
    const g = this.ctx.cancelGraceSec;
    return (
      `task '${rec.uid}' is being cancelled: its signal was aborted; if it does not stop within ${g} s, ` +
      `its worker process is replaced (other tasks running in it fail) and the environment is re-opened automatically`
    );
  }

  /** The task ended: its grace period no longer runs. */
  ended(uid: string): void {
    const grace = this.graceTimers.get(uid);
    if (grace) {
      clearTimeout(grace);
      this.graceTimers.delete(uid);
    }
  }

  close(): void {
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
  }

  /** A task asked to stop did not within `g` s: its worker process is replaced. */
  private graceEnded(uid: string, g: number): void {
    const tasks = this.ctx.tasks;
    const r = tasks.active(uid);
    if (r?.state !== "running" || !r.stopping) return;
    const what = r.stopping.state === "timed_out" ? "it timed out" : "it was cancelled";
    tasks.extendStop(
      uid,
      `; it did not stop within ${g} s, so its worker process was replaced` +
        " (the environment is re-opened automatically)",
    );
    // Replacing the main worker re-opens the whole environment; another worker goes alone.
    const alone = r.worker !== null && r.worker !== this.ctx.pool.mainWorkerId;
    const others = alone ? tasks.runningOn(r.worker) : tasks.activeRecords();
    for (const other of others) {
      if (other !== r && other.state === "running" && other.stopping) {
        tasks.extendStop(other.uid, "; it was ended when its worker process was replaced");
      }
    }
    this.ctx.log.warn(`Task '${uid}' did not stop within ${g} s after ${what}`);
    this.ctx.pool.replace(
      `to end task '${uid}', which did not stop within ${g} s after ${what}`,
      r.worker,
    );
  }
}
