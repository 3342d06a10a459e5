/**
 * The registry's indexes over its records: each parent's subtasks (in the
 * order they were submitted), each worker's running tasks (so that losing a
 * worker touches its own tasks only), and the retention FIFO with the memory
 * of purged uids.
 */
import type { TaskRecord } from "./task-record.js";

const PURGED_MEMORY = 100_000;

/** The key of a worker (tasks handed to the worker at once have none). */
const workerKey = (worker: string | null): string => worker ?? "";

export class TaskIndexes {
  /** Parent uid (a task or a plan item) → its subtasks' uids, in the order they were submitted. */
  private readonly childrenOf = new Map<string, Set<string>>();
  /** Worker → its `running` records that are not ending. */
  private readonly onWorker = new Map<string, Set<TaskRecord>>();
  /** Completion order: uids with their expiry time (monotonic in time). */
  private readonly expiry: { uid: string; at: number }[] = [];
  private expiryHead = 0;
  /** UIDs whose records were purged (insertion order: the oldest are forgotten first). */
  private readonly purged = new Set<string>();

  /** Task uid → the uids of the tasks that retry it (task_retry), in order. */
  private readonly retriesOf = new Map<string, Set<string>>();

  /** Enter a subtask in its parent's list of children, a retry in its original's list. */
  link(rec: TaskRecord): void {
    if (rec.retryOf) {
      let r = this.retriesOf.get(rec.retryOf);
      if (!r) this.retriesOf.set(rec.retryOf, (r = new Set()));
      r.add(rec.uid);
    }
    if (rec.parent === null) return;
    let set = this.childrenOf.get(rec.parent);
    if (!set) this.childrenOf.set(rec.parent, (set = new Set()));
    set.add(rec.uid);
  }

  /** Take a purged subtask out of its parent's list (a parent's own list goes with it). */
  unlink(rec: TaskRecord): void {
    this.retriesOf.delete(rec.uid);
    if (rec.retryOf) {
      const r = this.retriesOf.get(rec.retryOf);
      r?.delete(rec.uid);
      if (r?.size === 0) this.retriesOf.delete(rec.retryOf);
    }
    if (rec.parent === null) return;
    const set = this.childrenOf.get(rec.parent);
    set?.delete(rec.uid);
    if (set?.size === 0) this.childrenOf.delete(rec.parent);
  }

  retriesOfTask(uid: string): string[] {
    return [...(this.retriesOf.get(uid) ?? [])];
  }

  childrenOfTask(parent: string): string[] {
    return [...(this.childrenOf.get(parent) ?? [])];
  }

  /** Enter a running record in its worker's set. */
  track(rec: TaskRecord): void {
    const key = workerKey(rec.worker);
    let set = this.onWorker.get(key);
    if (!set) this.onWorker.set(key, (set = new Set()));
    set.add(rec);
  }

  /** Take a record out of its worker's set (it no longer runs there). */
  untrack(rec: TaskRecord): void {
    const key = workerKey(rec.worker);
    const set = this.onWorker.get(key);
    if (!set?.delete(rec)) return;
    if (set.size === 0) this.onWorker.delete(key);
  }

  runningOn(worker: string | null): TaskRecord[] {
    return [...(this.onWorker.get(workerKey(worker)) ?? [])];
  }

  /** Keep a final record until `at` (epoch ms). */
  keep(uid: string, at: number): void {
    this.expiry.push({ uid, at });
  }

  /** The uids whose retention ended by `now`, taken out of the FIFO. */
  *due(now: number): Generator<string> {
    while (this.expiryHead < this.expiry.length) {
      const e = this.expiry[this.expiryHead];
      if (!e || e.at > now) break;
      this.expiryHead++;
      yield e.uid;
    }
    // Compact the FIFO now and then so it does not grow without bound.
    if (this.expiryHead > 1024 && this.expiryHead * 2 > this.expiry.length) {
      this.expiry.splice(0, this.expiryHead);
      this.expiryHead = 0;
    }
  }

  /** Remember a purged uid (a bounded memory). */
  remember(uid: string): void {
    this.purged.add(uid);
    if (this.purged.size > PURGED_MEMORY) {
      const oldest = this.purged.values().next().value;
      if (oldest !== undefined) this.purged.delete(oldest);
    }
  }

  wasPurged(uid: string): boolean {
    return this.purged.has(uid);
  }
}
