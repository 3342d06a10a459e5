/**
 * Heartbeats of the workers on other hosts, at any number of them:
 *
 *  - `HeartbeatPace`: how often a worker beats and how long a silent one
 *    lasts. A quarter of `--worker-timeout` and the timeout, until the
 *    heartbeats of the workers connected and the manager's to them would be
 *    more together than `--worker-heartbeat-rate` a second: then both are
 *    doubled as many times as needed (and halved back, one step at a time,
 *    once half the rate would do). The manager tells each worker the pace in
 *    its welcome and in its heartbeats; its own beats go after a silence of
 *    half the loss time (`managerBeatMs`).
 *  - `VisitHeap`: the workers by the time the manager next looks at them (a
 *    heartbeat due, a deadline passed, a worker to forget): one timer pops those
 *    due, so no tick scans every worker.
 */
import { PlacedHeap, type Placed } from "../placed-heap.js";

export interface Pace {
  /** How often a worker beats, and the manager to it, when nothing else was said. */
  intervalMs: number;
  /** A worker silent this long is lost. */
  lossMs: number;
}

/**
 * The manager beats to a worker after a silence of half the loss time it
 * told (two of the worker's intervals): the worker, which gives the manager up
 * after the loss time, still hears it twice within it, at half the messages
 * of a beat every interval (with thousands of workers, heartbeats are most of
 * what the manager sends).
 */
export function managerBeatMs(p: Pace): number {
  return p.lossMs / 2;
}

/**
 * The heartbeats of one idle worker a second, both ways: its own (one an
 * interval) and the manager's to it (one each `managerBeatMs`).
 */
export function beatsPerWorkerPerSec(p: Pace): number {
  return 1000 / p.intervalMs + 1000 / managerBeatMs(p);
}

export class HeartbeatPace {
  private factor = 1;
  private changedAt = -Infinity;

  constructor(
    private readonly timeoutMs: number,
    /** Heartbeats a second, both ways, with all the workers together (--worker-heartbeat-rate). */
    private readonly rate: number,
  ) {}

  /** The base interval: a quarter of the timeout. */
  get baseMs(): number {
    return Math.max(20, Math.floor(this.timeoutMs / 4));
  }

  get pace(): Pace {
    return this.paceAt(this.factor);
  }

  private paceAt(factor: number): Pace {
    return { intervalMs: this.baseMs * factor, lossMs: this.timeoutMs * factor };
  }

  /**
   * The pace for `workers` connected now; true when it changed. Slower at once;
   * faster only by one halving per loss time (a worker told the old pace may
   * beat at it until it hears the new one), and only once half the rate suffices.
   */
  update(workers: number, now: number): boolean {
    const beatsPerSec = (factor: number) => workers * beatsPerWorkerPerSec(this.paceAt(factor));
    let f = this.factor;
    while (beatsPerSec(f) > this.rate) f *= 2;
    if (f === this.factor && f > 1 && beatsPerSec(f / 2) <= this.rate / 2) {
      if (now - this.changedAt < this.timeoutMs * f) return false;
      f /= 2;
    }
    if (f === this.factor) return false;
    this.factor = f;
    this.changedAt = now;
    return true;
  }
}

/** An entry of the heap: when to visit it, and its place (-1: not in the heap). */
export interface Visited extends Placed {
  visitAt: number;
}

/** The workers by when to visit them (placed-heap.ts), earliest first; one can move or leave. */
export class VisitHeap<T extends Visited> {
  private readonly heap = new PlacedHeap<T>((a, b) => a.visitAt < b.visitAt);

  get size(): number {
    return this.heap.size;
  }

  /** The first due, if any is due at `now` (it leaves the heap). */
  popDue(now: number): T | undefined {
    const top = this.heap.peek();
    if (top === undefined || top.visitAt > now) return undefined;
    this.heap.remove(top);
    return top;
  }

  /** Put it in (or move it) to be visited at `at`. */
  schedule(item: T, at: number): void {
    item.visitAt = at;
    this.heap.set(item);
  }

  remove(item: T): void {
    this.heap.remove(item);
  }
}
