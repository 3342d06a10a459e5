/**
 * The one path by which the manager writes to its store, in three named modes:
 *  - `durable`: written now, on its own; the caller awaits it before a reply
 *    says success (queue changes, the lock).
 *  - `batched`: joins the other writes of this turn of the event loop (a burst
 *    of task results is one transaction); awaited by a caller whose reply
 *    depends on it (run_create, a task's accepted mark and its result).
 *    Batches are written in order, so a change written after another lands
 *    after it. A `patient` batched write (a task's accepted mark) may wait a
 *    moment for company when commits are slow (see PATIENT_MAX_MS).
 *  - `background`: a batched write no one waits for (run outcomes, lists,
 *    permissions, purges); a failure is logged, once per batch.
 * Before the store is opened, writes are no-ops (nothing to restore yet).
 *
 * A task's final result is written `batched` and reported only once its batch
 * is durable (registry.ts, `finish`): a group commit, one transaction for all
 * the results of a turn. With a store that commits before it flushes (LMDB
 * with fsync: `applyInSteps`), the next batch is committed while the one
 * before it is flushed to disk; each is reported durable after its own flush.
 *
 * Fault injection for tests: ZQS_TEST_STORE_DELAY_MS (read here only) delays
 * every store commit by that many milliseconds, widening the moment between a
 * change and its durability so that a test can crash the manager inside it.
 */
import { LatencyHistograms } from "../metrics.js";
import type { Store, StoreOp, StoreWrites, WriteMode } from "./types.js";

/** The injected delay of every commit, in ms (0: none); see above. */
const COMMIT_DELAY_MS = Math.max(0, Number(process.env.ZQS_TEST_STORE_DELAY_MS ?? 0) || 0);

/** What the writer needs: where to log a failed batch. */
export interface WriterLog {
  error(obj: { err: unknown }, msg: string): void;
}

/**
 * How long a batch of background writes only may wait for company (ms): it
 * then usually commits with other writes instead of on its own.
 */
const LAZY_MS = 10;

/**
 * A patient write (a task's "accepted" mark) waits for company at most this
 * long (ms), and only when commits are slow (a flush to disk: at least
 * SLOW_COMMIT_MS): then up to half a commit's time, so that a short task's
 * result, written meanwhile, commits with its mark (one flush to disk on its
 * path instead of two in a row).
 */
const PATIENT_MAX_MS = 2;
const SLOW_COMMIT_MS = 1;
/** Weight of the newest commit in the running mean of commit times. */
const COMMIT_MS_WEIGHT = 0.2;

/** When a batch commits: at the end of the turn, a little later when patient, or lazily. */
type Due = "now" | "patient" | "lazy";
const RANK: Record<Due, number> = { now: 0, patient: 1, lazy: 2 };

interface Batch {
  ops: StoreOp[];
  due: Due;
  /** The timer that will commit it (replaced when it becomes more urgent). */
  timer: NodeJS.Timeout | undefined;
  /** Or the immediate that will (each kind is cleared by its own function). */
  immediate: NodeJS.Immediate | undefined;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(due: Due): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch's failure is logged (once) by the writer; callers may ignore it.
  done.catch(() => undefined);
  return { ops: [], due, timer: undefined, immediate: undefined, done, resolve, reject };
}

export class StoreWriter implements StoreWrites {
  /** Where changes are made durable (set once the store is open). */
  store: Store | undefined;
  /** The writes gathered while the batch before them commits (or during this turn). */
  private batch: Batch | undefined;
  /** The batch being committed: one at a time, so the next one gathers meanwhile. */
  private inFlight: Promise<void> | undefined;
  /** Settles once the last batch begun is durable (or failed). */
  private durable: Promise<void> = Promise.resolve();
  /** Running mean of the batches' commit times (ms). */
  private commitMs = 0;
  /** How long the store took to write, by mode ("durable", "batched"). */
  readonly latency = new LatencyHistograms();
  /**
   * An operation to add to a write, in the same commit (the pending record
   * of a request's idempotency key, made while that request is handled).
   */
  tag: (() => StoreOp | undefined) | undefined;

