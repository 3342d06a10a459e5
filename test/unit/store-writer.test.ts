/** The store writer's modes, against fake stores (`apply`, or `applyInSteps` where said). */
import { describe, expect, it, vi } from "vitest";
import type { Store, StoreOp } from "../../src/manager/store/types.js";
import { StoreWriter } from "../../src/manager/store/writer.js";

function fakeStore(fail = false) {
  const calls: StoreOp[][] = [];
  const store = {
    apply: (ops: readonly StoreOp[]) => {
      calls.push([...ops]);
      return fail ? Promise.reject(new Error("disk full")) : Promise.resolve();
    },
  } as unknown as Store;
  return { store, calls };
}

function writerWith(fail = false, now?: () => number) {
  const errors: string[] = [];
  const w = new StoreWriter({ error: (_o, msg) => errors.push(msg) }, now);
  const f = fakeStore(fail);
  w.store = f.store;
  return { w, errors, calls: f.calls };
}

const op = (key: string): StoreOp => ({ op: "set", key, value: 1 }) as StoreOp;

describe("StoreWriter", () => {
  it("durable: each write is applied on its own, at once", async () => {
    const { w, calls } = writerWith();
    const a = w.write([op("a")], { mode: "durable" });
    expect(calls).toEqual([[op("a")]]);
    await a;
    await w.write([op("b")], { mode: "durable" });
    expect(calls).toEqual([[op("a")], [op("b")]]);
  });

  it("durable: an empty write touches nothing; a failure rejects", async () => {
    const { w, calls } = writerWith(true);
    await w.write([], { mode: "durable" });
    expect(calls).toEqual([]);
    await expect(w.write([op("a")], { mode: "durable" })).rejects.toThrow("disk full");
  });

  it("batched: the writes of one turn are one transaction, in order", async () => {
    const { w, calls } = writerWith();
    const a = w.write([op("a")], { mode: "batched" });
    const b = w.write([op("b"), op("c")], { mode: "batched" });
    expect(calls).toEqual([]);
    await Promise.all([a, b]);
    expect(calls).toEqual([[op("a"), op("b"), op("c")]]);
    await w.write([op("d")], { mode: "batched" });
    expect(calls).toEqual([[op("a"), op("b"), op("c")], [op("d")]]);
  });

  it("batched rejects on failure; background resolves; the failure is logged once", async () => {
    const { w, errors } = writerWith(true);
    const bg = w.write([op("a")], { mode: "background" });
    const batched = w.write([op("b")], { mode: "batched" });
    await expect(batched).rejects.toThrow("disk full");
    await expect(bg).resolves.toBeUndefined();
    expect(errors).toEqual(["A change could not be written to the store"]);
  });

  it("flush waits for the gathered batch; no store means no write", async () => {
    const { w, calls } = writerWith();
    void w.write([op("a")], { mode: "background" });
    await w.flush();
    expect(calls).toEqual([[op("a")]]);
    const none = new StoreWriter({ error: () => undefined });
    await expect(none.write([op("x")], { mode: "batched" })).resolves.toBeUndefined();
  });

  it("settled: resolves once the writes made so far are durable, not waiting for later ones", async () => {
    const pending: (() => void)[] = [];
    const w = new StoreWriter({ error: () => undefined });
    w.store = {
      apply: () => new Promise<void>((r) => pending.push(r)),
    } as unknown as Store;
    let settled = false;
    void w.write([op("a")], { mode: "background" });
    void w.settled().then(() => (settled = true));
    await vi.waitFor(() => expect(pending.length).toBe(1));
    // A later write gathers while the first commits.
    void w.write([op("b")], { mode: "batched" });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    pending[0]?.();
    await vi.waitFor(() => expect(settled).toBe(true));
    expect(pending.length).toBe(2);
    pending[1]?.();
  });

  it("patient: commits at the end of the turn while commits are fast", async () => {
    const { w, calls } = writerWith();
    await w.write([op("a")], { mode: "batched", patient: true });
    expect(calls).toEqual([[op("a")]]);
  });

  it("patient: while commits are slow it waits for company; an urgent write, or its timer, ends the wait", async () => {
    // A clock on which every commit takes 5 ms; the wait's timer fires only when the test says.
    let t = 0;
    const { w, calls } = writerWith(false, () => (t += 5));
    for (let i = 0; i < 5; i++) await w.write([op(`warm${i}`)], { mode: "batched" });
    await nextTurn();
    calls.length = 0;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const a = w.write([op("a")], { mode: "batched", patient: true });
      await nextTurn();
      await nextTurn();
      expect(calls).toEqual([]);
      await Promise.all([a, w.write([op("b")], { mode: "batched" })]);
      expect(calls).toEqual([[op("a"), op("b")]]);
      await nextTurn();

      const c = w.write([op("c")], { mode: "batched", patient: true });
      await nextTurn();
      expect(calls).toHaveLength(1);
      vi.advanceTimersByTime(2);
      await c;
      expect(calls).toEqual([[op("a"), op("b")], [op("c")]]);
    } finally {
      vi.useRealTimers();
    }
  });
  it("with a store that commits before it flushes, the next batch is committed while one is made durable", async () => {
    const committed: StoreOp[][] = [];
    const flushes: (() => void)[] = [];
    const store = {
      apply: () => Promise.reject(new Error("not used")),
      applyInSteps: (ops: readonly StoreOp[]) => {
        committed.push([...ops]);
        return {
          committed: Promise.resolve(),
          durable: new Promise<void>((resolve) => flushes.push(resolve)),
        };
      },
    } as unknown as Store;
    const w = new StoreWriter({ error: () => undefined });
    w.store = store;
    let aDone = false;
    const a = w.write([op("a")], { mode: "batched" }).then(() => (aDone = true));
    for (let i = 0; i < 100 && committed.length < 1; i++) await new Promise((r) => setImmediate(r));
    // Written after "a" was committed, before it is durable: "b" is committed now, after "a".
    let bDone = false;
    const b = w.write([op("b")], { mode: "batched" }).then(() => (bDone = true));
    for (let i = 0; i < 100 && committed.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(committed).toEqual([[op("a")], [op("b")]]);
    // Neither is reported written until it is durable.
    await new Promise((r) => setImmediate(r));
    expect([aDone, bDone]).toEqual([false, false]);
    let flushed = false;
    const all = w.flush().then(() => (flushed = true));
    (flushes[0] as () => void)();
    await a;
    expect([aDone, bDone, flushed]).toEqual([true, false, false]);
    (flushes[1] as () => void)();
    await Promise.all([b, all]);
    expect([aDone, bDone, flushed]).toEqual([true, true, true]);
  });
});

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
