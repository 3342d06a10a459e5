/**
 * The task registry: one lifecycle record per task (SPEC §7.1), from the
 * moment the manager accepts it until its result is purged after the
 * retention time (by a timer, whether or not other tasks complete), and the
 * indexes over them (children by parent, running tasks by worker, counts).
 *
 * States: (scheduled →) pending → running → (retrying → running)* → completed | failed |
 * cancelled | timed_out | expired. Every transition is recorded here, so this
 * is where the task events (QS_Task, in order per task), the change marker
 * `task_results_uid`, `worker_background_tasks` and the end of a foreground
 * task (manager back to idle) are made. The lifecycle (lifecycle.ts) decides
 * when a task moves; this file only records it. The events are told by
 * task-events.ts, the counts kept by task-counts.ts; what is stored lives in
 * task-store.ts, what the records answer in task-views.ts, what is rebuilt at
 * start in registry-restore.ts.
 */
import type { TaskInfo, TaskState, TaskStatus } from "../../protocol/index.js";
import type { TaskRegistryContext } from "./context.js";
import { TRACE_TASKS, traceNow } from "../../protocol/task-trace.js";
import type { StoredResult, StoredStart } from "../store/types.js";
import {
  isFinal,
  applyProgress,
  type CompletedResult,
  endResult,
  type EndFields,
  type FinalState,
  newRecord,
  type NewTask,
  type ProgressReport,
  type RunningTask,
  type TaskRecord,
  type TaskStats,
} from "./task-record.js";
import { FinalWaiters, TaskEvents } from "./task-events.js";
import { TaskIndexes } from "./task-indexes.js";
import { TaskCounts } from "./task-counts.js";
import { DedupIndex, dedupScope } from "./dedup.js";
import { REAL_CLOCK } from "../due-timer.js";
import { TaskStore, type AcceptedMark, type Dealt, type StartMark } from "./task-store.js";
import type { HeldTask, ResumedTask } from "./task-restore.js";
import { RegistryRestore } from "./registry-restore.js";
import {
  countsByState,
  taskInfo,
  taskResult,
  taskStatus,
  type TaskResultView,
} from "./task-views.js";

export class TaskRegistry {
  /** Every task known: active ones and final ones within their retention. */
  private readonly records = new Map<string, TaskRecord>();
  /** Children by parent, running tasks by worker, the retention FIFO, purged uids. */
  private readonly ix = new TaskIndexes();
  private readonly timer: NodeJS.Timeout;
  /** Waiting, not ended, background tasks running (task-counts.ts). */
  private readonly counts: TaskCounts;
  /** Where the records are stored (unset in the context: nothing is). */
  private readonly persist: TaskStore;
  /** Who waits for a task's final state to be visible (whenFinal). */
  private readonly finalWaiters = new FinalWaiters();
  /** What the registry tells its subscribers (task-events.ts). */
  readonly events: TaskEvents;
  /** Which task holds each dedup key (dedup.ts). */
  private readonly dedup = new DedupIndex(REAL_CLOCK);
  /** The records rebuilt at start, and what the lifecycle takes of them (registry-restore.ts). */
  private readonly restorer: RegistryRestore;

  constructor(
    private readonly retentionSec: number,
    private readonly ctx: TaskRegistryContext,
  ) {
    this.events = new TaskEvents(ctx.workerInfo);
    this.counts = new TaskCounts(ctx.state);
    this.persist = new TaskStore(ctx.store);
    this.restorer = new RegistryRestore(retentionSec, {
      has: (uid) => this.records.has(uid),
      adoptFinal: (rec, at) => this.adopt(rec, at),
      adoptRunning: (rec) => this.hold(rec),
      purged: (uid) => this.ix.remember(uid),
      background: (ops) => this.persist.background(ops),
      changed: () => this.ctx.state.bump("task_results_uid"),
    });
    const period = Math.min(1000, Math.max(50, (retentionSec * 1000) / 4));
    this.timer = setInterval(() => this.purge(), period);
    this.timer.unref();
  }

  // ---- transitions ---------------------------------------------------------------

