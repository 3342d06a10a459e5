/**
 * The one path by which the manager writes to its store, in three named modes:
 *  - `durable`: written now, on its own; the caller awaits it before a reply
 *    says success (queue changes, the lock).
 *  - `batched`: joins the other writes of this turn of the event loop (a burst
 *    of task results is one transaction); awaited by a caller whose reply
 *    depends on it (run_create). Batches are written in order, so a change
 *    written after another lands after it.
 *  - `background`: a batched write no one waits for (results, lists,
 *    permissions); a failure is logged, once per batch.
 * Before the store is opened, writes are no-ops (nothing to restore yet).
 */
import { LatencyHistograms } from "../metrics.js";
import type { Store, StoreOp } from "./types.js";

export type WriteMode = "durable" | "batched" | "background";

/** What the writer needs: where to log a failed batch. */
export interface WriterLog {
  error(obj: { err: unknown }, msg: string): void;
}

export class StoreWriter {
  /** Where changes are made durable (set once the store is open). */
  store: Store | undefined;
  /** The writes gathered for the current turn of the event loop. */
  private batch: { ops: StoreOp[]; done: Promise<void> } | undefined;
  /** How long the store took to write, by mode ("durable", "batched"). */
  readonly latency = new LatencyHistograms();

  constructor(private readonly log: WriterLog) {}

  write(ops: readonly StoreOp[], { mode }: { mode: WriteMode }): Promise<void> {
    if (mode === "durable") return this.apply(ops, "durable");
    const done = this.join(ops);
    if (mode === "background") return done.catch(() => undefined);
    return done;
  }

  /** Resolves once the batch gathered so far is written (or failed): before the store closes. */
  async flush(): Promise<void> {
    await this.batch?.done.catch(() => undefined);
  }

  private async apply(ops: readonly StoreOp[], mode: "durable" | "batched"): Promise<void> {
    if (ops.length === 0 || !this.store) return;
    const t0 = performance.now();
    await this.store.apply(ops);
    this.latency.observe(mode, (performance.now() - t0) / 1000);
  }

  private join(ops: readonly StoreOp[]): Promise<void> {
    let b = this.batch;
    if (!b) {
      const batch: StoreOp[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.batch = undefined;
        return this.apply(batch, "batched");
      });
      done.catch((err: unknown) =>
        this.log.error({ err }, "A change could not be written to the store"),
      );
      b = this.batch = { ops: batch, done };
    }
    b.ops.push(...ops);
    return b.done;
  }
}
