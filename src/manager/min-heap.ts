/**
 * A binary min-heap of (time, key), so that one timer serves many things due
 * at their own times: the schedules by their next fire (schedules/), the
 * delayed tasks by their start and the dedup keys by their end (tasks/). An
 * entry whose time is no longer its key's is left in place and skipped when
 * it comes up (the owner checks).
 */
export interface HeapEntry {
  at: number;
  key: string;
}

export class MinHeap {
  private readonly a: HeapEntry[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): HeapEntry | undefined {
    return this.a[0];
  }

  push(e: HeapEntry): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as HeapEntry).at <= e.at) break;
      a[i] = a[p] as HeapEntry;
      i = p;
    }
    a[i] = e;
  }

  pop(): HeapEntry | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as HeapEntry).at < (a[l] as HeapEntry).at ? r : l;
      if ((a[c] as HeapEntry).at >= last.at) break;
      a[i] = a[c] as HeapEntry;
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.a.length = 0;
  }
}
