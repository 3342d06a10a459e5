/**
 * The task registry: one lifecycle record per task (SPEC §7.1), from the
 * moment the manager accepts it until its result is purged after the
 * retention time (by a timer, whether or not other tasks complete).
 *
 * States: pending → running → (retrying → running)* → completed | failed |
 * cancelled | timed_out | expired. Every transition goes through here, so
 * this is where the task events (QS_Task, in order per task), the change
 * marker `task_results_uid`, `worker_background_tasks` and the end of a
 * foreground task (manager back to idle) are made. The scheduler
 * (scheduler.ts) decides when a task moves; this file only records it.
 *
 * `task_status`/`task_result` keep the Python server's three values: every
 * non-final state is `running`, every final one `completed`. A purged UID is
 * remembered (a bounded memory) so that `task_info` can answer `expired`
 * rather than `not_found`.
 */
import { EventEmitter } from "node:events";
import type { TaskInfo, TaskState, TaskStatus } from "../../protocol/index.js";
import { TASK_STATES } from "../../protocol/index.js";
import type { TaskRegistryContext } from "./context.js";
import { TRACE_TASKS, traceNow, type TaskTrace } from "../../protocol/task-trace.js";
import type { StoreOp, StoredResult } from "../store/types.js";

/** What `add()` takes: a task handed to the worker at once (script uploads, environment updates). */
export interface RunningTask {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  /** Seconds since the epoch. */
  time_start: number;
}

/** A new task as the scheduler creates it (pending until it is dispatched). */
export interface NewTask {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  after?: string[];
  priority?: number;
  /** The run it belongs to. */
  runUid?: string;
  /** Who asked for it (function_execute's user and group; a subtask's are its parent's). */
  user?: string | null;
  group?: string | null;
  /** The task (or plan item) that submitted it as a subtask. */
  parent?: string | null;
  /**
   * No accepted mark of its own: a durable record written before the reply
   * lists it (a run's definition), and restore cuts it off from there (see
   * `restoreCutOff`).
   */
  listedElsewhere?: boolean;
}

export interface CompletedResult {
  task_uid: string;
  success: boolean;
  msg: string;
  traceback: string;
  return_value: unknown;
  time_start: number;
  time_stop: number;
}

export type FinalState = "completed" | "failed" | "cancelled" | "timed_out" | "expired";
export const FINAL_STATES: readonly TaskState[] = [
  "completed",
  "failed",
  "cancelled",
  "timed_out",
  "expired",
];

export function isFinal(state: TaskState): state is FinalState {
  return FINAL_STATES.includes(state);
}

export interface TaskRecord {
  uid: string;
  name: string;
  kind: "function" | "script";
  background: boolean;
  state: TaskState;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When it was first handed to a worker (the `time_start` of its result). */
  dispatchedAt: number | undefined;
  /** When the worker began its first attempt. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  updatedAt: number;
  attempts: number;
  progress: number;
  message: string | null;
  outputs: Record<string, unknown>;
  after: string[];
  priority: number;
  /** The run it belongs to (run_create), or null. */
  runUid: string | null;
  /** The worker process that runs (ran) it. */
  worker: string | null;
  /** It has ended and its result is being written: final once durable (see finish). */
  ending: boolean;
  user: string | null;
  group: string | null;
  /** The task or plan item that submitted it (subtasks), or null. */
  parent: string | null;
  /** A stop was asked for (cancel, timeout): the state it ends in, and why. */
  stopping: { state: "cancelled" | "timed_out"; msg: string } | undefined;
  result: CompletedResult | undefined;
  /** Timing marks along its path (only with ZQS_TRACE_TASKS=1; see task-trace.ts). */
  trace?: TaskTrace;
}

