/** The heap whose entries know their place (src/manager/placed-heap.ts), shared by liveness.ts and worker-index.ts. */
import { describe, expect, it } from "vitest";
import { PlacedHeap, type Placed } from "../../src/manager/placed-heap.js";

interface Item extends Placed {
  key: number;
  n: number;
}

/** Least key first; on a tie, the lower `n` (a total order, as the worker index's rank gives). */
const before = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.n < b.n);

/** A small deterministic generator (the same run every time). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function drain(h: PlacedHeap<Item>): number[] {
  const out: number[] = [];
  let top;
  while ((top = h.peek()) !== undefined) {
    h.remove(top);
    expect(top.heapIndex).toBe(-1);
    out.push(top.n);
  }
  return out;
}

describe("PlacedHeap", () => {
  it("gives its entries in order as they are put in, moved and taken out at random", () => {
    const random = lcg(7);
    const h = new PlacedHeap<Item>(before);
    const items: Item[] = Array.from({ length: 300 }, (_, n) => ({ key: 0, n, heapIndex: -1 }));
    const inHeap = new Set<Item>();
    for (let step = 0; step < 5000; step++) {
      const it = items[Math.floor(random() * items.length)] as Item;
      const r = random();
      if (r < 0.6) {
        // In, or moved: its key changes first.
        it.key = Math.floor(random() * 50);
        h.set(it);
        inHeap.add(it);
      } else {
        h.remove(it);
        inHeap.delete(it);
        expect(it.heapIndex).toBe(-1);
      }
      expect(h.size).toBe(inHeap.size);
      const top = h.peek();
      const best = [...inHeap].reduce<Item | undefined>(
        (b, x) => (b === undefined || before(x, b) ? x : b),
        undefined,
      );
      expect(top).toBe(best);
    }
    const expected = [...inHeap].sort((a, b) => (before(a, b) ? -1 : 1)).map((x) => x.n);
    expect(drain(h)).toEqual(expected);
    expect(h.size).toBe(0);
  });

  it("knows each entry's place: one moves up or down in place, a removal of one not in is a no-op", () => {
    const h = new PlacedHeap<Item>(before);
    const items: Item[] = [5, 3, 8, 1, 9, 2].map((key, n) => ({ key, n, heapIndex: -1 }));
    for (const it of items) h.set(it);
    expect(h.peek()?.n).toBe(3);
    const nine = items[4] as Item;
    nine.key = 0;
    h.set(nine); // moved up
    expect(h.peek()).toBe(nine);
    nine.key = 10;
    h.set(nine); // moved down
    expect(h.peek()?.n).toBe(3);
    const out = items[0] as Item;
    h.remove(out);
    h.remove(out);
    expect(h.size).toBe(5);
    expect(drain(h)).toEqual([3, 5, 1, 2, 4]);
  });
});
