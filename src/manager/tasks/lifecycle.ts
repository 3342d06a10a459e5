/**
 * The one owner of a function task's life: every event of it is a method
 * here — accepted (submit), released (a run's turn), a worker's reports
 * (received, started, progress, done), its worker lost, cancel, expire,
 * timeout, retry — and decides what follows; the registry records it
 * (registry.ts) and the scheduler deals it to a worker when it is ready
 * (scheduler.ts).
 *
 * A task accepted with a `delay` or `not_before` is `scheduled` until that
 * time (delayed-tasks.ts), then `pending`. Its `expires` counts from that time.
 *
 * A task accepted by `function_execute` is `pending` until it is handed to a
 * worker. It waits while
 *  - a task named in its `after` list has not completed (a parent that fails,
 *    is cancelled, times out or expires cancels it, naming the parent), or
 *  - no worker may take it (none open, none offers it, every slot taken).
 * A task still pending `expires` seconds after it was accepted, never dealt,
 * ends `expired`, unrun.
 *
 * Running, a task has `timeout` seconds (counted from its start in the worker)
 * before it is stopped as `timed_out`; a failed attempt is retried up to
 * `max_retries` times after an exponential backoff with jitter (`retrying` in
 * between; the user code sees its attempt number in `ctx.attempt`). A timeout
 * or a cancel is not retried.
 *
 * Stopping a running task (cancel, timeout) aborts its AbortSignal in the
 * worker; one that does not stop in time has its worker process replaced
 * (task-stopper.ts).
 *
 * A worker lost — the main one, a pool process, one on another host: one
 * rule — ends its tasks this way: one stopping ends as asked (cancelled,
 * timed_out); one it was not heard to start (dealt ahead) waits again for a
 * worker, as if never dealt (task-requeued); a started one is retried if it
 * has retries left, else fails with the loss's message (which names the
 * worker). Once the environment is gone for good (closed, destroyed, lost,
 * not re-opening) the tasks that wait fail: no worker of this host will come.
 *
 * Runs (runs.ts) submit their tasks `held`: they are released a few at a
 * time, as the run's concurrency allows. The tasks found running at start
 * wait for their workers on other hosts to take them back (adoption.ts).
 */
import type { TaskMessage } from "../workers/pool.js";
import type { FunctionCall, RunPlace, TaskRecord, TaskStats } from "./task-record.js";
import { acceptedTask, dealJob, newLife } from "./lifecycle-context.js";
import { REAL_CLOCK } from "../due-timer.js";
import { CUT_OFF_MSG, type HeldTask, type ResumedTask } from "./task-restore.js";
import { Adoption } from "./adoption.js";
import type { RemoteIdentity } from "../workers/types.js";
import { resubmission } from "./delayed-tasks.js";
import { TaskTimers } from "./task-timers.js";
import { TaskStopper } from "./task-stopper.js";
import { dependencyCancel, TaskDependencies } from "./dependencies.js";
import type {
  CancelOutcome,
  Life,
  LifecycleContext,
  LifecyclePool,
  LifecycleTasks,
  StartAt,
  TaskDealer,
  TaskLinks,
  TaskOptions,
} from "./lifecycle-context.js";

export class TaskLifecycle {
  /** Function tasks that have not ended. */
  private readonly lives = new Map<string, Life>();
  /** Which tasks wait for which (dependencies.ts). */
  private readonly dependents = new TaskDependencies();
  /** Running tasks asked to stop, their grace periods (task-stopper.ts). */
  private readonly stopper: TaskStopper;
  private readonly tasks: LifecycleTasks;
  private readonly dealer: TaskDealer;
  private readonly pool: LifecyclePool;
  /** Scheduled starts, expiries, timeouts, retry back-offs (task-timers.ts). */
  private readonly timers: TaskTimers;
  /** Tasks found running at start that wait for their worker on another host (adoption.ts). */
  private readonly adoption: Adoption;

  constructor(private readonly ctx: LifecycleContext) {
    this.timers = new TaskTimers(ctx.clock ?? REAL_CLOCK, {
      due: (uid) => this.tasks.due(uid),
      ready: (uid) => this.onDue(uid),
    });
    this.adoption = new Adoption({
      keep: (h) => this.keep(h),
      unadopted: (uid) => this.unadopted(uid),
      adopted: (uid, worker) => this.adopted(uid, worker),
      log: ctx.log,
    });
    this.stopper = new TaskStopper(ctx);
    this.tasks = ctx.tasks;
    this.dealer = ctx.dealer;
    this.pool = ctx.pool;
    this.tasks.events.on("final", (r) => this.onFinal(r));
    this.pool.on("task-message", (worker, m) => this.report(worker, m));
    this.pool.on("worker-lost", (worker, msg) => this.workerLost(worker, msg));
    this.pool.on("worker-joined", () => this.dealer.pump());
    this.pool.on("all-gone", (reopening, why) => this.allGone(reopening, why));
  }