/**
 * What a final record keeps in the store beside its result: the lifecycle
 * fields its result cannot tell, defaults left out. A plain task with no
 * requester (one attempt that completed or failed, no options, outputs,
 * dependencies, parent or user: an environment update, a script) stores none:
 * the store stays as small as the Python-compatible result (after a restart
 * its record is rebuilt from the result, without its name and worker). A
 * task's user and group, and its parent, are kept: tasks_list filters by
 * them and task_info links parents and children after a restart.
 */
/** How long an "accepted" mark may stay in the store (it is replaced when the task ends). */
const ACCEPTED_KEPT_SEC = 10 * 365 * 24 * 3600;

/** The stored mark of a task accepted and not ended yet. */
export interface AcceptedMark {
  name: string;
  kind: TaskRecord["kind"];
  background: boolean;
  createdAt: number;
  user?: string | null;
  group?: string | null;
  parent?: string | null;
}

/** What a task's accepted mark keeps of it. */
function acceptedMark(rec: TaskRecord): AcceptedMark {
  return {
    name: rec.name,
    kind: rec.kind,
    background: rec.background,
    createdAt: rec.createdAt,
    ...(rec.user !== null ? { user: rec.user, group: rec.group } : {}),
    ...(rec.parent !== null ? { parent: rec.parent } : {}),
  };
}

type StoredInfo = Partial<
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
  >
>;

export interface TaskStats {
  queue_depth: number;
  active_workers: number;
}

/** Outcome fields of a task that ends. */
export interface EndFields {
  msg: string;
  traceback?: string;
  return_value?: unknown;
  /** Epoch seconds (default now). */
  time_stop?: number;
}

const PURGED_MEMORY = 100_000;
/** How soon a final result whose write failed is written again. */
const COMMIT_RETRY_MS = 1000;

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

const EVENT_OF_FINAL: Record<FinalState, string> = {
  completed: "task-succeeded",
  failed: "task-failed",
  cancelled: "task-revoked",
  timed_out: "task-timeout",
  expired: "task-expired",
};

export interface TaskRegistryEvents {
  task: [Record<string, unknown>];
  final: [TaskRecord];
  /** A running task was asked to stop (cancel, timeout): it will end in `stopping.state`. */
  stopping: [TaskRecord];
  /** Results are about to be deleted after their retention (written right after). */
  purging: [];
}

export class TaskRegistry {
  /** Every task known: active ones and final ones within their retention. */
  private readonly records = new Map<string, TaskRecord>();
  /** Completion order: uids with their expiry time (monotonic in time). */
  private readonly expiry: { uid: string; at: number }[] = [];
  private expiryHead = 0;
  /** UIDs whose records were purged (insertion order: the oldest are forgotten first). */
  private readonly purged = new Set<string>();
  /** Parent uid (a task or a plan item) → its subtasks' uids, in the order they were submitted. */
  private readonly childrenOf = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;
  private background = 0;
  private waiting = 0;
  private activeCount = 0;
  private finalCount = 0;
  /** The host and pid of a worker (QS_Task events name where a task runs). */
  workerInfo:
    ((worker: string) => { hostname: string; pid: number | null } | undefined) | undefined;
  /** Where accepted marks and removals are written (no one waits for them). */
  store: ((ops: StoreOp[]) => void) | undefined;
  /**
   * Where final results and accepted marks are written: resolves once they
   * are durable (a group commit with the turn's other writes; `patient`: the
   * commit may wait a moment for company, see writer.ts). Unset (tests of the
   * registry alone): a final state is visible at once.
   */
  commit: ((ops: StoreOp[], patient?: boolean) => Promise<void>) | undefined;
  private closed = false;
  /** Accepted marks being written: settles once durable (or failed, which is logged). */
  private readonly accepting = new Map<string, Promise<void>>();
  /** Who waits for a task's final state to be visible (whenFinal). */
  private readonly finalWaiters = new Map<string, (() => void)[]>();
  /**
   * What the registry tells its subscribers: `task`, every task event (QS_Task:
   * `{event, task_uid, ...}`); `final`, every record that reaches a final state
   * (after it is recorded).
   */
  readonly events = new EventEmitter<TaskRegistryEvents>();

