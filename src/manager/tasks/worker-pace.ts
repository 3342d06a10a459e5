/**
 * The pace of each worker, from its calls' run times (`call_ms` of its
 * `task_done`): how many tasks it may hold (its slots, and the tasks dealt
 * ahead beyond them, more for short calls), and whether a short task may stay
 * with the worker dealt to last. The scheduler deals by these answers.
 */
import type { TaskWorker } from "../workers/pool.js";
import { CallMean } from "../../worker-host/call-mean.js";
import type { DealerPool } from "./context.js";

/**
 * Short tasks stay with the worker dealt to last while what it holds would
 * run in about this long (ms): a pool of workers then costs the manager no
 * more than one worker (one pipe written and read, its ends arriving in one
 * stream) as long as one worker keeps up; longer tasks go to the least loaded.
 */
const STAY_WORK_MS = 2;
/**
 * Dealing ahead grows for short tasks: a worker is dealt, beyond its slots,
 * as many tasks as its recent calls would run in about AHEAD_WORK_MS (never
 * fewer than `--worker-prefetch`, never more than MAX_AHEAD), so that
 * no-op-sized tasks do not wait for a round trip to the manager each few
 * tasks, while at most a few milliseconds of work wait in one worker when
 * another may be free.
 */
const AHEAD_WORK_MS = 10;
const MAX_AHEAD = 256;
/** The least dealt ahead to a worker with its own slots and `ahead` (a remote one). */
const AHEAD_OWN_SLOTS = 4;
export class WorkerPace {
  /** Worker id → its recent call times, from their task_done (`call_ms`). */
  private readonly paces = new Map<string, CallMean>();

  constructor(private readonly pool: Pick<DealerPool, "slotsPerWorker" | "aheadPerWorker">) {}

  /** `worker` ended a call that took `callMs`: whether its mean moved (call-mean.ts: outliers left out). */
  ended(worker: string, callMs: number): boolean {
    let p = this.paces.get(worker);
    if (p === undefined) this.paces.set(worker, (p = new CallMean()));
    return p.ended(callMs);
  }

  /** The worker is gone. */
  forget(worker: string): void {
    this.paces.delete(worker);
  }

  /** Its calls' run times are known (it ended one). */
  known(worker: string): boolean {
    return this.paces.get(worker)?.ms !== undefined;
  }

  /** The mean of `worker`'s recent calls (ms; outliers left out), once it ended one. */
  meanMs(worker: string): number | undefined {
    return this.paces.get(worker)?.ms;
  }

  /** `w`, holding `n` tasks, may take one more short task (see STAY_WORK_MS). */
  mayStay(w: TaskWorker, n: number): boolean {
    const ms = this.paces.get(w.id)?.ms;
    if (ms === undefined) return false;
    return n < this.capacity(w) && (n + 1) * ms <= STAY_WORK_MS;
  }

  /**
   * How many tasks `w` may hold: its own slots (a worker on another host), or
   * the pool's slots; and the tasks dealt ahead beyond them (more for short
   * tasks, see AHEAD_WORK_MS; none for a local worker when `--worker-prefetch`
   * is 0), for local workers and for those that ask for it (`ahead`).
   */
  capacity(w: TaskWorker): number {
    if (w.slots !== undefined && w.ahead !== true) return w.slots;
    const slots = w.slots ?? this.pool.slotsPerWorker;
    // A worker with its own slots (remote) is dealt ahead as a pool's default prefetch.
    const ahead = w.slots !== undefined ? AHEAD_OWN_SLOTS : (this.pool.aheadPerWorker ?? 0);
    if (ahead === 0) return slots;
    const ms = this.paces.get(w.id)?.ms;
    const short = ms === undefined ? 0 : Math.floor(AHEAD_WORK_MS / Math.max(ms, 0.01));
    return (w.slots ?? this.pool.slotsPerWorker) + Math.max(ahead, Math.min(MAX_AHEAD, short));
  }
}