  /**
   * The UIDs of `after` that cannot be waited for: never seen, or purged (its
   * outcome is no longer known).
   */
  unknownDependencies(after: readonly string[]): string[] {
    return after.filter((uid) => this.tasks.get(uid) === undefined);
  }

  /** Accept a function task; it runs at once unless it has to wait. */
  submit(
    uid: string,
    call: FunctionCall,
    background: boolean,
    opts: TaskOptions & StartAt,
    run?: { place: RunPlace; held: boolean },
    links: TaskLinks = {},
  ): void {
    const { startAt, ...o } = opts;
    const after = o.after?.length ? [...new Set(o.after)] : [];
    const priority = o.priority ?? 0;
    const life = newLife(uid, o, run?.held ?? false);
    this.tasks.create(acceptedTask(uid, call, background, o, after, priority, run, links, startAt));
    this.lives.set(uid, life);
    this.dealer.add(dealJob(uid, call, background, o, run?.place));
    for (const dep of after) {
      const parent = this.tasks.get(dep);
      if (!parent || parent.state === "completed") continue;
      if (parent.result) {
        // The parent already ended without success.
        this.cancelForDependency(life, parent);
        return;
      }
      life.waitingOn.add(dep);
      this.dependents.wait(uid, dep);
    }
    if (startAt !== undefined) {
      this.timers.startAt(uid, startAt);
      return;
    }
    this.startWaiting(life);
  }

  /** It may start from now on: its expiry counts, it goes to the workers unless it has to wait. */
  private startWaiting(life: Life): void {
    this.timers.expiry(life, () => this.expire(life));
    if (life.waitingOn.size === 0 && !life.held) {
      this.dealer.enqueue(life.uid);
      this.dealer.pump();
    }
  }

  /** At start: the delayed tasks found scheduled in the store are submitted again (delayed-tasks.ts). */
  resume(list: readonly ResumedTask[]): void {
    for (const r of list) this.submit(...resubmission(r));
  }

  /** At start: the function tasks that ran when the manager stopped (adoption.ts). */
  resumeRunning(list: readonly HeldTask[], waitMs: number): void {
    this.adoption.resumeRunning(list, waitMs);
  }

  /** A task found running at start is the lifecycle's again: its life, its job for the dealer. */
  private keep({ uid, accepted: a }: HeldTask): void {
    const o = a.call.options as TaskOptions;
    this.lives.set(uid, newLife(uid, o, false));
    const call = { name: a.name, args: a.call.args, kwargs: a.call.kwargs };
    this.dealer.add(dealJob(uid, call, a.background, o, undefined));
  }

  /** A task found running at start that no worker takes back: retried if it may be, else cut off. */
  private unadopted(uid: string): void {
    this.adoption.drop(uid);
    const rec = this.tasks.active(uid);
    const life = this.lives.get(uid);
    if (!rec || !life) return;
    // One whose dependencies had not all completed never ran: it ends as before.
    const ready = rec.after.every((d) => this.tasks.get(d)?.state === "completed");
    if (ready && rec.attempts <= life.maxRetries) this.retry(life, CUT_OFF_MSG);
    else this.tasks.finish(uid, "failed", { msg: CUT_OFF_MSG });
  }

  /**
   * A worker on another host says (in its hello) that it runs `uids`: those
   * whose start mark names it are its own again (see Adoption.claim). The
   * tasks taken back, with their attempts.
   */
  claim(
    worker: RemoteIdentity,
    uids: readonly string[],
    quiet = false,
  ): { uid: string; attempt: number }[] {
    return this.adoption.claim(worker, uids, quiet);
  }

  /** Taken back by `worker`: assigned to it, its reports applied from now on. */
  private adopted(uid: string, worker: string): void {
    this.tasks.started(uid, worker, Date.now() / 1000);
    this.dealer.adopt(uid, worker);
    this.startTimeout(uid);
  }

  /** A scheduled task's time has come (recorded): it waits for a worker as any pending task. */
  private onDue(uid: string): void {
    const life = this.lives.get(uid);
    if (life) this.startWaiting(life);
  }