  private readonly state: TaskRegistryContext["state"];
  private readonly activity: TaskRegistryContext["activity"];

  constructor(
    private readonly retentionSec: number,
    ctx: TaskRegistryContext,
  ) {
    this.state = ctx.state;
    this.activity = ctx.activity;
    const period = Math.min(1000, Math.max(50, (retentionSec * 1000) / 4));
    this.timer = setInterval(() => this.purge(), period);
    this.timer.unref();
  }

  // ---- transitions ---------------------------------------------------------------

  /** A task accepted by the manager: `pending` (task-sent). */
  create(t: NewTask): TaskRecord {
    const now = Date.now();
    const rec: TaskRecord = {
      uid: t.uid,
      name: t.name,
      kind: t.kind,
      background: t.background,
      state: "pending",
      createdAt: now,
      dispatchedAt: undefined,
      startedAt: undefined,
      endedAt: undefined,
      updatedAt: now,
      attempts: 0,
      progress: 0,
      message: null,
      outputs: {},
      after: t.after ?? [],
      priority: t.priority ?? 0,
      runUid: t.runUid ?? null,
      worker: null,
      ending: false,
      user: t.user ?? null,
      group: t.group ?? null,
      parent: t.parent ?? null,
      stopping: undefined,
      result: undefined,
    };
    if (TRACE_TASKS) rec.trace = { accepted: traceNow() };
    this.records.set(rec.uid, rec);
    this.link(rec);
    this.activeCount++;
    this.waiting++;
    if (!t.listedElsewhere) this.writeAcceptedMark(rec);
    this.emit(rec, "task-sent", {
      background: rec.background,
      after: rec.after,
      priority: rec.priority,
    });
    return rec;
  }

