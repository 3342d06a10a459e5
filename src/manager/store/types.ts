/**
 * The store: what survives a restart of the manager (queue, history, running
 * item, queue mode, permissions, lock, completed task results, start marks, runs, schedules). One
 * interface, two implementations (embedded LMDB, Redis). The manager keeps
 * the live copy in memory and sends every change here as a list of
 * operations, applied atomically and durably before the reply says success.
 * Values are plain JSON-compatible data. A store has one owner: opening it
 * takes it (see owner.ts) or fails with a StoreInUseError naming its owner.
 */

/**
 * When a write to the embedded store counts as done (`--store-sync`): once
 * flushed to disk, or once committed to the operating system (it then
 * survives a crash of the manager, not of the machine).
 */
export const STORE_SYNCS = ["fsync", "os"] as const;
export type StoreSync = (typeof STORE_SYNCS)[number];

/** Single documents, each written whole. */
export type DocKey =
  | "queue" // the plan queue: an array of items, front first
  | "running_item" // the item being executed (absent when none)
  | "queue_mode" // { loop, ignore_failures }
  | "queue_autostart" // boolean
  | "permissions" // the permissions document in use (absent: load the file)
  | "lock" // the lock record, with a hash of the key (absent: unlocked)
  | "environment_content" // the plans and devices the worker found last
  | "environment_open" // true while the environment is open (a manager taking over opens it)
  | "startup_fingerprint"; // the hash of the startup code the lists were read from at start

export type StoreOp =
  | { op: "set"; key: DocKey; value: unknown }
  | { op: "delete"; key: DocKey }
  /** Append one item at the end (newest) of the history. */
  | { op: "history_push"; item: unknown }
  /** Keep only the newest `keep` items of the history (0: clear it). */
  | { op: "history_trim"; keep: number }
  /** A completed task result, kept until `expiresAt` (epoch seconds). */
  | { op: "result_put"; uid: string; result: unknown; expiresAt: number }
  | { op: "result_delete"; uid: string }
  /**
   * The definition of a run (name, user, calls, the task uid of each index...),
   * written whole at run_create and run_restart; a JSON object.
   */
  | { op: "run_put"; uid: string; run: unknown }
  /**
   * The outcome of each index of a run, one character per index ("d" done,
   * "f" failed, "-" not ended): a compact record that outlives the task results.
   */
  | { op: "run_outcomes"; uid: string; outcomes: string }
  /** Forget a run: its definition and its outcomes. */
  | { op: "run_delete"; uid: string }
  /** A schedule (schedule_create...), written whole at each change and fire; a JSON object. */
  | { op: "schedule_put"; uid: string; schedule: unknown }
  | { op: "schedule_delete"; uid: string }
  /**
   * The remembered reply to a request sent with an idempotency key (a JSON
   * object: method, reply or pending, expiresAt); written whole.
   */
  | { op: "idem_put"; key: string; record: unknown }
  | { op: "idem_delete"; key: string }
  /**
   * Start marks (a JSON object each: which worker on another host runs which
   * attempt of a task), kept in a keyspace of their own by task uid; the
   * tasks of one deal are written as one operation.
   */
  | { op: "start_put"; marks: readonly StoredStart[] }
  | { op: "start_delete"; uid: string };

export interface StoredResult {
  uid: string;
  result: unknown;
  expiresAt: number;
}

/** A task's start mark, by its uid. */
export interface StoredStart {
  uid: string;
  mark: unknown;
}

/** A stored run: its definition, and its outcomes when they were written. */
export interface StoredRun {
  uid: string;
  run: unknown;
  outcomes?: string;
}

/** A stored schedule. */
export interface StoredSchedule {
  uid: string;
  schedule: unknown;
}

/** Everything the store holds, read once at start. */
export interface StoreSnapshot {
  docs: Partial<Record<DocKey, unknown>>;
  /** Oldest first. */
  history: unknown[];
  results: StoredResult[];
  /** Runs with a definition (outcomes without one are left out). */
  runs: StoredRun[];
  /** The schedules, as they were last written. */
  schedules: StoredSchedule[];
  /** The remembered replies of requests with an idempotency key (absent: none). */
  idempotency?: { key: string; record: unknown }[];
  /** The start marks of tasks dealt to workers on other hosts (absent: none). */
  starts?: StoredStart[];
}

export interface Store {
  /** "lmdb" or "redis", for logs and status. */
  readonly kind: string;
  /** Where it lives (a path, or host:port with the name prefix), for logs. */
  readonly location: string;
  /** Read everything (used once at start). */
  load(): Promise<StoreSnapshot>;
  /** Apply the operations in order, all or none, durably. */
  apply(ops: readonly StoreOp[]): Promise<void>;
  /**
   * The same in two steps, for a store that makes a write durable after it
   * is committed (LMDB flushing to disk): `committed` once the operations are
   * written (the next write may begin: it is ordered after them), `durable`
   * once they are as durable as `apply` makes them. Absent: use `apply`.
   */
  applyInSteps?(ops: readonly StoreOp[]): { committed: Promise<void>; durable: Promise<void> };
  /**
   * Set by the manager: called once when another manager has taken the store
   * (Redis: the lease was lost), with why; every write fails from then on.
   */
  onOwnershipLost?: ((why: string) => void) | undefined;
  /** Release the store (its owner record or lease) and close it. */
  close(): Promise<void>;
}

/**
 * How a write reaches the store (writer.ts): `durable` now, on its own;
 * `batched` with the turn's other writes, awaited; `background`, no one waits.
 */
export type WriteMode = "durable" | "batched" | "background";

/** The one write path (StoreWriter), as other areas are given it. */
export interface StoreWrites {
  /** `patient` (batched only): may wait a little for company when commits are slow. */
  write(ops: readonly StoreOp[], how: { mode: WriteMode; patient?: boolean }): Promise<void>;
}

/** Thrown when a store cannot be opened or written; the message names the place and the cause. */
export class StoreError extends Error {
  override name = "StoreError";
}
