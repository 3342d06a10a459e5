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
import type { Store, StoreOp } from "./types.js";

/** The injected delay of every commit, in ms (0: none); see above. */
const COMMIT_DELAY_MS = Math.max(0, Number(process.env.ZQS_TEST_STORE_DELAY_MS ?? 0) || 0);

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

  constructor(private readonly log: WriterLog) {}

  write(ops: readonly StoreOp[], { mode }: { mode: WriteMode }): Promise<void> {
    if (mode === "durable") return this.apply(ops);
    const done = this.join(ops);
    if (mode === "background") return done.catch(() => undefined);
    return done;
  }

  /** Resolves once the batch gathered so far is written (or failed): before the store closes. */
  async flush(): Promise<void> {
    await this.batch?.done.catch(() => undefined);
  }

  private async apply(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (COMMIT_DELAY_MS > 0) await new Promise((r) => setTimeout(r, COMMIT_DELAY_MS));
    await this.store?.apply(ops);
  }

  private join(ops: readonly StoreOp[]): Promise<void> {
    let b = this.batch;
    if (!b) {
      const batch: StoreOp[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.batch = undefined;
        return this.apply(batch);
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