  /**
   * The task's accepted mark, written with the turn's other changes (a group
   * commit); its result replaces it. After a crash it becomes a failed result
   * (see restore), so an accepted task is never silently lost: the reply that
   * acknowledges it waits for it (whenAccepted).
   */
  private writeAcceptedMark(rec: TaskRecord): void {
    const mark: StoreOp[] = [
      {
        op: "result_put",
        uid: rec.uid,
        result: { accepted: acceptedMark(rec) },
        expiresAt: rec.createdAt / 1000 + ACCEPTED_KEPT_SEC,
      },
    ];
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

  /** A task handed to the worker at once (script_upload, environment_update). */
  add(task: RunningTask): void {
    this.create(task);
    this.dispatched(task.uid, null, task.time_start * 1000);
  }

  /** Handed to a worker: `running`, one more attempt (task-received). */
  dispatched(uid: string, worker: string | null, at = Date.now()): void {
    const rec = this.active(uid);
    if (!rec) return;
    rec.attempts++;
    rec.progress = 0;
    rec.dispatchedAt ??= at;
    if (worker !== null) rec.worker = worker;
    this.setState(rec, "running", at);
    this.emit(rec, "task-received", { worker: rec.worker });
  }

  /** The worker began running it (task-started). */
  started(uid: string, worker: string, timeSec: number): void {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return;
    const at = Math.round(timeSec * 1000);
    rec.startedAt ??= at;
    rec.worker = worker;
    rec.updatedAt = Date.now();
    this.emit(rec, "task-started", { worker });
  }

  /** User code reported progress, a message or outputs (task-progress). */
  progress(
    uid: string,
    p: { progress?: number; message?: string; outputs?: Record<string, unknown> },
  ): void {
    const rec = this.active(uid);
    if (!rec || rec.state !== "running") return;
    const ev: Record<string, unknown> = {};
    if (p.progress !== undefined && Number.isFinite(p.progress)) {
      rec.progress = Math.max(0, Math.min(100, p.progress));
      ev.progress = rec.progress;
    }
    if (p.message !== undefined) {
      rec.message = p.message;
      ev.message = p.message;
    }
    if (p.outputs) {
      Object.assign(rec.outputs, p.outputs);
      ev.outputs = p.outputs;
    }
    rec.updatedAt = Date.now();
    this.emit(rec, "task-progress", ev);
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
    this.emit(rec, "task-requeued", { reason });
  }

  /** An attempt failed and another follows after `delaySec` (task-retried). */
  retrying(uid: string, reason: string, delaySec: number): void {
    const rec = this.active(uid);
    if (!rec) return;
    this.setState(rec, "retrying");
    rec.message = `Attempt ${rec.attempts} failed (${reason}); retrying in ${delaySec.toFixed(2)} s`;
    this.emit(rec, "task-retried", { reason, retry_in: delaySec });
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
    const time_stop = f.time_stop ?? now / 1000;
    const result: CompletedResult = {
      task_uid: uid,
      success: state === "completed",
      msg: f.msg,
      traceback: f.traceback ?? "",
      return_value: state === "completed" ? (f.return_value ?? null) : null,
      time_start: (rec.dispatchedAt ?? rec.createdAt) / 1000,
      time_stop,
    };
    rec.ending = true;
    const expiresAt = now + this.retentionSec * 1000;
    const publish = (): void => this.publish(rec, state, result, now, expiresAt, f.msg);
    if (!this.commit) return publish();
    // The fields as they will be published (state, progress, message), for storedInfo.
    const info = storedInfo(rec, result, {
      state,
      progress: state === "completed" ? 100 : rec.progress,
      message: state === "completed" ? rec.message : f.msg,
    });
    this.durably(
      [
        {
          op: "result_put",
          uid,
          result: info === undefined ? result : { ...result, info },
          expiresAt: expiresAt / 1000,
        },
      ],
      publish,
    );
  }

  /**
   * Write `ops`, then call `then`. A failed write (logged by the writer) is
   * tried again until it succeeds or the registry is closed: an outcome that
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
    this.activeCount--;
    this.finalCount++;
    this.keep(rec.uid, expiresAt);
    this.state.bump("task_results_uid");
    const extra: Record<string, unknown> = {
      runtime: rec.startedAt !== undefined ? Math.max(0, now - rec.startedAt) / 1000 : null,
    };
    if (state !== "completed") extra.msg = msg;
    this.emit(rec, EVENT_OF_FINAL[state], extra);
    if (!rec.background)
      this.activity.endIf("executing_task", { worker_environment_state: "idle" });
    this.events.emit("final", rec);
    const waiters = this.finalWaiters.get(rec.uid);
    if (waiters) {
      this.finalWaiters.delete(rec.uid);
      for (const w of waiters) w();
    }
  }

  /** A timing mark of the task (now, unless `at`); nothing unless ZQS_TRACE_TASKS=1. */
  mark(uid: string, name: string, at?: number): void {
    if (!TRACE_TASKS) return;
    const trace = this.records.get(uid)?.trace;
    if (trace) trace[name] = at ?? traceNow();
  }

  /** Resolves once the task's accepted mark is durable: before a reply acknowledges it. */
  whenAccepted(uid: string): Promise<void> {
    return this.accepting.get(uid) ?? Promise.resolve();
  }

  /** Resolves once the task's final state is visible (at once when it is, or is unknown). */
  whenFinal(uid: string): Promise<void> {
    const r = this.records.get(uid);
    if (!r || isFinal(r.state)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.finalWaiters.get(uid);
      if (list) list.push(resolve);
      else this.finalWaiters.set(uid, [resolve]);
    });
  }

  /** The task has ended and its outcome is being made durable (not visible yet). */
  isEnding(uid: string): boolean {
    return this.records.get(uid)?.ending === true;
  }

  /** The worker's report of a finished task (success or a thrown error). */
  complete(result: CompletedResult): void {
    this.finish(result.task_uid, result.success ? "completed" : "failed", result);
  }

