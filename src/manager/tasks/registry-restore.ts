/**
 * The task registry at start (registry.ts): it takes the stored results
 * (task-restore.ts makes records of them) and gives the registry its
 * rebuilt records — final ones within their retention, those found running —
 * and keeps, for the lifecycle to take once, the delayed tasks to submit again
 * and the tasks found running. The registry only adds the records to its
 * indexes (RestoredRecords).
 */
import type { StoreOp, StoredResult, StoredStart } from "../store/types.js";
import { newRecord, type TaskRecord } from "./task-record.js";
import type { AcceptedMark } from "./task-store.js";
import { cutOff, restoreResults, type HeldTask, type ResumedTask } from "./task-restore.js";

/** Where the records rebuilt at start go (the registry). */
export interface RestoredRecords {
  /** A record of this uid is known. */
  has(uid: string): boolean;
  /** A final record rebuilt from the store, kept until `at` (epoch ms). */
  adoptFinal(rec: TaskRecord, at: number): void;
  /** A record found running at start (see heldRecord). */
  adoptRunning(rec: TaskRecord): void;
  /** A uid whose result's retention ended while the manager was stopped. */
  purged(uid: string): void;
  /** Store writes no one waits for. */
  background(ops: StoreOp[]): void;
  /** The results changed (task_results_uid). */
  changed(): void;
}

export class RegistryRestore {
  /** Delayed tasks found `scheduled` in the store at start, to be submitted again (takeResumable). */
  private resumable: ResumedTask[] = [];
  /** Function tasks found running at start (their records `running`), for the lifecycle (takeHeld). */
  private held: HeldTask[] = [];

  constructor(
    private readonly retentionSec: number,
    private readonly to: RestoredRecords,
  ) {}

  /** Take the stored results and start marks at start (see restoreResults in task-restore.ts). */
  restore(stored: readonly StoredResult[], starts: readonly StoredStart[] = []): void {
    const now = Date.now();
    const { kept, gone, ops, resume, held } = restoreResults(
      stored,
      starts,
      this.retentionSec,
      now,
    );
    this.resumable = resume;
    this.held = held;
    for (const uid of gone) this.to.purged(uid);
    for (const { rec, at } of kept) this.to.adoptFinal(rec, at);
    for (const h of held) this.to.adoptRunning(heldRecord(h));
    this.to.background(ops);
    if (stored.length > 0) this.to.changed();
  }

  /**
   * At start, after `restore`: the tasks listed by a durable record of their
   * own (a run's definition, see NewTask.listedElsewhere) that have no stored
   * result were cut off by the stop: each becomes a failed result saying so
   * (one store write for all).
   */
  restoreCutOff(listed: readonly { uid: string; accepted: AcceptedMark }[]): void {
    const now = Date.now();
    const cut = listed.filter((l) => !this.to.has(l.uid));
    if (cut.length === 0) return;
    const all = cut.map((l) => cutOff(l.uid, l.accepted, this.retentionSec, now));
    for (const c of all) this.to.adoptFinal(c.rec, c.at);
    this.to.background(all.map((c) => c.op));
    this.to.changed();
  }

  /** The delayed tasks found scheduled at start (once): the lifecycle submits them again. */
  takeResumable(): ResumedTask[] {
    const r = this.resumable;
    this.resumable = [];
    return r;
  }

  /**
   * The function tasks found running at start (once): their records are
   * `running` on no worker yet; the lifecycle waits for their workers to take
   * them back, or retries or ends them.
   */
  takeHeld(): HeldTask[] {
    const h = this.held;
    this.held = [];
    return h;
  }
}

/**
 * The record of a function task that ran when the manager stopped: `running`
 * (its attempt the start mark's), on no worker until one takes it back
 * (`started`); not in any worker's set meanwhile, so that no loss of a worker
 * touches it.
 */
function heldRecord({ uid, accepted: a, start }: HeldTask): TaskRecord {
  const o = a.call.options as { after?: string[]; priority?: number };
  const rec = newRecord(
    {
      uid,
      name: a.name,
      kind: a.kind,
      background: a.background,
      after: o.after ?? [],
      priority: o.priority ?? 0,
      user: a.user ?? null,
      group: a.group ?? null,
      parent: a.parent ?? null,
      createdAt: a.createdAt,
      call: a.call,
      ...(a.dedup ? { dedup: a.dedup } : {}),
    },
    Date.now(),
  );
  rec.state = "running";
  rec.attempts = start?.attempt ?? 1;
  rec.dispatchedAt = a.createdAt;
  rec.heardStart = true;
  rec.startMarked = start !== undefined;
  return rec;
}
