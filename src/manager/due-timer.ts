/**
 * Keys due at their own times, one timer for all of them over a min-heap: the
 * delayed tasks by their start (`delay`, `not_before`: tasks/lifecycle.ts),
 * the dedup keys by the end of their ttl (tasks/dedup.ts) and the schedules
 * by their next slot (schedules/schedules.ts). `set` replaces a key's time, `delete` drops it; the
 * heap keeps stale entries and skips them when they come up, and is rebuilt
 * when they outnumber the live ones.
 */
import { MinHeap } from "./min-heap.js";

/** Now and a timer: the real ones in the manager, a fake clock in unit tests. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Call `fn` after `ms`: returns what cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Longest single timer (setTimeout takes at most 2^31-1 ms): the heap is looked at again after it. */
const MAX_TIMER_MS = 3_600_000;
/** Keys handed to `onDue` in one turn before the timer lets others run. */
const DUE_PER_TURN = 500;

export class DueTimer {
  private readonly at = new Map<string, number>();
  private readonly heap = new MinHeap();
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private closed = false;

  /** `held`: nothing is handed over until `release()` (keys may be set meanwhile). */
  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: string) => void,
    private held = false,
  ) {}

  /** Begin handing over due keys (a timer made held). */
  release(): void {
    this.held = false;
    this.arm();
  }

  get size(): number {
    return this.at.size;
  }

  /** When `key` is due (epoch ms), or undefined. */
  dueAt(key: string): number | undefined {
    return this.at.get(key);
  }

  /** `key` is due at `at` (epoch ms; now or before: at the next turn). */
  set(key: string, at: number): void {
    this.at.set(key, at);
    this.heap.push({ at, key });
    this.arm();
  }

  delete(key: string): void {
    this.at.delete(key);
    if (this.heap.size > 1024 && this.heap.size > 2 * this.at.size) this.rebuild();
  }

  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private rebuild(): void {
    this.heap.clear();
    for (const [key, at] of this.at) this.heap.push({ at, key });
  }

  /** One timer, for the earliest key. */
  private arm(): void {
    if (this.closed || this.held) return;
    let top = this.heap.peek();
    while (top && this.at.get(top.key) !== top.at) {
      this.heap.pop();
      top = this.heap.peek();
    }
    if (!top) {
      this.cancelTimer?.();
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (this.cancelTimer && this.timerAt <= top.at) return;
    this.cancelTimer?.();
    this.timerAt = top.at;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, top.at - this.clock.now()));
    this.cancelTimer = this.clock.setTimer(wait, () => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      this.fire();
    });
  }

  /** Hand over what is due; more than DUE_PER_TURN goes on at the next turn. */
  private fire(): void {
    if (this.closed) return;
    const now = this.clock.now();
    let n = 0;
    for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      if (this.at.get(top.key) !== top.at) continue;
      this.at.delete(top.key);
      this.onDue(top.key);
      if (++n >= DUE_PER_TURN) {
        this.cancelTimer?.();
        this.timerAt = now;
        this.cancelTimer = this.clock.setTimer(0, () => {
          this.cancelTimer = undefined;
          this.timerAt = Infinity;
          this.fire();
        });
        return;
      }
    }
    this.arm();
  }
}
