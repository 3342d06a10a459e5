/**
 * The one path by which the manager writes to its store, in three named modes:
 *  - `durable`: written now, on its own; the caller awaits it before a reply
 *    says success (queue changes, the lock).
 *  - `batched`: joins the other writes of this turn of the event loop (a burst
 *    of task results is one transaction); awaited by a caller whose reply
 *    depends on it (run_create). Batches are written in order, so a change
 *    written after another lands after it.
 *  - `background`: a batched write no one waits for (accepted marks, lists,
 *    permissions, purges); a failure is logged, once per batch.
 * Before the store is opened, writes are no-ops (nothing to restore yet).
 *
 * A task's final result is written `batched` and reported only once its batch
 * is durable (registry.ts, `finish`): a group commit, one transaction for all
 * the results of a turn.
 *
 * Fault injection for tests: ZQS_TEST_STORE_DELAY_MS (read here only) delays
 * every store commit by that many milliseconds, widening the moment between a
 * change and its durability so that a test can crash the manager inside it.
 */
import { LatencyHistograms } from "../metrics.js";
import type { Store, StoreOp } from "./types.js";

/** The injected delay of every commit, in ms (0: none); see above. */
const COMMIT_DELAY_MS = Math.max(0, Number(process.env.ZQS_TEST_STORE_DELAY_MS ?? 0) || 0);

export type WriteMode = "durable" | "batched" | "background";

/** What the writer needs: where to log a failed batch. */
export interface WriterLog {
  error(obj: { err: unknown }, msg: string): void;
}

/**
 * How long a batch of background writes only may wait for company (ms): a
 * task's "accepted" mark then usually commits with its result, one flush to
 * disk instead of two in a row on the path of a short task.
 */
const LAZY_MS = 10;

interface Batch {
  ops: StoreOp[];
  /** Someone waits for it (a `batched` write): it commits at the end of the turn. */
  urgent: boolean;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch's failure is logged (once) by the writer; callers may ignore it.
  done.catch(() => undefined);
  return { ops: [], urgent: false, done, resolve, reject };
}

export class StoreWriter {
  /** Where changes are made durable (set once the store is open). */
  store: Store | undefined;
  /** The writes gathered while the batch before them commits (or during this turn). */
  private batch: Batch | undefined;
  /** The batch being committed: one at a time, so the next one gathers meanwhile. */
  private inFlight: Promise<void> | undefined;
  /** How long the store took to write, by mode ("durable", "batched"). */
  readonly latency = new LatencyHistograms();

  constructor(private readonly log: WriterLog) {}

  write(ops: readonly StoreOp[], { mode }: { mode: WriteMode }): Promise<void> {
    if (mode === "durable") return this.apply(ops, "durable");
    const done = this.join(ops, mode === "batched");
    if (mode === "background") return done.catch(() => undefined);
    return done;
  }

  /** Resolves once every batch gathered so far is written (or failed): before the store closes. */
  async flush(): Promise<void> {
    for (;;) {
      const wait = this.batch?.done ?? this.inFlight;
      if (!wait) return;
      await wait.catch(() => undefined);
    }
  }

  private async apply(ops: readonly StoreOp[], mode: "durable" | "batched"): Promise<void> {
    if (ops.length === 0 || !this.store) return;
    if (COMMIT_DELAY_MS > 0) await new Promise((r) => setTimeout(r, COMMIT_DELAY_MS));
    const t0 = performance.now();
    await this.store.apply(ops);
    this.latency.observe(mode, (performance.now() - t0) / 1000);
  }

  /**
   * Group commit: a batch gathers every write of its turn of the event loop,
   * and of the turns while the batch before it commits; one transaction each,
   * in order. Under load the batches grow, so the commits (and their flushes
   * to disk) stay few.
   */
  private join(ops: readonly StoreOp[], urgent: boolean): Promise<void> {
    let b = this.batch;
    if (!b) {
      b = this.batch = newBatch();
      b.urgent = urgent;
      if (!this.inFlight) this.schedule(b);
    } else if (urgent && !b.urgent) {
      b.urgent = true;
      if (!this.inFlight) this.schedule(b);
    }
    for (const op of ops) b.ops.push(op);
    return b.done;
  }

  /**
   * Commit `b` at the end of this turn (urgent) or after LAZY_MS (background
   * writes only). Urgent: queued once the code that wrote has returned, so the
   * end-of-turn sends it queued (a task dealt to its worker) go before the
   * commit, which (with --store-sync os) holds the thread while it writes.
   */
  private schedule(b: Batch): void {
    if (b.urgent) queueMicrotask(() => setImmediate(() => this.commitNext()));
    else setTimeout(() => this.commitNext(), LAZY_MS);
  }

  private commitNext(): void {
    const b = this.batch;
    if (!b || this.inFlight) return;
    this.batch = undefined;
    const applied = this.apply(b.ops, "batched");
    this.inFlight = applied.then(
      () => b.resolve(),
      (err: unknown) => {
        this.log.error({ err }, "A change could not be written to the store");
        b.reject(err);
      },
    );
    void this.inFlight.then(() => {
      this.inFlight = undefined;
      if (this.batch) this.schedule(this.batch);
    });
  }
}
