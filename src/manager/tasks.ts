/**
 * The task registry: running tasks, completed results kept for the retention
 * time and then purged by a timer (whether or not other tasks complete).
 * Completions bump `task_results_uid`. Purging walks a FIFO of completion
 * times, so a long stream of tasks keeps memory flat.
 */
import type { TaskStatus } from "../protocol/index.js";
import type { StatusState } from "./state.js";
import type { StoreOp, StoredResult } from "./store/types.js";

export interface RunningTask {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  time_start: number;
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

interface Completed {
  result: CompletedResult;
  expiresAt: number;
}

export class TaskRegistry {
  private readonly running = new Map<string, RunningTask>();
  private readonly completed = new Map<string, Completed>();
  /** Completion order: uids with their expiry time (monotonic in time). */
  private readonly expiry: { uid: string; at: number }[] = [];
  private expiryHead = 0;
  private readonly timer: NodeJS.Timeout;
  private listeners: ((r: CompletedResult) => void)[] = [];
  private background = 0;
  /** Where completed results are written (and their removal), so they survive a restart. */
  store: ((ops: StoreOp[]) => void) | undefined;

  constructor(
    private readonly retentionSec: number,
    private readonly state: StatusState,
  ) {
    const period = Math.min(1000, Math.max(50, (retentionSec * 1000) / 4));
    this.timer = setInterval(() => this.purge(), period);
    this.timer.unref();
  }

  /** Called with every completed result (for waiting handlers and events). */
  onComplete(fn: (r: CompletedResult) => void): void {
    this.listeners.push(fn);
  }

  add(task: RunningTask): void {
    this.running.set(task.uid, task);
    if (task.background) this.setBackground(this.background + 1);
  }

  get(uid: string): RunningTask | undefined {
    return this.running.get(uid);
  }

  runningTasks(): RunningTask[] {
    return [...this.running.values()];
  }

  complete(result: CompletedResult): void {
    const task = this.running.get(result.task_uid);
    if (!task) return;
    this.running.delete(result.task_uid);
    if (task.background) this.setBackground(this.background - 1);
    const expiresAt = Date.now() + this.retentionSec * 1000;
    this.keep(result, expiresAt);
    this.store?.([{ op: "result_put", uid: result.task_uid, result, expiresAt: expiresAt / 1000 }]);
    this.state.bump("task_results_uid");
    for (const fn of this.listeners) fn(result);
  }

  private keep(result: CompletedResult, expiresAt: number): void {
    this.completed.set(result.task_uid, { result, expiresAt });
    this.expiry.push({ uid: result.task_uid, at: expiresAt });
  }

  /** Take the stored results at start: those still within their retention. */
  restore(stored: readonly StoredResult[]): void {
    const now = Date.now();
    const gone: StoreOp[] = [];
    for (const s of [...stored].sort((a, b) => a.expiresAt - b.expiresAt)) {
      const at = s.expiresAt * 1000;
      if (at > now) this.keep(s.result as CompletedResult, at);
      else gone.push({ op: "result_delete", uid: s.uid });
    }
    if (gone.length > 0) this.store?.(gone);
    if (stored.length > 0) this.state.bump("task_results_uid");
  }

  /** Fail every running task that matches (the worker was lost or destroyed). */
  failRunning(msg: string, match: (t: RunningTask) => boolean = () => true): void {
    const now = Date.now() / 1000;
    for (const t of [...this.running.values()]) {
      if (!match(t)) continue;
      this.complete({
        task_uid: t.uid,
        success: false,
        msg,
        traceback: "",
        return_value: null,
        time_start: t.time_start,
        time_stop: now,
      });
    }
  }

  status(uid: string): TaskStatus {
    if (this.running.has(uid)) return "running";
    if (this.completed.has(uid)) return "completed";
    return "not_found";
  }

  result(uid: string):
    | {
        status: "running";
        result: { task_uid: string; time_start: number; run_in_background: boolean };
      }
    | { status: "completed"; result: CompletedResult }
    | { status: "not_found"; result: Record<string, never> } {
    const r = this.running.get(uid);
    if (r) {
      return {
        status: "running",
        result: { task_uid: uid, time_start: r.time_start, run_in_background: r.background },
      };
    }
    const c = this.completed.get(uid);
    if (c) return { status: "completed", result: c.result };
    return { status: "not_found", result: {} };
  }

  get runningCount(): number {
    return this.running.size;
  }

  get completedCount(): number {
    return this.completed.size;
  }

  private setBackground(n: number): void {
    this.background = n;
    this.state.set({ worker_background_tasks: n });
  }

  /** Drop results whose retention ended. */
  purge(now = Date.now()): void {
    const gone: StoreOp[] = [];
    while (this.expiryHead < this.expiry.length) {
      const e = this.expiry[this.expiryHead];
      if (!e || e.at > now) break;
      const c = this.completed.get(e.uid);
      if (c && c.expiresAt <= now) {
        this.completed.delete(e.uid);
        gone.push({ op: "result_delete", uid: e.uid });
      }
      this.expiryHead++;
    }
    if (gone.length > 0) this.store?.(gone);
    // Compact the FIFO now and then so it does not grow without bound.
    if (this.expiryHead > 1024 && this.expiryHead * 2 > this.expiry.length) {
      this.expiry.splice(0, this.expiryHead);
      this.expiryHead = 0;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
