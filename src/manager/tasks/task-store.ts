/**
 * What the task registry keeps in the store: a task's accepted mark (written
 * when it is accepted, replaced by its result), a remote task's start mark
 * (in a keyspace of its own: store op `start_put`, the tasks of one deal at
 * once), and its final result with the lifecycle fields its result cannot tell
 * (stored info). What is rebuilt from them at start is in task-restore.ts.
 *
 * A plain task with no requester (one attempt that completed or failed, no
 * options, outputs, dependencies, parent or user: an environment update, a
 * script) stores no info: the store stays as small as the Python-compatible
 * result (after a restart its record is rebuilt from the result, without its
 * name and worker). A task's user and group, and its parent, are kept:
 * tasks_list filters by them and task_info links parents and children after a
 * restart.
 */
import type { StoreOp } from "../store/types.js";
import type { RemoteIdentity } from "../workers/types.js";
import type { CompletedResult, Dedup, FinalState, KeptCall, TaskRecord } from "./task-record.js";

/** How long an "accepted" mark may stay in the store (it is replaced when the task ends). */
const ACCEPTED_KEPT_SEC = 10 * 365 * 24 * 3600;
/** How soon a final result whose write failed is written again. */
const COMMIT_RETRY_MS = 1000;

/** The stored mark of a task accepted and not ended yet. */
export interface AcceptedMark {
  name: string;
  kind: TaskRecord["kind"];
  background: boolean;
  createdAt: number;
  user?: string | null;
  group?: string | null;
  parent?: string | null;
  /** A function task's call: a delayed one is submitted again, one cut off may be retried. */
  call?: KeptCall;
  /** A task still `scheduled`: when it may start (epoch ms). */
  at?: number;
  dedup?: Dedup;
}

/**
 * Which worker on another host runs which attempt of a task (written in the
 * background when it is dealt there): after a restart or a takeover, only
 * that worker (its RemoteIdentity: name, instance and, with CURVE, key) may
 * take it back. Stored with its name as `worker`, and no `key` without CURVE.
 */
export interface StartMark extends Omit<RemoteIdentity, "name" | "key"> {
  worker: RemoteIdentity["name"];
  key?: NonNullable<RemoteIdentity["key"]>;
  attempt: number;
}

/** A task dealt: its uid and the attempt dealt. */
export interface Dealt {
  id: string;
  attempt: number;
}

/** What a task's accepted mark keeps of it (its call by reference: no copy). */
function acceptedMark(rec: TaskRecord): AcceptedMark {
  return {
    name: rec.name,
    kind: rec.kind,
    background: rec.background,
    createdAt: rec.createdAt,
    ...(rec.user !== null ? { user: rec.user, group: rec.group } : {}),
    ...(rec.parent !== null ? { parent: rec.parent } : {}),
    ...(rec.call ? { call: rec.call } : {}),
    ...(rec.delayed ? { at: rec.delayed.at } : {}),
    ...(rec.dedup ? { dedup: rec.dedup } : {}),
  };
}

/** The lifecycle fields stored beside a final result (see storedInfo). */
export type StoredInfo = Partial<
  Pick<
    TaskRecord,
    | "name"
    | "kind"
    | "background"
    | "state"
    | "createdAt"
    | "attempts"
    | "progress"
    | "message"
    | "outputs"
    | "after"
    | "priority"
    | "runUid"
    | "worker"
    | "user"
    | "group"
    | "parent"
    | "notBefore"
    | "dedup"
    | "retryOf"
  >
>;

/** Where the registry's records go in the store. */
export interface TaskRecordWrites {
  /** Accepted marks of tasks listed elsewhere, removals: no one waits for them. */
  background(ops: StoreOp[]): void;
  /**
   * Final results and accepted marks: resolves once durable (a group commit;
   * `patient`: it may wait a moment for company).
   */
  commit(ops: StoreOp[], patient?: boolean): Promise<void>;
}

/** Where the registry's writes go (nowhere in tests of the registry alone). */
export class TaskStore {
  /** Where accepted marks and removals are written (no one waits for them). */
  private readonly store: ((ops: StoreOp[]) => void) | undefined;
  /**
   * Where final results and accepted marks are written: resolves once they
   * are durable (a group commit with the turn's other writes; `patient`: the
   * commit may wait a moment for company, see writer.ts). Unset: a final
   * state is visible at once.
   */
  private readonly commit: ((ops: StoreOp[], patient?: boolean) => Promise<void>) | undefined;

  constructor(writes: TaskRecordWrites | undefined) {
    if (writes) {
      this.store = (ops) => writes.background(ops);
      this.commit = (ops, patient) => writes.commit(ops, patient);
    }
  }
  private closed = false;
  /** Accepted marks being written: settles once durable (or failed, which is logged). */
  private readonly accepting = new Map<string, Promise<void>>();

  /**
   * The task's accepted mark, written with the turn's other changes (a group
   * commit); its result replaces it. After a crash it becomes a failed result
   * (see task-restore.ts), so an accepted task is never silently lost: the reply that
   * acknowledges it waits for it (whenAccepted).
   */
  writeAccepted(rec: TaskRecord): void {
    const mark = this.markOps(rec);
    if (!this.commit) this.store?.(mark);
    else {
      // Patient: when commits are slow, it waits a moment for the task's result to join it.
      const settled = this.commit(mark, true).then(
        () => undefined,
        () => undefined,
      );
      this.accepting.set(rec.uid, settled);
      void settled.then(() => this.accepting.delete(rec.uid));
    }
  }

