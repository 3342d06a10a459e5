/** The pace of remote workers' heartbeats and the heap of their visits (workers/liveness.ts). */
import { describe, expect, it } from "vitest";
import {
  beatsPerWorkerPerSec,
  HeartbeatPace,
  managerBeatMs,
  VisitHeap,
  type Visited,
} from "../../src/manager/workers/liveness.js";

describe("HeartbeatPace", () => {
  // At the base pace of a 3 s timeout, an idle worker beats every 750 ms and
  // the manager to it every 1.5 s: 2 heartbeats a second, both ways.
  it("counts the heartbeats both ways: the worker's every interval, the manager's every half loss time", () => {
    expect(beatsPerWorkerPerSec({ intervalMs: 750, lossMs: 3000 })).toBeCloseTo(2);
    expect(managerBeatMs({ intervalMs: 750, lossMs: 3000 })).toBe(1500);
  });

  it("keeps a quarter of the timeout and the timeout while the workers stay under the rate", () => {
    const p = new HeartbeatPace(3000, 1000);
    expect(p.update(1, 0)).toBe(false);
    expect(p.update(500, 0)).toBe(false); // 500 workers × 2 = 1,000 a second
    expect(p.pace).toEqual({ intervalMs: 750, lossMs: 3000 });
    expect(p.update(501, 0)).toBe(true);
    expect(p.pace).toEqual({ intervalMs: 1500, lossMs: 6000 });
  });

  it("doubles both as often as the workers need, at once", () => {
    const p = new HeartbeatPace(3000, 1000);
    expect(p.update(10_000, 0)).toBe(true);
    // 10,000 workers: 20,000 a second at the base; ×32 = a beat every 24 s → 625 a second.
    expect(p.pace).toEqual({ intervalMs: 24_000, lossMs: 96_000 });
    expect(10_000 * beatsPerWorkerPerSec(p.pace)).toBeLessThanOrEqual(1000);
  });

  it("halves back one step per loss time, once half the rate would do", () => {
    const p = new HeartbeatPace(3000, 1000);
    p.update(10_000, 0);
    // 4,100 workers at ×16: 512 a second, over half the rate: stays.
    expect(p.update(4100, 1_000_000)).toBe(false);
    expect(p.pace.intervalMs).toBe(24_000);
    // 3,000 workers at ×16: 375 a second: one step, not before a loss time (96 s) has passed.
    expect(p.update(3000, 10_000)).toBe(false);
    expect(p.update(3000, 96_000)).toBe(true);
    expect(p.pace).toEqual({ intervalMs: 12_000, lossMs: 48_000 });
    expect(p.update(3000, 1_000_000)).toBe(false);
    // 10 workers: back to the base, one step per loss time (48, 24, 12, 6 s).
    let t = 1_000_000;
    for (const lossMs of [24_000, 12_000, 6000, 3000]) {
      expect(p.update(10, t + 1)).toBe(true);
      expect(p.pace.lossMs).toBe(lossMs);
      expect(p.update(10, t + 2)).toBe(false);
      t += lossMs;
    }
    expect(p.pace).toEqual({ intervalMs: 750, lossMs: 3000 });
    expect(p.update(10, t + 1_000_000)).toBe(false);
  });
});

describe("VisitHeap", () => {
  const item = (): Visited & { n: number } => ({ visitAt: 0, heapIndex: -1, n: 0 });

  it("pops only what is due, earliest first; an item moves or leaves", () => {
    const h = new VisitHeap<Visited & { n: number }>();
    const items = Array.from({ length: 200 }, (_, i) => ({ ...item(), n: i }));
    // Scheduled in a scrambled order.
    for (const it of items) h.schedule(it, (it.n * 7919) % 200);
    expect(h.size).toBe(200);
    // Move one later, one earlier; remove one.
    h.schedule(items[0] as Visited & { n: number }, 1000);
    h.schedule(items[199] as Visited & { n: number }, -1);
    h.remove(items[5] as Visited & { n: number });
    h.remove(items[5] as Visited & { n: number }); // twice: a no-op
    expect(h.size).toBe(199);
    expect(h.popDue(-2)).toBeUndefined();
    const popped: number[] = [];
    let x;
    while ((x = h.popDue(999)) !== undefined) {
      expect(x.heapIndex).toBe(-1);
      popped.push(x.visitAt);
    }
    expect(popped.length).toBe(198);
    expect(popped).toEqual([...popped].sort((a, b) => a - b));
    expect(popped[0]).toBe(-1);
    expect(h.popDue(1000)?.n).toBe(0);
    expect(h.size).toBe(0);
  });
});
