/**
 * The scheduler's index of the workers that may take tasks, so that dealing
 * a task costs the same with one worker connected or ten thousand.
 *
 * Workers are bucketed by what they offer: the functions (every function for
 * a worker that names none, as local workers do; a worker that only has an
 * `offers` predicate gets a bucket of its own) and the tags they have. Within
 * a bucket, the workers with free capacity sit in a heap, least loaded first
 * and, on a tie, in the order they were given (the scheduler gives the main
 * worker last). A task looks only at the buckets that fit it (found once per
 * function and tags, kept until the workers change) and takes the best top of
 * them. The total free capacity is a counter.
 *
 * The index reads a worker's load and capacity from its owner (`update`
 * after either changes); `sync` rebuilds it when the set of workers changes.
 */
import { PlacedHeap, type Placed } from "../placed-heap.js";
import type { TaskWorker } from "../workers/pool.js";

/** Where the index reads what it keeps of each worker. */
export interface WorkerMeasures {
  /** Tasks the worker holds now (slots taken and tasks dealt ahead). */
  load(id: string): number;
  /** Tasks it may hold. */
  capacity(w: TaskWorker): number;
}

/** A worker in the index; `heapIndex`: its place in its bucket's heap (-1: not there, it has no free capacity). */
interface Entry extends Placed {
  w: TaskWorker;
  /** Its place in the order given to `sync`: the tie-breaker. */
  rank: number;
  load: number;
  /** Capacity left (0 for a worker that takes no background task). */
  free: number;
  /** Undefined: it takes no background task. */
  bucket: Bucket | undefined;
}

const before = (a: Entry, b: Entry): boolean =>
  a.load < b.load || (a.load === b.load && a.rank < b.rank);

class Bucket {
  /** Its workers with free capacity, least loaded first. */
  readonly heap = new PlacedHeap<Entry>(before);
  constructor(
    /** Whether its workers offer the function. */
    readonly offers: (name: string) => boolean,
    readonly tags: ReadonlySet<string> | undefined,
  ) {}

  fits(name: string, tags: readonly string[]): boolean {
    if (!this.offers(name)) return false;
    for (const t of tags) if (!this.tags?.has(t)) return false;
    return true;
  }
}

/** Most (function, tags) kinds whose buckets are kept between two changes of the workers. */
const MAX_KINDS = 4096;

const everything = (): boolean => true;

export class WorkerIndex {
  private readonly byId = new Map<string, Entry>();
  /** (function, tags) → the buckets whose workers fit. */
  private readonly kinds = new Map<string, Bucket[]>();
  private buckets: Bucket[] = [];
  private mainWorker: TaskWorker | undefined;
  private freeSum = 0;
  private busySum = 0;
  /** Bucket keys of function lists already seen (a worker's list is a stable object). */
  private readonly listKeys = new WeakMap<ReadonlySet<string>, string>();

  constructor(private readonly measures: WorkerMeasures) {}

  /** Workers indexed. */
  get count(): number {
    return this.byId.size;
  }

  /** Free capacity of the workers that take background tasks, together. */
  get free(): number {
    return this.freeSum;
  }

  /** Tasks the indexed workers hold, together. */
  get busy(): number {
    return this.busySum;
  }

  get main(): TaskWorker | undefined {
    return this.mainWorker;
  }

  get(id: string): TaskWorker | undefined {
    return this.byId.get(id)?.w;
  }

  /**
   * The workers are now these: the index is built again. Among equally
   * loaded workers the earlier in `workers` is dealt to first, the main
   * worker last (it stays free for plans).
   */
  sync(workers: readonly TaskWorker[]): void {
    this.byId.clear();
    this.kinds.clear();
    this.buckets = [];
    this.mainWorker = undefined;
    this.freeSum = 0;
    this.busySum = 0;
    const byKey = new Map<string, Bucket>();
    let rank = 0;
    for (const w of workers) {
      if (w.main) this.mainWorker ??= w;
      let bucket: Bucket | undefined;
      if (w.background !== false) {
        const key = this.bucketKey(w);
        bucket = key === undefined ? undefined : byKey.get(key);
        if (!bucket) {
          bucket = new Bucket(this.offersOf(w), w.tags);
          this.buckets.push(bucket);
          if (key !== undefined) byKey.set(key, bucket);
        }
      }
      const e: Entry = {
        w,
        rank: (w.main ? workers.length : 0) + rank++,
        load: 0,
        free: 0,
        bucket,
        heapIndex: -1,
      };
      this.byId.set(w.id, e);
      this.refresh(e);
    }
  }

  /** The worker's load or capacity changed: read them again. */
  update(id: string): void {
    const e = this.byId.get(id);
    if (e) this.refresh(e);
  }

  /** Whether a worker offers the function with these tags (free or not). */
  offers(name: string, tags: readonly string[]): boolean {
    return this.fitting(name, tags).length > 0;
  }

  /**
   * The least loaded worker with free capacity that offers the function and
   * has the tags; `offered`: some worker does, free or not.
   */
  best(
    name: string,
    tags: readonly string[],
  ): { worker: TaskWorker | undefined; offered: boolean } {
    const buckets = this.fitting(name, tags);
    let best: Entry | undefined;
    for (const b of buckets) {
      const top = b.heap.peek();
      if (top && (!best || before(top, best))) best = top;
    }
    return { worker: best?.w, offered: buckets.length > 0 };
  }

  private fitting(name: string, tags: readonly string[]): Bucket[] {
    const kind = tags.length === 0 ? name : `${name}\0${tags.join("\0")}`;
    let list = this.kinds.get(kind);
    if (!list) {
      if (this.kinds.size >= MAX_KINDS) this.kinds.clear();
      list = this.buckets.filter((b) => b.fits(name, tags));
      this.kinds.set(kind, list);
    }
    return list;
  }

  /** Workers offering the same functions with the same tags share a key (undefined: a bucket of its own). */
  private bucketKey(w: TaskWorker): string | undefined {
    let fns: string;
    if (w.functions) {
      let k = this.listKeys.get(w.functions);
      if (k === undefined) {
        k = `[${[...w.functions].sort().join("\0")}]`;
        this.listKeys.set(w.functions, k);
      }
      fns = k;
    } else if (w.offers) return undefined;
    else fns = "*";
    const tags = w.tags && w.tags.size > 0 ? [...w.tags].sort().join("\0") : "";
    return `${fns}\u0001${tags}`;
  }

  private offersOf(w: TaskWorker): (name: string) => boolean {
    const fns = w.functions;
    if (fns) return (name) => fns.has(name);
    return w.offers ?? everything;
  }

  private refresh(e: Entry): void {
    const load = this.measures.load(e.w.id);
    this.busySum += load - e.load;
    e.load = load;
    const b = e.bucket;
    if (!b) return;
    const free = Math.max(0, this.measures.capacity(e.w) - load);
    this.freeSum += free - e.free;
    e.free = free;
    if (free === 0) b.heap.remove(e);
    else b.heap.set(e);
  }
}