  /** Let held tasks (of a run) go to the workers. */
  release(uids: readonly string[]): void {
    for (const uid of uids) {
      const life = this.lives.get(uid);
      if (!life?.held) continue;
      life.held = false;
      if (life.waitingOn.size === 0 && this.tasks.active(uid)?.state === "pending") {
        this.dealer.enqueue(uid);
      }
    }
    this.dealer.schedulePump();
  }

  /** Cancel tasks: pending ones never run, running ones are stopped. */
  cancel(uid: string): { outcome: CancelOutcome; note?: string } {
    const rec = this.tasks.get(uid);
    if (!rec) {
      return this.tasks.wasPurged(uid)
        ? { outcome: "already_completed" }
        : { outcome: "not_found" };
    }
    if (rec.result) return { outcome: "already_completed" };
    if (this.adoption.drop(uid)) {
      this.tasks.finish(uid, "cancelled", {
        msg: "The task was cancelled while it waited for its worker to take it back after the manager's restart",
      });
      return { outcome: "cancelled" };
    }
    if (this.tasks.isEnding(uid)) {
      return {
        outcome: "cancelling",
        note: `task '${uid}' has already ended: its outcome is being saved`,
      };
    }
    if (rec.state === "running") return { outcome: "cancelling", note: this.stopper.cancel(rec) };
    const msg =
      rec.state === "retrying"
        ? "The task was cancelled while it waited to be retried"
        : "The task was cancelled before it ran";
    this.tasks.finish(uid, "cancelled", { msg });
    return { outcome: "cancelled" };
  }

  /** A running task waits for its subtasks: its slot is lent (see TaskScheduler.lend). */
  lendSlot(uid: string): void {
    this.dealer.lend(uid);
  }

  /** The task resumes (its awaited subtasks ended): it takes its slot back. */
  reclaimSlot(uid: string): void {
    this.dealer.reclaim(uid);
  }

  stats(): TaskStats {
    return { queue_depth: this.tasks.waitingCount, active_workers: this.dealer.workerCount() };
  }

  close(): void {
    this.adoption.close();
    this.timers.close(this.lives.values());
    this.stopper.close();
  }

  // ---- what a worker says -----------------------------------------------------------

  /** A worker's report about a task: started, progress, done. */
  report(worker: string, m: TaskMessage): void {
    switch (m.type) {
      case "task_started":
        this.tasks.started(m.id, worker, m.time);
        this.dealer.started(m.id, m.time);
        this.startTimeout(m.id);
        break;
      case "task_progress":
        this.tasks.progress(m.id, m);
        break;
      case "task_done":
        this.done(worker, m);
        break;
    }
  }

  /**
   * The task's call ended in `worker`. A short call's start and end may come
   * as this one report (no task_started before it): its start is applied first,
   * from `time_start`, unless the task never ran (a cancel took it out unrun).
   */
  private done(worker: string, m: Extract<TaskMessage, { type: "task_done" }>): void {
    const rec = this.tasks.active(m.id);
    if (!rec) return;
    const life = this.lives.get(m.id);
    // Not one taken out of the worker unrun (a cancel of a task dealt ahead: `cancelled`, never started).
    const unrun = m.cancelled === true && rec.stopping !== undefined;
    if (!rec.heardStart && !unrun) this.dealer.started(m.id, m.time_start);
    this.dealer.ended(m.id, worker, m.call_ms ?? (m.time_stop - m.time_start) * 1000);
    if (life && !rec.heardStart && !unrun) this.tasks.started(m.id, worker, m.time_start);
    this.tasks.mark(m.id, "end_heard");
    if (m.trace)
      for (const [k, at] of Object.entries(m.trace)) this.tasks.mark(m.id, `worker_${k}`, at);
    if (life) this.timers.stopTimeout(life);
    if (rec.stopping) {
      this.tasks.finish(m.id, rec.stopping.state, {
        msg: rec.stopping.msg,
        traceback: m.traceback,
        time_stop: m.time_stop,
      });
    } else if (!m.success && life && rec.attempts <= life.maxRetries) {
      this.retry(life, m.msg);
    } else {
      this.tasks.finish(m.id, m.success ? "completed" : "failed", {
        msg: m.msg,
        traceback: m.traceback,
        return_value: m.return_value,
        time_stop: m.time_stop,
      });
    }
  }

  /** The task started in its worker: its timeout counts from now. */
  private startTimeout(uid: string): void {
    const life = this.lives.get(uid);
    if (!life || this.tasks.active(uid)?.state !== "running") return;
    this.timers.timeout(life, (t) => {
      const r = this.tasks.active(uid);
      if (r?.state === "running") {
        this.stopper.stop(r, "timed_out", `The task timed out: it ran longer than ${t} s`);
      }
    });
  }

