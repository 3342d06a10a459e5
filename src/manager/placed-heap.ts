/**
 * A binary heap whose entries know their place in it, so that one can move
 * (its key changed) or leave in O(log n) without a search: the workers by
 * their next visit (workers/liveness.ts) and, in the scheduler's worker index,
 * the workers with free capacity least loaded first (tasks/worker-index.ts).
 * The order is the owner's `before`; min-heap.ts is the other kind, for keys
 * that never move (stale entries skipped).
 */

/** An entry of the heap: its place there (-1: not in the heap). */
export interface Placed {
  heapIndex: number;
}

export class PlacedHeap<T extends Placed> {
  private readonly items: T[] = [];

  /** `before(a, b)`: `a` comes out first. */
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  /** The first entry (left in the heap). */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Put it in, or move it to its place after its key changed. */
  set(item: T): void {
    if (item.heapIndex < 0) {
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
    } else {
      this.up(item.heapIndex);
      this.down(item.heapIndex);
    }
  }

  /** Take it out (nothing if it is not in). */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (!this.before(item, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      if (l + 1 < n && this.before(items[l + 1] as T, items[l] as T)) c = l + 1;
      const child = items[c] as T;
      if (!this.before(child, item)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