  /**
   * End every running task that matches: its worker was lost, destroyed or
   * replaced. A task whose stop was asked for ends as asked (cancelled,
   * timed_out); the others fail with `msg`.
   */
  failRunning(msg: string, match: (t: TaskRecord) => boolean = () => true): void {
    for (const t of [...this.records.values()]) {
      if (t.state !== "running" || !match(t)) continue;
      if (t.stopping) this.finish(t.uid, t.stopping.state, { msg: t.stopping.msg });
      else this.finish(t.uid, "failed", { msg });
    }
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

  private setState(rec: TaskRecord, state: TaskState, at = Date.now()): void {
    const prev = rec.state;
    const wasWaiting = prev === "pending" || prev === "retrying";
    const isWaiting = state === "pending" || state === "retrying";
    if (wasWaiting !== isWaiting) this.waiting += isWaiting ? 1 : -1;
    if (rec.background && (prev === "running") !== (state === "running")) {
      this.setBackground(this.background + (state === "running" ? 1 : -1));
    }
    rec.state = state;
    rec.updatedAt = at;
  }

  private emit(rec: TaskRecord, event: string, extra: Record<string, unknown> = {}): void {
    // Built only for someone (the info socket is off by default).
    if (this.events.listenerCount("task") === 0) return;
    const where = rec.worker !== null ? this.workerInfo?.(rec.worker) : undefined;
    this.events.emit("task", {
      event,
      task_uid: rec.uid,
      name: rec.name,
      state: rec.state,
      attempt: rec.attempts,
      ...(where ? { worker: rec.worker, hostname: where.hostname, pid: where.pid } : {}),
      // A subtask's events name its parent.
      ...(rec.parent !== null ? { parent: rec.parent } : {}),
      ...extra,
    });
  }

  /** Enter a subtask in its parent's list of children. */
  private link(rec: TaskRecord): void {
    if (rec.parent === null) return;
    let set = this.childrenOf.get(rec.parent);
    if (!set) this.childrenOf.set(rec.parent, (set = new Set()));
    set.add(rec.uid);
  }

  /** Take a purged subtask out of its parent's list (a parent's own list goes with it). */
  private unlink(rec: TaskRecord): void {
    if (rec.parent !== null) {
      const set = this.childrenOf.get(rec.parent);
      set?.delete(rec.uid);
      if (set?.size === 0) this.childrenOf.delete(rec.parent);
    }
  }

  private keep(uid: string, expiresAt: number): void {
    this.expiry.push({ uid, at: expiresAt });
  }

  // ---- restart --------------------------------------------------------------------

  /**
   * Take the stored results at start: those still within their retention. A
   * task accepted but not ended when the manager stopped becomes a failed
   * result saying so, kept for the retention time from now.
   */
  restore(stored: readonly StoredResult[]): void {
    const now = Date.now();
    const gone: StoreOp[] = [];
    const cut: StoreOp[] = [];
    for (const s of [...stored].sort((a, b) => a.expiresAt - b.expiresAt)) {
      const accepted = (s.result as { accepted?: AcceptedMark }).accepted;
      if (accepted) {
        cut.push(this.cutOff(s.uid, accepted, now));
        continue;
      }
      // The retention in force now bounds restored results too: the purge FIFO stays in order
      // (a longer retention of the manager before would put late expiries ahead of new ones).
      const at = Math.min(s.expiresAt * 1000, now + this.retentionSec * 1000);
      if (at <= now) {
        gone.push({ op: "result_delete", uid: s.uid });
        this.remember(s.uid);
        continue;
      }
      const { info = {}, ...result } = s.result as CompletedResult & { info?: StoredInfo };
      const rec = restoredRecord(s.uid, result, info);
      this.records.set(s.uid, rec);
      this.link(rec);
      this.finalCount++;
      this.keep(s.uid, at);
    }
    if (gone.length + cut.length > 0) this.store?.([...gone, ...cut]);
    if (stored.length > 0) this.state.bump("task_results_uid");
  }

  /**
   * At start, after `restore`: the tasks listed by a durable record of their
   * own (a run's definition, see NewTask.listedElsewhere) that have no stored
   * result were cut off by the stop: each becomes a failed result saying so
   * (one store write for all).
   */
  restoreCutOff(listed: readonly { uid: string; accepted: AcceptedMark }[]): void {
    const now = Date.now();
    const cut: StoreOp[] = [];
    for (const { uid, accepted } of listed) {
      if (!this.records.has(uid)) cut.push(this.cutOff(uid, accepted, now));
    }
    if (cut.length === 0) return;
    this.store?.(cut);
    this.state.bump("task_results_uid");
  }

  /** The failed result of a task the stop cut off (kept for the retention from now); its store op. */
  private cutOff(uid: string, accepted: AcceptedMark, now: number): StoreOp {
    const result: CompletedResult = {
      task_uid: uid,
      success: false,
      msg: "The manager stopped before the task ended: its outcome is unknown",
      traceback: "",
      return_value: null,
      time_start: accepted.createdAt / 1000,
      time_stop: now / 1000,
    };
    const info: StoredInfo = {
      name: accepted.name,
      kind: accepted.kind,
      background: accepted.background,
      createdAt: accepted.createdAt,
      state: "failed",
      ...(accepted.user != null ? { user: accepted.user, group: accepted.group ?? null } : {}),
      ...(accepted.parent != null ? { parent: accepted.parent } : {}),
    };
    const at = now + this.retentionSec * 1000;
    const rec = restoredRecord(uid, result, info);
    this.records.set(uid, rec);
    this.link(rec);
    this.finalCount++;
    this.keep(uid, at);
    return { op: "result_put", uid, result: { ...result, info }, expiresAt: at / 1000 };
  }

  // ---- views ----------------------------------------------------------------------

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

  /** The uids of the subtasks of `parent` still known, in the order they were submitted. */
  childrenOfTask(parent: string): string[] {
    return [...(this.childrenOf.get(parent) ?? [])];
  }

  /** Records that have not ended (pending, running, retrying), nor are ending. */
  activeRecords(): TaskRecord[] {
    return [...this.records.values()].filter((r) => !r.ending && !isFinal(r.state));
  }

  /** The record's uid was known and its result has been purged. */
  wasPurged(uid: string): boolean {
    return this.purged.has(uid);
  }

  status(uid: string): TaskStatus {
    const r = this.records.get(uid);
    if (!r) return "not_found";
    return isFinal(r.state) ? "completed" : "running";
  }

  result(uid: string):
    | {
        status: "running";
        result: { task_uid: string; time_start: number; run_in_background: boolean };
      }
    | { status: "completed"; result: CompletedResult }
    | { status: "not_found"; result: Record<string, never> } {
    const r = this.records.get(uid);
    if (!r) return { status: "not_found", result: {} };
    if (r.result) return { status: "completed", result: r.result };
    return {
      status: "running",
      result: {
        task_uid: uid,
        time_start: (r.dispatchedAt ?? r.createdAt) / 1000,
        run_in_background: r.background,
      },
    };
  }

  /** The lifecycle record of `task_info` (expired for a purged UID, not_found if never seen). */
  info(uid: string, stats: TaskStats): TaskInfo {
    const r = this.records.get(uid);
    if (!r) {
      const purged = this.purged.has(uid);
      return {
        task_uid: uid,
        state: purged ? "expired" : "not_found",
        name: null,
        created_at: null,
        started_at: null,
        ended_at: null,
        updated_at: null,
        attempts: 0,
        progress: 0,
        message: purged
          ? "The task ended and its record was purged after the retention time"
          : null,
        outputs: {},
        after: [],
        run_uid: null,
        worker: null,
        user: null,
        parent: null,
        children: [],
        children_counts: {},
        stats,
      };
    }
    const children = this.childrenOfTask(uid);
    const counts: Record<string, number> = {};
    for (const c of children) {
      const st = this.records.get(c)?.state;
      if (st !== undefined) counts[st] = (counts[st] ?? 0) + 1;
    }
    return {
      task_uid: uid,
      state: r.state,
      name: r.name === "" ? null : r.name,
      created_at: iso(r.createdAt),
      started_at: iso(r.startedAt),
      ended_at: iso(r.endedAt),
      updated_at: iso(r.updatedAt),
      attempts: r.attempts,
      progress: r.progress,
      message: r.message,
      outputs: r.outputs,
      after: r.after,
      run_uid: r.runUid,
      worker: r.worker,
      user: r.user,
      parent: r.parent,
      children,
      children_counts: counts,
      stats,
      ...(r.trace ? { trace: r.trace } : {}),
    };
  }

  /** Tasks waiting to run (pending or retrying). */
  /** Tasks kept now (running and retained results), by lifecycle state. */
  countsByState(): Record<TaskState, number> {
    const out = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const r of this.records.values()) out[r.state] += 1;
    return out;
  }