  /** A task accepted by the manager: `pending`, or `scheduled` when delayed (task-sent). */
  create(t: NewTask): TaskRecord {
    const rec = newRecord(t, Date.now());
    if (TRACE_TASKS) rec.trace = { accepted: traceNow() };
    this.records.set(rec.uid, rec);
    this.ix.link(rec);
    this.counts.added(rec);
    if (rec.dedup) this.dedup.claim(dedupScope(rec.user, rec.group, rec.dedup.key), rec.uid);
    if (!t.listedElsewhere) this.persist.writeAccepted(rec);
    this.events.sent(rec);
    return rec;
  }

  /**
   * A delayed task's time has come: its accepted mark is written again
   * without its call, durably (a restart from then on does not run it
   * again), then it is `pending` (task-due). False when it is no longer
   * scheduled (cancelled meanwhile).
   */
  async due(uid: string): Promise<boolean> {
    const rec = this.active(uid);
    if (rec?.state !== "scheduled") return false;
    rec.delayed = undefined;
    if (!rec.runUid) await this.persist.rewriteAccepted(rec);
    if (this.active(uid) !== rec || rec.state !== "scheduled") return false;
    this.setState(rec, "pending");
    this.events.task(rec, "task-due", {});
    return true;
  }

  /** The task that holds the dedup key `key` of `user` and `group` now, if any. */
  dedupHolder(user: string | null, group: string | null, key: string): string | undefined {
    return this.dedup.take(dedupScope(user, group, key));
  }

  /** Submissions answered with an earlier task's uid since the start. */
  get deduplicated(): number {
    return this.dedup.deduplicated;
  }

  /** A task handed to the worker at once (script_upload, environment_update). */
  add(task: RunningTask): void {
    this.create(task);
    this.dispatched(task.uid, null, task.time_start * 1000);
  }

  /** Handed to a worker: `running`, one more attempt (task-received). */
  dispatched(uid: string, worker: string | null, at = Date.now()): void {
    const rec = this.active(uid);
    if (!rec) return;
    this.ix.untrack(rec);
    if (rec.startMarked) {
      // Dealt again: the mark of the attempt before is stale (a remote worker writes its own).
      rec.startMarked = false;
      this.persist.background([TaskStore.startGone(uid)]);
    }
    rec.attempts++;
    rec.progress = 0;
    rec.heardStart = false;
    rec.dispatchedAt ??= at;
    if (worker !== null) rec.worker = worker;
    this.setState(rec, "running", at);
    this.ix.track(rec);
    this.events.task(rec, "task-received", { worker: rec.worker });
  }

  /**
   * Dealt to a worker on another host (one deal): which one runs which
   * attempt, stored in the background, one store op for the deal (after a
   * restart only that worker may take it back). Tasks of a run have no mark
   * of their own (restore cuts them off).
   */
  startedRemotely(worker: Omit<StartMark, "attempt">, tasks: readonly Dealt[]): void {
    const marks: { uid: string; mark: StartMark }[] = [];
    for (const { id, attempt } of tasks) {
      const rec = this.active(id);
      if (!rec?.call || rec.runUid !== null) continue;
      rec.startMarked = true;
      marks.push({ uid: id, mark: { ...worker, attempt } });
    }
    this.persist.writeStarts(marks);
  }

  /** The worker began running it (task-started). */
  started(uid: string, worker: string, timeSec: number): void {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return;
    const at = Math.round(timeSec * 1000);
    rec.startedAt ??= at;
    rec.heardStart = true;
    if (rec.worker !== worker) {
      this.ix.untrack(rec);
      rec.worker = worker;
      this.ix.track(rec);
    }
    rec.updatedAt = Date.now();
    this.events.task(rec, "task-started", { worker });
  }

  /** User code reported progress, a message or outputs (task-progress). */
  progress(uid: string, p: ProgressReport): void {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return;
    const ev = applyProgress(rec, p);
    rec.updatedAt = Date.now();
    this.events.task(rec, "task-progress", ev);
  }

  /** Set (or clear) the message of a waiting task (why it waits); no event. */
  note(uid: string, message: string | null): void {
    const rec = this.active(uid);
    if (!rec) return;
    rec.message = message;
    rec.updatedAt = Date.now();
  }

  /**
   * Dealt ahead to a worker that was lost before starting it: `pending` again,
   * that attempt not counted (task-requeued).
   */
  undealt(uid: string, reason: string): void {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return;
    rec.attempts = Math.max(0, rec.attempts - 1);
    rec.progress = 0;
    this.setState(rec, "pending");
    rec.message = `Waiting again: ${reason} before it started the task`;
    this.events.task(rec, "task-requeued", { reason });
    // As if never dealt: it names no worker until it is dealt again.
    rec.worker = null;
  }

