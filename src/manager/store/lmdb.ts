/**
 * The embedded store: one LMDB environment in a directory, with eight named
 * databases in it: "docs" (document name -> JSON text), "history" (sequence
 * number -> JSON text, increasing, so the oldest item has the smallest key),
 * "results" (uid -> JSON text of `{ expiresAt, result }`), "runs" (run uid ->
 * JSON text of its definition), "run_outcomes" (run uid -> outcome string) and
 * "schedules" (schedule uid -> JSON text of the schedule), "idempotency"
 * (key -> JSON text of a remembered reply) and "starts" (task uid -> JSON text
 * of its start mark).
 *
 * `apply` runs all its operations in one LMDB (child) transaction and
 * resolves once that transaction is committed and flushed to disk — or, with
 * `sync: "os"`, once it is committed to the operating system's file cache
 * (LMDB's noSync): it then survives a crash or kill -9 of the manager, not a
 * crash of the machine or a power cut, and a commit costs no disk flush.
 *
 * One manager at a time: `open` takes the directory (lmdb-owner.ts) before it
 * opens the environment, and `close` gives it back.
 */
import fs from "node:fs";
import path from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import {
  causeOf,
  decodeResult,
  decodeRuns,
  decodeSchedules,
  decodeIdempotency,
  decodeStarts,
  encodeOps,
  parseJson,
  type EncodedOp,
} from "./encoding.js";
import { takeDirectory, type DirectoryOwnership } from "./lmdb-owner.js";
import type { StoreLog } from "./owner.js";
import {
  StoreError,
  type DocKey,
  type Store,
  type StoreOp,
  type StoreSnapshot,
  type StoredResult,
  type StoreSync,
} from "./types.js";

export interface LmdbStoreOptions {
  /** The directory of the store; created (with its parents) when missing. */
  storePath: string;
  /** "fsync" (default): a write resolves once flushed to disk; "os": once committed to the OS. */
  sync?: StoreSync | undefined;
  /** Where to say that a store left by a manager that is gone is taken over. */
  log?: StoreLog | undefined;
}

export class LmdbStore implements Store {
  readonly kind = "lmdb";
  readonly location: string;
  private closed = false;

  private constructor(
    location: string,
    private readonly ownership: DirectoryOwnership,
    private readonly root: RootDatabase,
    private readonly docs: Database<string, string>,
    private readonly history: Database<string, number>,
    private readonly results: Database<string, string>,
    private readonly runs: Database<string, string>,
    private readonly runOutcomes: Database<string, string>,
    private readonly schedules: Database<string, string>,
    private readonly idempotency: Database<string, string>,
    private readonly starts: Database<string, string>,
    private readonly sync: StoreSync,
  ) {
    this.location = location;
  }

