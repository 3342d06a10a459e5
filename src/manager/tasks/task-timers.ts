/**
 * The timers of the tasks' lives, one owner for them all; what the end of
 * each means is the lifecycle's to decide (lifecycle.ts):
 *  - a scheduled task's start (delayed-tasks.ts: one timer for all);
 *  - a waiting task's expiry, counted from when it may start;
 *  - a running task's timeout, counted from its start in the worker;
 *  - the back-off before a failed attempt is tried again: exponential, with
 *    "equal jitter" (half the step fixed, half random), at most MAX_BACKOFF_SEC.
 * A task's own timers are kept in its Life (no map of them); one that ends
 * drops them all (`clear`).
 */
import type { Clock } from "../due-timer.js";
import { DelayedTasks, type DelayedHost } from "./delayed-tasks.js";
import { clear, type Life } from "./lifecycle-context.js";

/** Longest wait between two tries. */
export const MAX_BACKOFF_SEC = 300;

export class TaskTimers {
  /** Scheduled tasks by their start. */
  private readonly delays: DelayedTasks;

  constructor(clock: Clock, host: DelayedHost) {
    this.delays = new DelayedTasks(clock, host);
  }

  /** `uid` is scheduled until `at` (epoch ms): the host hears when its time comes. */
  startAt(uid: string, at: number): void {
    this.delays.set(uid, at);
  }

  /** It may start from now on: `expired` once its `expires` have passed (if it has some). */
  expiry(life: Life, expired: () => void): void {
    if (life.expires === undefined) return;
    life.expiryTimer = setTimeout(() => {
      life.expiryTimer = undefined;
      expired();
    }, life.expires * 1000);
  }

  /** It started in its worker: `timedOut` once it has run its `timeout` s (counted once). */
  timeout(life: Life, timedOut: (timeoutSec: number) => void): void {
    const t = life.timeout;
    if (t === undefined || life.timeoutTimer) return;
    life.timeoutTimer = setTimeout(() => {
      life.timeoutTimer = undefined;
      timedOut(t);
    }, t * 1000);
  }

  /** Its call ended: its timeout no longer counts. */
  stopTimeout(life: Life): void {
    life.timeoutTimer = clear(life.timeoutTimer);
  }

  /** Attempt `attempts` failed: `retry` after the back-off, whose length (seconds) is returned. */
  retry(life: Life, attempts: number, retry: () => void): number {
    const step = Math.min(MAX_BACKOFF_SEC, life.retryBackoff * 2 ** (attempts - 1));
    const delay = step / 2 + Math.random() * (step / 2);
    life.retryTimer = setTimeout(() => {
      life.retryTimer = undefined;
      retry();
    }, delay * 1000);
    return delay;
  }

  /** The task ended: none of its timers fires. */
  clear(life: Life): void {
    this.delays.delete(life.uid);
    life.expiryTimer = clear(life.expiryTimer);
    life.retryTimer = clear(life.retryTimer);
    life.timeoutTimer = clear(life.timeoutTimer);
  }

  /** The lifecycle closes: no timer of `lives` (nor any scheduled start) fires. */
  close(lives: Iterable<Life>): void {
    this.delays.close();
    for (const life of lives) this.clear(life);
  }
}
