/** The pace of remote workers' heartbeats and the heap of their visits (workers/liveness.ts). */
import { describe, expect, it } from "vitest";
import { HeartbeatPace, VisitHeap, type Visited } from "../../src/manager/workers/liveness.js";

describe("HeartbeatPace", () => {
  it("keeps a quarter of the timeout and the timeout while the workers stay under the rate", () => {
    const p = new HeartbeatPace(3000, 2000);
    expect(p.update(1, 0)).toBe(false);
    expect(p.update(1500, 0)).toBe(false); // 1,500 workers × 1/0.75 s = 2,000 a second
    expect(p.pace).toEqual({ intervalMs: 750, lossMs: 3000 });
  });

  it("doubles both as often as the workers need, at once", () => {
    const p = new HeartbeatPace(3000, 2000);
    expect(p.update(10_000, 0)).toBe(true);
    // 10,000 workers: 750 ms → 13,333 a second; ×8 = 6 s → 1,667 a second.
    expect(p.pace).toEqual({ intervalMs: 6000, lossMs: 24_000 });
    expect((10_000 * 1000) / p.pace.intervalMs).toBeLessThanOrEqual(2000);
  });

  it("halves back one step per loss time, once half the rate would do", () => {
    const p = new HeartbeatPace(3000, 2000);
    p.update(10_000, 0);
    // 3,500 workers at 3 s: 1,167 a second, over half the rate: stays.
    expect(p.update(3500, 100_000)).toBe(false);
    expect(p.pace.intervalMs).toBe(6000);
    // 2,000 workers at 3 s: 667 a second: one step, not before a loss time has passed.
    expect(p.update(2000, 10_000)).toBe(false);
    expect(p.update(2000, 24_000)).toBe(true);
    expect(p.pace).toEqual({ intervalMs: 3000, lossMs: 12_000 });
    expect(p.update(2000, 24_001)).toBe(false);
    // 10 workers: back to the base, one step per loss time.
    expect(p.update(10, 36_000)).toBe(true);
    expect(p.pace.intervalMs).toBe(1500);
    expect(p.update(10, 36_000 + 6000)).toBe(true);
    expect(p.pace).toEqual({ intervalMs: 750, lossMs: 3000 });
    expect(p.update(10, 1_000_000)).toBe(false);
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