  /** An attempt failed and another follows after `delaySec` (task-retried). */
  retrying(uid: string, reason: string, delaySec: number): void {
    const rec = this.active(uid);
    if (!rec) return;
    this.setState(rec, "retrying");
    rec.message = `Attempt ${rec.attempts} failed (${reason}); retrying in ${delaySec.toFixed(2)} s`;
    this.events.task(rec, "task-retried", { reason, retry_in: delaySec });
  }

  /**
   * The task ends in a final state. Its result is written with the other
   * writes of this turn (one store transaction: a group commit), and the
   * final state becomes visible (replies, the QS_Task event, `final`, the
   * counts, the end of a foreground task) only once that write is durable, so
   * that no crash can take back an outcome already reported. Meanwhile the
   * task is `ending`: still running to every view, closed to every transition.
   */
  finish(uid: string, state: FinalState, f: EndFields): void {
    const rec = this.active(uid);
    if (!rec) return;
    const now = Date.now();
    const result = endResult(rec, state, f, now);
    rec.ending = true;
    this.ix.untrack(rec);
    const expiresAt = now + this.retentionSec * 1000;
    // The fields as they will be published (state, progress, message), for the stored info.
    const final = {
      state,
      progress: state === "completed" ? 100 : rec.progress,
      message: state === "completed" ? rec.message : f.msg,
    };
    this.persist.writeFinal(rec, result, final, expiresAt, () =>
      this.publish(rec, state, result, now, expiresAt, f.msg),
    );
  }

  /** The final state becomes visible: the record, the counts, the events. */
  private publish(
    rec: TaskRecord,
    state: FinalState,
    result: CompletedResult,
    now: number,
    expiresAt: number,
    msg: string,
  ): void {
    if (this.records.get(rec.uid) !== rec) return;
    if (rec.trace) rec.trace.visible = traceNow();
    rec.ending = false;
    rec.result = result;
    rec.stopping = undefined;
    rec.endedAt = now;
    if (state === "completed") rec.progress = 100;
    else rec.message = msg;
    this.setState(rec, state, now);
    this.counts.ended();
    this.ix.keep(rec.uid, expiresAt);
    if (rec.dedup) {
      const key = dedupScope(rec.user, rec.group, rec.dedup.key);
      this.dedup.ended(key, rec.uid, now + rec.dedup.ttl * 1000);
    }
    this.ctx.state.bump("task_results_uid");
    this.events.ended(rec, state, now, msg);
    if (!rec.background)
      this.ctx.activity.endIf("executing_task", { worker_environment_state: "idle" });
    this.events.emit("final", rec);
    this.finalWaiters.ended(rec.uid);
  }

  /** Mark a running task as being stopped; it ends in `state` whatever its code reports. */
  requestStop(uid: string, state: "cancelled" | "timed_out", msg: string): boolean {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return false;
    if (rec.stopping) return true;
    rec.stopping = { state, msg };
    rec.updatedAt = Date.now();
    this.events.emit("stopping", rec);
    return true;
  }

  /** A task being stopped: more of why it ends the way it will (its final message). */
  extendStop(uid: string, more: string): void {
    const rec = this.active(uid);
    if (rec?.stopping) rec.stopping.msg += more;
  }

  /** A timing mark of the task (now, unless `at`); nothing unless ZQS_TRACE_TASKS=1. */
  mark(uid: string, name: string, at?: number): void {
    if (!TRACE_TASKS) return;
    const trace = this.records.get(uid)?.trace;
    if (trace) trace[name] = at ?? traceNow();
  }

  /** Resolves once the task's accepted mark is durable: before a reply acknowledges it. */
  whenAccepted(uid: string): Promise<void> {
    return this.persist.whenAccepted(uid);
  }

  /** Resolves once the task's final state is visible (at once when it is, or is unknown). */
  whenFinal(uid: string): Promise<void> {
    const r = this.records.get(uid);
    if (!r || isFinal(r.state)) return Promise.resolve();
    return this.finalWaiters.wait(uid);
  }

  /** The task has ended and its outcome is being made durable (not visible yet). */
  isEnding(uid: string): boolean {
    return this.records.get(uid)?.ending === true;
  }

