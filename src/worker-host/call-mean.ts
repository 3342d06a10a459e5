/**
 * A worker's recent call times as a running mean with outliers left out: the
 * one estimator of both the manager (how much to deal ahead to a worker,
 * manager/tasks/worker-pace.ts) and the `zqs worker` agent (how many tasks to
 * give each of its slot processes, remote-worker/slot-processes.ts).
 */

/** Weight of the newest call in the running mean. */
const CALL_MS_WEIGHT = 0.2;
/**
 * A call slower than this many times the mean (and than OUTLIER_MIN_MS) is an
 * outlier: alone (a call preempted by the machine, a collection of garbage)
 * it leaves the mean as it was, so that one slow no-op does not change how a
 * worker of short calls is dealt to; a second one within OUTLIER_WINDOW calls
 * is believed (the calls got slower): the mean becomes it at once, so that
 * long calls stop being dealt ahead after two of them.
 */
const OUTLIER_FACTOR = 4;
const OUTLIER_MIN_MS = 0.5;
const OUTLIER_WINDOW = 4;

export class CallMean {
  /** Running mean of the calls' run times (ms), undefined before the first. */
  private mean: number | undefined;
  /** Calls ended so far, and the number of the last outlier left out (-Infinity: none). */
  private calls = 0;
  private lastOutlier = -Infinity;

  /** The mean (ms; outliers left out), once a call ended. */
  get ms(): number | undefined {
    return this.mean;
  }

  /** A call took `callMs`: whether the mean moved. */
  ended(callMs: number): boolean {
    const ms = Math.max(0, callMs);
    if (!Number.isFinite(ms)) return false;
    this.calls++;
    if (this.mean === undefined) {
      this.mean = ms;
      return true;
    }
    if (ms > OUTLIER_MIN_MS && ms > this.mean * OUTLIER_FACTOR) {
      const believed = this.calls - this.lastOutlier <= OUTLIER_WINDOW;
      this.lastOutlier = this.calls;
      if (!believed) return false;
      this.mean = ms;
      return true;
    }
    this.mean += (ms - this.mean) * CALL_MS_WEIGHT;
    return true;
  }
}