  /**
   * A delayed task's time has come: its accepted mark is written again
   * without its start time (so that a restart from now on treats it as any
   * task that was pending or running, rather than submitting it again as
   * scheduled); resolves once durable.
   */
  async rewriteAccepted(rec: TaskRecord): Promise<void> {
    const mark = this.markOps(rec);
    if (!this.commit) return this.store?.(mark);
    for (;;) {
      try {
        return await this.commit(mark);
      } catch {
        if (this.closed) return;
        await new Promise((r) => setTimeout(r, COMMIT_RETRY_MS).unref());
      }
    }
  }

  private markOps(rec: TaskRecord): StoreOp[] {
    return [
      {
        op: "result_put",
        uid: rec.uid,
        result: { accepted: acceptedMark(rec) },
        expiresAt: Math.max(rec.createdAt, rec.notBefore ?? 0) / 1000 + ACCEPTED_KEPT_SEC,
      },
    ];
  }

  /**
   * Tasks dealt to a worker on another host (one deal): their start marks, as
   * one store operation in the background (never awaited: one lost in a
   * crash leaves its task cut off or retried).
   */
  writeStarts(marks: readonly { uid: string; mark: StartMark }[]): void {
    if (marks.length > 0) this.background([{ op: "start_put", marks }]);
  }

  /** The task's start mark is stale (it ended, or runs elsewhere now): its removal. */
  static startGone(uid: string): StoreOp {
    return { op: "start_delete", uid };
  }

  /** Resolves once the task's accepted mark is durable: before a reply acknowledges it. */
  whenAccepted(uid: string): Promise<void> {
    return this.accepting.get(uid) ?? Promise.resolve();
  }

  /**
   * Write the final result of `rec` (with `final`: its state, progress and
   * message as they will be published), then call `then`; at once when
   * nothing is durable here.
   */
  writeFinal(
    rec: TaskRecord,
    result: CompletedResult,
    final: Pick<TaskRecord, "progress" | "message"> & { state: FinalState },
    expiresAt: number,
    then: () => void,
  ): void {
    if (!this.commit) return then();
    const info = storedInfo(rec, result, final);
    let stored: CompletedResult & { info?: StoredInfo } = result;
    if (info !== undefined) {
      // A copy by object rest, then `info` set: `{ ...result, info }` costs V8
      // (Node 20) microseconds (see replyItemOf in handlers.ts).
      const { ...copy }: CompletedResult & { info?: StoredInfo } = result;
      copy.info = info;
      stored = copy;
    }
    const ops: StoreOp[] = [
      { op: "result_put", uid: rec.uid, result: stored, expiresAt: expiresAt / 1000 },
    ];
    if (rec.startMarked) ops.push(TaskStore.startGone(rec.uid));
    this.durably(ops, then);
  }

  /**
   * Write `ops`, then call `then`. A failed write (logged by the writer) is
   * tried again until it succeeds or the store is closed: an outcome that
   * could not be made durable is never reported.
   */
  private durably(ops: StoreOp[], then: () => void): void {
    const commit = this.commit;
    if (!commit) return then();
    commit(ops).then(then, () => {
      if (this.closed) return;
      const t = setTimeout(() => this.durably(ops, then), COMMIT_RETRY_MS);
      t.unref();
    });
  }

  /** Write changes no one waits for. */
  background(ops: StoreOp[]): void {
    if (ops.length > 0) this.store?.(ops);
  }

  /** The results of `uids` are purged (their retention ended): their deletion, in the background. */
  deleteResults(uids: readonly string[]): void {
    this.background(uids.map((uid): StoreOp => ({ op: "result_delete", uid })));
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * The fields of `r` (with `final`: its state, progress and message as they will be
 * published) that `restoredRecord` would not make from its result alone (none: undefined).
 */
function storedInfo(
  r: TaskRecord,
  result: CompletedResult,
  final: Pick<TaskRecord, "state" | "progress" | "message">,
): StoredInfo | undefined {
  const info: StoredInfo = {};
  const ok = result.success;
  if (r.kind !== "function") info.kind = r.kind;
  if (!r.background) info.background = false;
  if (final.state !== (ok ? "completed" : "failed")) info.state = final.state;
  if (r.attempts !== 1) info.attempts = r.attempts;
  if (r.dispatchedAt === undefined || r.createdAt < r.dispatchedAt - 1) {
    info.createdAt = r.createdAt;
  }
  if (final.progress !== (ok ? 100 : 0)) info.progress = final.progress;
  if (final.message !== (ok ? null : result.msg)) info.message = final.message;
  for (const _k in r.outputs) {
    info.outputs = r.outputs;
    break;
  }
  if (r.after.length > 0) info.after = r.after;
  if (r.priority !== 0) info.priority = r.priority;
  if (r.runUid !== null) info.runUid = r.runUid;
  if (r.parent !== null) info.parent = r.parent;
  if (r.notBefore !== undefined) info.notBefore = r.notBefore;
  if (r.dedup) info.dedup = r.dedup;
  if (r.retryOf !== null) info.retryOf = r.retryOf;
  // Who asked is kept so that tasks_list can filter by user after a restart.
  if (r.user !== null) {
    info.user = r.user;
    info.group = r.group;
  }
  for (const _k in info) {
    info.name = r.name;
    if (r.worker !== null) info.worker = r.worker;
    return info;
  }
  return undefined;
}