  // ---- losing workers ---------------------------------------------------------------

  /**
   * A worker is gone: its tasks end by the one rule (see the top of this
   * file); `msg` says what happened (and names the worker).
   */
  workerLost(worker: string, msg: string): void {
    for (const rec of this.tasks.runningOn(worker)) this.lose(rec, msg);
    this.dealer.workerLost(worker);
  }

  /**
   * Workers of this host are gone together (the main one, with the pool): as
   * `workerLost` for each, and for the tasks handed to the main worker at once.
   */
  workersLost(workers: readonly string[], msg: string): void {
    for (const rec of this.tasks.runningOn(null)) this.lose(rec, msg);
    for (const w of workers) this.workerLost(w, msg);
  }

  private lose(rec: TaskRecord, msg: string): void {
    const life = this.lives.get(rec.uid);
    this.dealer.free(rec.uid);
    if (life && !rec.heardStart && !rec.stopping) {
      // Dealt ahead and never heard to start: it goes back to wait for a worker, unharmed.
      this.tasks.undealt(rec.uid, msg);
      this.dealer.enqueue(rec.uid);
    } else if (rec.stopping) {
      this.tasks.finish(rec.uid, rec.stopping.state, { msg: rec.stopping.msg });
    } else if (life && rec.attempts <= life.maxRetries) {
      this.retry(life, msg);
    } else {
      this.tasks.finish(rec.uid, "failed", { msg });
    }
  }

  /** Every local worker is gone: unless a new one is on its way, the waiting tasks cannot run. */
  private allGone(reopening: boolean, why: string): void {
    this.dealer.localGone();
    if (reopening) return;
    for (const life of [...this.lives.values()]) {
      const rec = this.tasks.active(life.uid);
      // A scheduled task waits for its time, not for these workers: it stays.
      if (rec && rec.state !== "running" && rec.state !== "scheduled") {
        const what = rec.attempts > 0 ? "was not retried" : "did not run";
        this.tasks.finish(life.uid, "failed", { msg: `The task ${what}: ${why}` });
      }
    }
  }

  private retry(life: Life, reason: string): void {
    this.dealer.free(life.uid);
    const attempts = this.tasks.get(life.uid)?.attempts ?? 1;
    const delay = this.timers.retry(life, attempts, () => {
      if (this.tasks.active(life.uid)?.state !== "retrying") return;
      this.dealer.enqueue(life.uid);
      this.dealer.pump();
    });
    this.tasks.retrying(life.uid, reason, delay);
  }

  // ---- waiting ----------------------------------------------------------------------

  private expire(life: Life): void {
    const rec = this.tasks.active(life.uid);
    // Only while it waits to be dealt the first time (one dealt and requeued has started waiting anew).
    if (rec?.state !== "pending" || rec.dispatchedAt !== undefined) return;
    const waitingFor =
      life.waitingOn.size > 0
        ? `waiting for ${[...life.waitingOn].map((u) => `'${u}'`).join(", ")} to complete`
        : "waiting for a worker";
    this.tasks.finish(life.uid, "expired", {
      msg: `The task expired: it was not started within ${life.expires} s (${waitingFor})`,
    });
  }

  private cancelForDependency(life: Life, parent: TaskRecord): void {
    const { cause, msg } = dependencyCancel(parent, this.lives.get(parent.uid)?.cause);
    life.cause = cause;
    this.tasks.finish(life.uid, "cancelled", { msg });
  }

  /** A task ended: release or cancel the tasks that wait for it; drop its timers. */
  private onFinal(rec: TaskRecord): void {
    const life = this.lives.get(rec.uid);
    let released = false;
    if (life) {
      this.timers.clear(life);
      if (this.dealer.forget(rec.uid)) released = true;
    }
    this.stopper.ended(rec.uid);
    const children = this.dependents.take(rec.uid);
    for (const child of children ?? []) {
      const cl = this.lives.get(child);
      if (!cl || !this.tasks.active(child)) continue;
      if (rec.state === "completed") {
        cl.waitingOn.delete(rec.uid);
        // A scheduled one goes when its time comes.
        if (cl.waitingOn.size === 0 && this.tasks.active(child)?.state === "pending") {
          this.dealer.enqueue(child);
          released = true;
        }
      } else {
        this.cancelForDependency(cl, rec);
      }
    }
    // The life is kept until here so that its dependents can name the cause.
    if (life) this.lives.delete(rec.uid);
    if (released) this.dealer.pump();
  }
}