  /**
   * Open (creating when needed) the store in `storePath`; a StoreError names
   * the path and the cause, a StoreInUseError the manager that owns it.
   */
  static async open(opts: LmdbStoreOptions): Promise<LmdbStore> {
    const dir = path.resolve(opts.storePath);
    let root: RootDatabase | undefined;
    let ownership: DirectoryOwnership | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true });
      // Fail early and clearly on a directory we may not write to.
      fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
      ownership = await takeDirectory(dir, opts.log);
      root = open(dir, {
        noSubdir: false, // a directory even when its name has a dot
        maxDbs: 8,
        noSync: opts.sync === "os",
      });
      const docs = root.openDB<string, string>("docs", { encoding: "string" });
      const history = root.openDB<string, number>("history", { encoding: "string" });
      const results = root.openDB<string, string>("results", { encoding: "string" });
      const runs = root.openDB<string, string>("runs", { encoding: "string" });
      const runOutcomes = root.openDB<string, string>("run_outcomes", { encoding: "string" });
      const schedules = root.openDB<string, string>("schedules", { encoding: "string" });
      const idempotency = root.openDB<string, string>("idempotency", { encoding: "string" });
      const starts = root.openDB<string, string>("starts", { encoding: "string" });
      return new LmdbStore(
        dir,
        ownership,
        root,
        docs,
        history,
        results,
        runs,
        runOutcomes,
        schedules,
        idempotency,
        starts,
        opts.sync ?? "fsync",
      );
    } catch (err) {
      if (root) await root.close().catch(() => undefined);
      await ownership?.release().catch(() => undefined);
      if (err instanceof StoreError) throw err;
      throw new StoreError(`Cannot open the store at ${dir}: ${causeOf(err)}`, { cause: err });
    }
  }

  async load(): Promise<StoreSnapshot> {
    this.checkOpen("read");
    const where = this.location;
    const txn = this.root.useReadTransaction();
    try {
      const docs: StoreSnapshot["docs"] = {};
      for (const { key, value } of this.docs.getRange({ transaction: txn })) {
        docs[key as DocKey] = parseJson(value, `${where} (document ${key})`);
      }
      const history: unknown[] = [];
      for (const { key, value } of this.history.getRange({ transaction: txn })) {
        history.push(parseJson(value, `${where} (history item ${key})`));
      }
      const results: StoredResult[] = [];
      for (const { key, value } of this.results.getRange({ transaction: txn })) {
        results.push(decodeResult(key, value, `${where} (result ${key})`));
      }
      const outcomes = new Map<string, string>();
      for (const { key, value } of this.runOutcomes.getRange({ transaction: txn })) {
        outcomes.set(key, value);
      }
      const defs: [string, string][] = [];
      for (const { key, value } of this.runs.getRange({ transaction: txn }))
        defs.push([key, value]);
      const runs = decodeRuns(defs, outcomes, (uid) => `${where} (run ${uid})`);
      const kept: [string, string][] = [];
      for (const { key, value } of this.schedules.getRange({ transaction: txn }))
        kept.push([key, value]);
      const schedules = decodeSchedules(kept, (uid) => `${where} (schedule ${uid})`);
      const remembered: [string, string][] = [];
      for (const { key, value } of this.idempotency.getRange({ transaction: txn }))
        remembered.push([key, value]);
      const idempotency = decodeIdempotency(remembered, (k) => `${where} (idempotency ${k})`);
      const marks: [string, string][] = [];
      for (const { key, value } of this.starts.getRange({ transaction: txn }))
        marks.push([key, value]);
      const starts = decodeStarts(marks, (uid) => `${where} (start mark ${uid})`);
      return {
        docs,
        history,
        results,
        runs,
        schedules,
        // Only when there are some (the snapshot's shape is the same without).
        ...(idempotency.length > 0 ? { idempotency } : {}),
        ...(starts.length > 0 ? { starts } : {}),
      };
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`Cannot read the store at ${where}: ${causeOf(err)}`, { cause: err });
    } finally {
      txn.done();
    }
  }

  async apply(ops: readonly StoreOp[]): Promise<void> {
    const { durable } = this.applyInSteps(ops);
    await durable;
  }

  /**
   * With `fsync`, a write is committed (visible, and ordered before the next
   * one) before LMDB's overlapping sync flushes it to disk: a writer may begin
   * the next commit while this one is flushed. With `os` both steps are one.
   */
  applyInSteps(ops: readonly StoreOp[]): { committed: Promise<void>; durable: Promise<void> } {
    const failed = (err: unknown): never => {
      throw err instanceof StoreError ? err : storeWriteError(err, this.location);
    };
    let committed: Promise<void>;
    try {
      this.checkOpen("write to");
      const encoded = encodeOps(ops, this.location);
      if (encoded.length === 0 || this.sync === "os") {
        // Nothing to wait for but the commit itself: done on this thread, it
        // costs less than the hand-over to LMDB's writer thread and back. A
        // throw in the middle aborts the transaction.
        if (encoded.length > 0) this.root.transactionSync(() => this.write(encoded));
        committed = Promise.resolve();
        return { committed, durable: committed };
      }
      // A child transaction, so that even an unexpected failure in the
      // middle rolls back the operations before it.
      committed = this.root
        .childTransaction(() => this.write(encoded))
        .then(() => undefined, failed);
    } catch (err) {
      committed = Promise.resolve().then(() => failed(err));
      committed.catch(() => undefined);
      return { committed, durable: committed };
    }
    // The commit resolves when the transaction is visible; LMDB's overlapping
    // sync flushes it to disk after (the flush awaited once it is committed
    // covers it and every commit before it).
    const durable = committed.then(() =>
      Promise.resolve(this.root.flushed).then(() => undefined, failed),
    );
    committed.catch(() => undefined);
    durable.catch(() => undefined);
    return { committed, durable };
  }

  /** Runs inside the write transaction. */
  private write(ops: readonly EncodedOp[]): void {
    let nextSeq: number | undefined;
    for (const op of ops) {
      switch (op.op) {
        case "set":
          void this.docs.put(op.key, op.json);
          break;
        case "delete":
          void this.docs.remove(op.key);
          break;
        case "history_push":
          if (nextSeq === undefined) {
            let last = 0;
            for (const key of this.history.getKeys({ reverse: true, limit: 1 })) last = key;
            nextSeq = last + 1;
          }
          void this.history.put(nextSeq++, op.json);
          break;
        case "history_trim": {
          const count = this.history.getCount();
          const drop = count - op.keep;
          if (drop > 0) {
            const keys = Array.from(this.history.getKeys({ limit: drop }));
            for (const key of keys) void this.history.remove(key);
          }
          break;
        }
        case "result_put":
          void this.results.put(op.uid, op.json);
          break;
        case "result_delete":
          void this.results.remove(op.uid);
          break;
        case "run_put":
          void this.runs.put(op.uid, op.json);
          break;
        case "run_outcomes":
          void this.runOutcomes.put(op.uid, op.outcomes);
          break;
        case "run_delete":
          void this.runs.remove(op.uid);
          void this.runOutcomes.remove(op.uid);
          break;
        case "schedule_put":
          void this.schedules.put(op.uid, op.json);
          break;
        case "schedule_delete":
          void this.schedules.remove(op.uid);
          break;
        case "idem_put":
          void this.idempotency.put(op.key, op.json);
          break;
        case "idem_delete":
          void this.idempotency.remove(op.key);
          break;
        case "start_put":
          void this.starts.put(op.uid, op.json);
          break;
        case "start_delete":
          void this.starts.remove(op.uid);
          break;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.root.close();
    } finally {
      await this.ownership.release();
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new StoreError(`Cannot ${what} the store at ${this.location}: closed`);
  }
}

function storeWriteError(err: unknown, location: string): StoreError {
  return new StoreError(`Cannot write to the store at ${location}: ${causeOf(err)}`, {
    cause: err,
  });
}