  private setState(rec: TaskRecord, state: TaskState, at = Date.now()): void {
    const prev = rec.state;
    this.counts.moved(rec, prev, state);
    if (prev === "running" && state !== "running") this.ix.untrack(rec);
    rec.state = state;
    rec.updatedAt = at;
  }

  // ---- restart (registry-restore.ts) ------------------------------------------------

  restore = (stored: readonly StoredResult[], starts?: readonly StoredStart[]): void =>
    this.restorer.restore(stored, starts);
  restoreCutOff = (listed: readonly { uid: string; accepted: AcceptedMark }[]): void =>
    this.restorer.restoreCutOff(listed);
  takeResumable = (): ResumedTask[] => this.restorer.takeResumable();
  takeHeld = (): HeldTask[] => this.restorer.takeHeld();

  /** A record found running at start (see heldRecord in registry-restore.ts). */
  private hold(rec: TaskRecord): void {
    this.records.set(rec.uid, rec);
    this.ix.link(rec);
    this.counts.added(rec);
    if (rec.dedup) this.dedup.claim(dedupScope(rec.user, rec.group, rec.dedup.key), rec.uid);
  }

  /** A final record rebuilt from the store, kept until `at`. */
  private adopt(rec: TaskRecord, at: number): void {
    this.records.set(rec.uid, rec);
    this.ix.link(rec);
    this.ix.keep(rec.uid, at);
    if (rec.dedup && rec.result) {
      const key = dedupScope(rec.user, rec.group, rec.dedup.key);
      this.dedup.restoreEnded(key, rec.uid, rec.result.time_stop * 1000 + rec.dedup.ttl * 1000);
    }
  }

  // ---- records and indexes ----------------------------------------------------------

  get(uid: string): TaskRecord | undefined {
    return this.records.get(uid);
  }

  /** The record of a task that has not ended yet (nor is ending: its outcome is decided). */
  active(uid: string): TaskRecord | undefined {
    const r = this.records.get(uid);
    return r && !r.ending && !isFinal(r.state) ? r : undefined;
  }

  /** Every record known (active, and final within retention), in no order. */
  all(): IterableIterator<TaskRecord> {
    return this.records.values();
  }

  /** The uids of the tasks that retry `uid` (task_retry) still known, in order. */
  retriesOfTask(uid: string): string[] {
    return this.ix.retriesOfTask(uid);
  }

  /** The uids of the subtasks of `parent` still known, in the order they were submitted. */
  childrenOfTask(parent: string): string[] {
    return this.ix.childrenOfTask(parent);
  }

  /** Records that have not ended (scheduled, pending, running, retrying), nor are ending. */
  activeRecords(): TaskRecord[] {
    return [...this.records.values()].filter((r) => !r.ending && !isFinal(r.state));
  }

  /** The records running on `worker` (null: those handed to the worker at once), not ending. */
  runningOn(worker: string | null): TaskRecord[] {
    return this.ix.runningOn(worker);
  }

  /** The record's uid was known and its result has been purged. */
  wasPurged(uid: string): boolean {
    return this.ix.wasPurged(uid);
  }

  // The read views (task-views.ts).
  status = (uid: string): TaskStatus => taskStatus(this, uid);
  result = (uid: string): TaskResultView => taskResult(this, uid);
  info = (uid: string, stats: TaskStats): TaskInfo => taskInfo(this, uid, stats);
  countsByState = (): Record<TaskState, number> => countsByState(this);

  /** Tasks waiting to run (pending or retrying). */
  get waitingCount(): number {
    return this.counts.waiting;
  }

  /** Tasks that have not ended. */
  get runningCount(): number {
    return this.counts.active;
  }

  /** Drop results whose retention ended. */
  purge(now = Date.now()): void {
    const gone: string[] = [];
    for (const uid of this.ix.due(now)) {
      const r = this.records.get(uid);
      if (!r || !isFinal(r.state)) continue;
      this.records.delete(uid);
      this.ix.unlink(r);
      this.ix.remember(uid);
      gone.push(uid);
    }
    if (gone.length === 0) return;
    // What stands for a purged result (a run's outcome string) is written first.
    this.events.emit("purging");
    this.persist.deleteResults(gone);
  }

  close(): void {
    this.persist.close();
    this.dedup.close();
    clearInterval(this.timer);
  }
}
