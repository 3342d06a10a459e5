/**
 * The manager's own measurements for `/metrics` (the `metrics` method): time
 * histograms of its requests by method and of its store writes by mode, kept
 * as cumulative bucket counts so that any client (the HTTP gateway) can
 * publish them as Prometheus histograms.
 */

/** Upper bounds of the buckets, in seconds. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

export interface HistogramSnapshot {
  /** Observations at or below each bound of LATENCY_BUCKETS (cumulative). */
  buckets: number[];
  count: number;
  sum: number;
}

export class LatencyHistograms {
  private readonly byLabel = new Map<string, { counts: number[]; count: number; sum: number }>();

  observe(label: string, seconds: number): void {
    let h = this.byLabel.get(label);
    if (!h) {
      h = { counts: LATENCY_BUCKETS.map(() => 0), count: 0, sum: 0 };
      this.byLabel.set(label, h);
    }
    h.count += 1;
    h.sum += seconds;
    // Non-cumulative while recording; made cumulative in the snapshot.
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) h.counts[i] = (h.counts[i] ?? 0) + 1;
  }

  snapshot(): Record<string, HistogramSnapshot> {
    const out: Record<string, HistogramSnapshot> = {};
    for (const [label, h] of this.byLabel) {
      let acc = 0;
      out[label] = {
        buckets: h.counts.map((c) => (acc += c)),
        count: h.count,
        sum: h.sum,
      };
    }
    return out;
  }
}
