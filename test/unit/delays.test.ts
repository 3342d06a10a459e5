/** The due-time timer of delayed tasks and the dedup index, on a fake clock. */
import { describe, expect, it } from "vitest";
import { DedupIndex, dedupScope } from "../../src/manager/tasks/dedup.js";
import { DueTimer } from "../../src/manager/due-timer.js";
import { FakeClock } from "../helpers/fake-clock.js";

describe("DueTimer", () => {
  it("hands over each key at its time, in order, with one timer for all", async () => {
    const clock = new FakeClock();
    const due: string[] = [];
    const d = new DueTimer(clock, (k) => due.push(k));
    d.set("c", clock.t + 3000);
    d.set("a", clock.t + 1000);
    d.set("b", clock.t + 2000);
    expect(clock.pending).toBe(1);
    await clock.advance(999);
    expect(due).toEqual([]);
    await clock.advance(1);
    expect(due).toEqual(["a"]);
    await clock.advance(5000);
    expect(due).toEqual(["a", "b", "c"]);
    expect(d.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("a deleted key never comes; a key set again comes at its new time only", async () => {
    const clock = new FakeClock();
    const due: string[] = [];
    const d = new DueTimer(clock, (k) => due.push(k));
    d.set("gone", clock.t + 1000);
    d.set("moved", clock.t + 1000);
    d.delete("gone");
    d.set("moved", clock.t + 5000);
    await clock.advance(4999);
    expect(due).toEqual([]);
    await clock.advance(1);
    expect(due).toEqual(["moved"]);
  });

  it("a time already passed is due at once; a time beyond the longest timer still comes", async () => {
    const clock = new FakeClock();
    const due: string[] = [];
    const d = new DueTimer(clock, (k) => due.push(k));
    d.set("past", clock.t - 60_000);
    d.set("far", clock.t + 30 * 24 * 3600 * 1000);
    await clock.advance(0);
    expect(due).toEqual(["past"]);
    await clock.advance(30 * 24 * 3600 * 1000);
    expect(due).toEqual(["past", "far"]);
  });

  it("keeps its heap small when most keys are deleted", () => {
    const clock = new FakeClock();
    const d = new DueTimer(clock, () => undefined);
    for (let i = 0; i < 5000; i++) d.set(`k${i}`, clock.t + 1000 + i);
    for (let i = 0; i < 4990; i++) d.delete(`k${i}`);
    expect(d.size).toBe(10);
    // The heap is internal; its rebuild shows in the heap's size.
    expect((d as unknown as { heap: { size: number } }).heap.size).toBeLessThan(2100);
  });
});

describe("DedupIndex", () => {
  const key = dedupScope("alice", "primary", "nightly");

  it("a key is held while its task lives, and for its ttl after its end", async () => {
    const clock = new FakeClock();
    const ix = new DedupIndex(clock);
    ix.claim(key, "t1");
    expect(ix.take(key)).toBe("t1");
    ix.ended(key, "t1", clock.t + 10_000);
    await clock.advance(9_999);
    expect(ix.take(key)).toBe("t1");
    await clock.advance(1);
    expect(ix.take(key)).toBeUndefined();
    expect(ix.deduplicated).toBe(2);
  });

  it("ttl 0 frees the key at the end; an older task's end does not free a newer holder", () => {
    const clock = new FakeClock();
    const ix = new DedupIndex(clock);
    ix.claim(key, "t1");
    ix.ended(key, "t1", clock.t);
    expect(ix.take(key)).toBeUndefined();
    ix.claim(key, "t2");
    ix.ended(key, "t1", clock.t);
    expect(ix.take(key)).toBe("t2");
  });

  it("keys are per user and group", () => {
    const ix = new DedupIndex(new FakeClock());
    ix.claim(key, "t1");
    expect(ix.take(dedupScope("bob", "primary", "nightly"))).toBeUndefined();
    expect(ix.take(dedupScope("alice", "admin", "nightly"))).toBeUndefined();
  });

  it("a restored end holds the key for what is left of its ttl", async () => {
    const clock = new FakeClock();
    const ix = new DedupIndex(clock);
    ix.restoreEnded(key, "old", clock.t - 1);
    expect(ix.take(key)).toBeUndefined();
    ix.restoreEnded(key, "t1", clock.t + 500);
    expect(ix.take(key)).toBe("t1");
    await clock.advance(500);
    expect(ix.take(key)).toBeUndefined();
  });
});