  get waitingCount(): number {
    return this.waiting;
  }

  get runningCount(): number {
    return this.activeCount;
  }

  get completedCount(): number {
    return this.finalCount;
  }

  private setBackground(n: number): void {
    this.background = n;
    this.state.set({ worker_background_tasks: n });
  }

  private remember(uid: string): void {
    this.purged.add(uid);
    if (this.purged.size > PURGED_MEMORY) {
      const oldest = this.purged.values().next().value;
      if (oldest !== undefined) this.purged.delete(oldest);
    }
  }

  /** Drop results whose retention ended. */
  purge(now = Date.now()): void {
    const gone: StoreOp[] = [];
    while (this.expiryHead < this.expiry.length) {
      const e = this.expiry[this.expiryHead];
      if (!e || e.at > now) break;
      const r = this.records.get(e.uid);
      if (r && isFinal(r.state)) {
        this.records.delete(e.uid);
        this.unlink(r);
        this.finalCount--;
        this.remember(e.uid);
        gone.push({ op: "result_delete", uid: e.uid });
      }
      this.expiryHead++;
    }
    if (gone.length > 0) {
      // What stands for a purged result (a run's outcome string) is written first.
      this.events.emit("purging");
      this.store?.(gone);
    }
    // Compact the FIFO now and then so it does not grow without bound.
    if (this.expiryHead > 1024 && this.expiryHead * 2 > this.expiry.length) {
      this.expiry.splice(0, this.expiryHead);
      this.expiryHead = 0;
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}

/** The record a stored result stands for, with its stored lifecycle fields. */
function restoredRecord(uid: string, result: CompletedResult, info: StoredInfo): TaskRecord {
  const start = Math.round(result.time_start * 1000);
  const stop = Math.round(result.time_stop * 1000);
  const attempts = info.attempts ?? 1;
  return {
    uid,
    name: info.name ?? "",
    kind: info.kind ?? "function",
    background: info.background ?? true,
    state: info.state ?? (result.success ? "completed" : "failed"),
    createdAt: info.createdAt ?? start,
    dispatchedAt: attempts > 0 ? start : undefined,
    startedAt: attempts > 0 ? start : undefined,
    endedAt: stop,
    updatedAt: stop,
    attempts,
    progress: info.progress ?? (result.success ? 100 : 0),
    message: info.message !== undefined ? info.message : result.success ? null : result.msg,
    outputs: info.outputs ?? {},
    after: info.after ?? [],
    priority: info.priority ?? 0,
    runUid: info.runUid ?? null,
    worker: info.worker ?? null,
    ending: false,
    user: info.user ?? null,
    group: info.group ?? null,
    parent: info.parent ?? null,
    stopping: undefined,
    result,
  };
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