  /** `now`: the clock commits are timed by (ms; tests give their own). */
  constructor(
    private readonly log: WriterLog,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * `patient` (batched only): the write may wait a little for company when
   * commits are slow (see PATIENT_MAX_MS); a later urgent write ends the wait.
   */
  write(
    ops: readonly StoreOp[],
    { mode, patient }: { mode: WriteMode; patient?: boolean },
  ): Promise<void> {
    const extra = ops.length > 0 && mode !== "background" ? this.tag?.() : undefined;
    if (extra) ops = [...ops, extra];
    if (mode === "durable") return this.apply(ops, "durable");
    const due: Due = mode === "background" ? "lazy" : patient ? "patient" : "now";
    const done = this.join(ops, due);
    if (mode === "background") return done.catch(() => undefined);
    return done;
  }

  /** Resolves once every batch gathered so far is written (or failed): before the store closes. */
  async flush(): Promise<void> {
    for (;;) {
      const wait = this.batch?.done ?? this.inFlight;
      if (!wait) break;
      await wait.catch(() => undefined);
    }
    await this.durable;
  }

  /**
   * Resolves once every write made so far is durable (or failed), without
   * waiting for later ones (a remote worker's task ends are acknowledged then).
   */
  settled(): Promise<void> {
    return (this.batch?.done ?? this.durable).catch(() => undefined);
  }

  private async apply(ops: readonly StoreOp[], mode: "durable" | "batched"): Promise<void> {
    await this.applyInSteps(ops, mode).durable;
  }

  /**
   * `committed`: the next batch may be written (it lands after these);
   * `durable`: these are durable. One step for a store without steps.
   */
  private applyInSteps(
    ops: readonly StoreOp[],
    mode: "durable" | "batched",
  ): { committed: Promise<void>; durable: Promise<void> } {
    const store = this.store;
    if (ops.length === 0 || !store) {
      const done = Promise.resolve();
      return { committed: done, durable: done };
    }
    const t0 = this.now();
    const begin = (): { committed: Promise<void>; durable: Promise<void> } => {
      if (store.applyInSteps) return store.applyInSteps(ops);
      const applied = store.apply(ops);
      return { committed: applied, durable: applied };
    };
    // Written at once, unless a test injects a delay.
    let steps: Promise<ReturnType<typeof begin>>;
    try {
      steps =
        COMMIT_DELAY_MS > 0
          ? new Promise<void>((r) => setTimeout(r, COMMIT_DELAY_MS)).then(begin)
          : Promise.resolve(begin());
    } catch (err) {
      steps = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const committed = steps.then((s) => s.committed);
    const durable = steps.then(async (s) => {
      await s.durable;
      const ms = this.now() - t0;
      this.latency.observe(mode, ms / 1000);
      if (mode === "batched") this.commitMs += (ms - this.commitMs) * COMMIT_MS_WEIGHT;
    });
    committed.catch(() => undefined);
    durable.catch(() => undefined);
    return { committed, durable };
  }

  /**
   * Group commit: a batch gathers every write of its turn of the event loop,
   * and of the turns while the batch before it commits; one transaction each,
   * in order. Under load the batches grow, so the commits (and their flushes
   * to disk) stay few.
   */
  private join(ops: readonly StoreOp[], due: Due): Promise<void> {
    let b = this.batch;
    if (!b) {
      b = this.batch = newBatch(due);
      if (!this.inFlight) this.schedule(b);
    } else if (RANK[due] < RANK[b.due]) {
      b.due = due;
      if (!this.inFlight) this.schedule(b);
    }
    for (const op of ops) b.ops.push(op);
    return b.done;
  }

  /**
   * Commit `b` when it is due. Now: queued once the code that wrote has
   * returned, so the end-of-turn sends it queued (a task dealt to its worker)
   * go before the commit, which (with --store-sync os) holds the thread while
   * it writes. Patient: as now unless commits are slow. Lazy: after LAZY_MS.
   * A batch that waited for the commit before it (`waited`) is not kept
   * waiting again, unless it is lazy.
   */
  private schedule(b: Batch, waited = false): void {
    this.cancel(b);
    const patience =
      b.due === "patient" && !waited && this.commitMs >= SLOW_COMMIT_MS
        ? Math.max(1, Math.round(Math.min(PATIENT_MAX_MS, this.commitMs / 2)))
        : 0;
    if (b.due === "lazy") b.timer = setTimeout(() => this.commitNext(b), LAZY_MS);
    else if (patience > 0) b.timer = setTimeout(() => this.commitNext(b), patience);
    else {
      queueMicrotask(() => {
        if (this.batch === b && b.timer === undefined)
          b.immediate ??= setImmediate(() => this.commitNext(b));
      });
    }
  }

  private cancel(b: Batch): void {
    if (b.timer !== undefined) clearTimeout(b.timer);
    if (b.immediate !== undefined) clearImmediate(b.immediate);
    b.timer = undefined;
    b.immediate = undefined;
  }

  /**
   * Write `b`. The next batch begins once `b` is committed, while `b` is still
   * being made durable (a flush to disk): the commits stay in order, and a
   * flush covers every commit before it.
   */
  private commitNext(b: Batch): void {
    if (this.batch !== b || this.inFlight) return;
    this.cancel(b);
    this.batch = undefined;
    const { committed, durable } = this.applyInSteps(b.ops, "batched");
    const settled = durable.then(
      () => b.resolve(),
      (err: unknown) => {
        this.log.error({ err }, "A change could not be written to the store");
        b.reject(err);
      },
    );
    this.durable = settled;
    this.inFlight = committed.then(
      () => undefined,
      () => settled,
    );
    void this.inFlight.then(() => {
      this.inFlight = undefined;
      if (this.batch) this.schedule(this.batch, true);
    });
  }
}
