/**
 * A worker's call-time estimate (worker-pace.ts): one slow call among short
 * ones (preempted by a busy machine) does not move it, so short tasks keep
 * staying with the worker dealt to last and keep being dealt ahead; calls
 * that really got slower are believed after two, and long calls then stop
 * being dealt ahead.
 */
import { describe, expect, it } from "vitest";
import { WorkerPace } from "../../src/manager/tasks/worker-pace.js";
import type { TaskWorker } from "../../src/manager/workers/pool.js";

/** A worker on another host with 2 slots, dealt ahead by its call times. */
const W: TaskWorker = { id: "w", main: false, slots: 2, ahead: true, remote: true };

function paced(calls: readonly number[]): WorkerPace {
  const pace = new WorkerPace({ slotsPerWorker: 1, aheadPerWorker: 0 });
  for (const ms of calls) pace.ended(W.id, ms);
  return pace;
}

const noops = (n: number) => Array.from({ length: n }, () => 0.05);

describe("a worker's pace", () => {
  it("one slow no-op among short ones moves nothing: short tasks still stay and are dealt ahead", () => {
    const before = paced(noops(20));
    const after = paced([...noops(20), 8, ...noops(2)]);
    expect(after.meanMs(W.id)).toBeCloseTo(before.meanMs(W.id) as number, 6);
    expect(after.mayStay(W, 4)).toBe(true);
    expect(after.capacity(W)).toBe(before.capacity(W));
    expect(after.capacity(W)).toBe(2 + 200);
    // One slow call in every few, each alone in its window: still short.
    const spaced = paced([...noops(5), 8, ...noops(4), 8, ...noops(4), 8, ...noops(4)]);
    expect(spaced.mayStay(W, 4)).toBe(true);
  });

  it("calls that got slower are believed after two: long calls stop being dealt ahead, and short ones stop staying", () => {
    const pace = paced([...noops(20), 500]);
    expect(pace.capacity(W)).toBe(2 + 200); // one alone is taken for a hiccup
    pace.ended(W.id, 500);
    expect(pace.meanMs(W.id)).toBe(500);
    // Dealt ahead no more than a remote worker's least (4 beyond its slots).
    expect(pace.capacity(W)).toBe(2 + 4);
    expect(pace.mayStay(W, 0)).toBe(false);
    // Calls that alternate short and long are taken as long.
    const mixed = paced([...noops(20), 300, 0.05, 300, 0.05, 300]);
    expect(mixed.meanMs(W.id)).toBeGreaterThan(100);
    expect(mixed.capacity(W)).toBe(2 + 4);
  });

  it("calls that get shorter move the mean down as before; a first call sets it", () => {
    const pace = paced([10]);
    expect(pace.meanMs(W.id)).toBe(10);
    expect(pace.known(W.id)).toBe(true);
    for (const ms of noops(40)) pace.ended(W.id, ms);
    // A running mean with weight 0.2 for the newest call: 10 ms moved towards 0.05 ms 40 times.
    expect(pace.meanMs(W.id)).toBeCloseTo(0.05 + (10 - 0.05) * 0.8 ** 40, 9);
    pace.forget(W.id);
    expect(pace.known(W.id)).toBe(false);
    expect(pace.mayStay(W, 0)).toBe(false);
    // A worker with fixed slots and no dealing ahead holds its slots only.
    expect(pace.capacity({ ...W, ahead: false })).toBe(2);
  });
});
