/**
 * The one owner of a function task's life: every event of it is a method
 * here — accepted (submit), released (a run's turn), a worker's reports
 * (received, started, progress, done), its worker lost, cancel, expire,
 * timeout, retry — and decides what follows; the registry records it
 * (registry.ts) and the scheduler deals it to a worker when it is ready
 * (scheduler.ts).
 *
 * A task accepted with a `delay` or `not_before` is `scheduled` until that
 * time (one timer for all: delays.ts), then `pending`; it may be cancelled
 * meanwhile, and its accepted mark holds its call so that a restart submits
 * it again (one whose time passed meanwhile runs once, at start). Its
 * `expires` counts from that time.
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
 * worker; if it has not stopped after the cancel grace period, the worker
 * process is replaced (the other tasks in it end, saying why) and the
 * environment re-opened, so that the user keeps a working environment.
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
 * time, as the run's concurrency allows.
 */
import type { TaskMessage } from "../workers/pool.js";
import type { FinalState, FunctionCall, RunPlace, TaskRecord, TaskStats } from "./task-record.js";
import { clear, ENDED_AS, MAX_BACKOFF_SEC, newLife } from "./lifecycle-context.js";
import { DueTimer, REAL_CLOCK } from "../due-timer.js";
import type { StartMark } from "./task-store.js";
import { CUT_OFF_MSG, type HeldTask, type ResumedTask } from "./task-restore.js";
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
  /** parent uid → uids of the tasks that wait for it. */
  private readonly dependents = new Map<string, Set<string>>();
  /** Running tasks asked to stop: when their grace period ends. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly tasks: LifecycleTasks;
  private readonly dealer: TaskDealer;
  private readonly pool: LifecyclePool;
  /** Scheduled tasks by their start. */
  private readonly delays: DueTimer;
  /** Tasks found running at start that wait for their worker on another host: their start marks. */
  private readonly unclaimed = new Map<string, StartMark>();
  /** Ends the wait of the tasks found running at start (--adopt-wait). */
  private adoptTimer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: LifecycleContext) {
    this.delays = new DueTimer(ctx.clock ?? REAL_CLOCK, (uid) => void this.onDue(uid));
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
    // Every field written out (no spreads): one shape of object per accepted task.
    this.tasks.create({
      uid,
      name: call.name,
      kind: "function",
      background,
      after,
      priority,
      runUid: run?.place.uid,
      user: links.user,
      group: links.group,
      parent: links.parent,
      listedElsewhere: links.listedElsewhere,
      dedup: links.dedup,
      createdAt: links.createdAt,
      retryOf: links.retryOf,
      delayed: startAt !== undefined ? { at: startAt } : undefined,
      // The options as they came: task_info lists those given (task-views.ts), off the hot
      // path; the accepted mark keeps them (a restart submits it again or retries it).
      call: { args: call.args, kwargs: call.kwargs, options: o },
    });
    this.lives.set(uid, life);
    this.dealer.add({
      uid,
      call,
      background,
      priority,
      tags: o.worker_tags ?? [],
      run: run?.place,
    });
    for (const dep of after) {
      const parent = this.tasks.get(dep);
      if (!parent || parent.state === "completed") continue;
      if (parent.result) {
        // The parent already ended without success.
        this.cancelForDependency(life, parent);
        return;
      }
      life.waitingOn.add(dep);
      let set = this.dependents.get(dep);
      if (!set) this.dependents.set(dep, (set = new Set()));
      set.add(uid);
    }
    if (startAt !== undefined) {
      this.delays.set(uid, startAt);
      return;
    }
    if (life.expires !== undefined) {
      life.expiryTimer = setTimeout(() => this.expire(life), life.expires * 1000);
    }
    if (life.waitingOn.size === 0 && !life.held) {
      this.dealer.enqueue(uid);
      this.dealer.pump();
    }
  }

  /**
   * At start: the delayed tasks found scheduled in the store are submitted
   * again, as they were (uid, call, options, requester, time); one whose time
   * has passed is due at once.
   */
  resume(list: readonly ResumedTask[]): void {
    for (const { uid, accepted: a } of list) {
      const { at, call } = a;
      this.submit(
        uid,
        { name: a.name, args: call.args, kwargs: call.kwargs },
        a.background,
        { ...(call.options as TaskOptions), startAt: at },
        undefined,
        {
          user: a.user ?? null,
          group: a.group ?? null,
          parent: a.parent ?? null,
          createdAt: a.createdAt,
          ...(a.dedup ? { dedup: a.dedup } : {}),
        },
      );
    }
  }

  /**
   * At start: the function tasks that ran when the manager stopped, `running`
   * on no worker. One dealt to a worker on another host (a start mark) waits
   * up to `waitMs` for that worker to take it back (`claim`); the others (the
   * old manager's own workers, a mark lost in the crash) and those not taken
   * back in time are retried where their options allow, else end cut off.
   */
  resumeRunning(list: readonly HeldTask[], waitMs: number): void {
    const now: string[] = [];
    for (const { uid, accepted: a, start } of list) {
      const o = a.call.options as TaskOptions;
      this.lives.set(uid, newLife(uid, o, false));
      this.dealer.add({
        uid,
        call: { name: a.name, args: a.call.args, kwargs: a.call.kwargs },
        background: a.background,
        priority: o.priority ?? 0,
        tags: o.worker_tags ?? [],
        run: undefined,
      });
      if (start) this.unclaimed.set(uid, start);
      else now.push(uid);
    }
    for (const uid of now) this.unadopted(uid);
    if (this.unclaimed.size === 0) return;
    this.ctx.log.info(
      `${this.unclaimed.size} task(s) ran on workers on other hosts when the manager stopped: ` +
        `they wait up to ${waitMs / 1000} s (--adopt-wait) for their workers to take them back`,
    );
    this.adoptTimer = setTimeout(() => {
      this.adoptTimer = undefined;
      for (const uid of [...this.unclaimed.keys()]) this.unadopted(uid);
    }, waitMs);
  }

  /** A task found running at start that no worker takes back: retried if it may be, else cut off. */
  private unadopted(uid: string): void {
    this.unclaimed.delete(uid);
    const rec = this.tasks.active(uid);
    const life = this.lives.get(uid);
    if (!rec || !life) return;
    // One whose dependencies had not all completed never ran: it ends as before.
    const ready = rec.after.every((d) => this.tasks.get(d)?.state === "completed");
    if (ready && rec.attempts <= life.maxRetries) this.retry(life, CUT_OFF_MSG);
    else this.tasks.finish(uid, "failed", { msg: CUT_OFF_MSG });
  }

  /**
   * A worker on another host says (in its hello) that it runs `uids`. Those
   * found running at start whose start mark names this worker (its name,
   * instance and, with CURVE, key) are its own again: assigned to it, its
   * reports applied from now on. Any other claim (a worker that borrows
   * another's name, or guesses uids) is ignored and logged (unless `quiet`).
   * The tasks taken back, with their attempts.
   */
  claim(
    worker: { name: string; instance: string; key: string | undefined },
    uids: readonly string[],
    quiet = false,
  ): { uid: string; attempt: number }[] {
    const taken: { uid: string; attempt: number }[] = [];
    const ignored: string[] = [];
    for (const uid of uids) {
      const start = this.unclaimed.get(uid);
      if (
        start?.worker !== worker.name ||
        start.instance !== worker.instance ||
        start.key !== worker.key
      ) {
        ignored.push(uid);
        continue;
      }
      this.unclaimed.delete(uid);
      this.tasks.started(uid, worker.name, Date.now() / 1000);
      this.dealer.adopt(uid, worker.name);
      this.startTimeout(uid);
      taken.push({ uid, attempt: start.attempt });
    }
    if (taken.length > 0) {
      this.ctx.log.info(`Worker '${worker.name}' took back ${taken.length} running task(s)`);
    }
    if (ignored.length > 0 && !quiet) {
      const some = ignored.slice(0, 5).map((u) => `'${u}'`);
      this.ctx.log.warn(
        `Ignored worker '${worker.name}''s claim of ${ignored.length} running task(s) ` +
          `(${some.join(", ")}${ignored.length > 5 ? ", ..." : ""}): not dealt to it, or not waiting to be taken back`,
      );
    }
    if (this.unclaimed.size === 0) this.adoptTimer = clear(this.adoptTimer);
    return taken;
  }

  /** A scheduled task's time has come: it waits for a worker as any pending task. */
  private async onDue(uid: string): Promise<void> {
    if (!(await this.tasks.due(uid))) return;
    const life = this.lives.get(uid);
    if (!life) return;
    if (life.expires !== undefined) {
      life.expiryTimer = setTimeout(() => this.expire(life), life.expires * 1000);
    }
    if (life.waitingOn.size === 0 && !life.held) {
      this.dealer.enqueue(uid);
      this.dealer.pump();
    }
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
    if (this.unclaimed.delete(uid)) {
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
    if (rec.state === "running") {
      this.stop(rec, "cancelled", "The task was cancelled");
      const g = this.ctx.cancelGraceSec;
      return {
        outcome: "cancelling",
        note:
          `task '${uid}' is being cancelled: its signal was aborted; if it does not stop within ${g} s, ` +
          `its worker process is replaced (other tasks running in it fail) and the environment is re-opened automatically`,
      };
    }
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
    this.adoptTimer = clear(this.adoptTimer);
    this.delays.close();
    for (const life of this.lives.values()) this.clearTimers(life);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
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
      case "task_progress": {
        const p: { progress?: number; message?: string; outputs?: Record<string, unknown> } = {};
        if (m.progress !== undefined) p.progress = m.progress;
        if (m.message !== undefined) p.message = m.message;
        if (m.outputs !== undefined) p.outputs = m.outputs;
        this.tasks.progress(m.id, p);
        break;
      }
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
    if (life) life.timeoutTimer = clear(life.timeoutTimer);
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
    if (life?.timeout === undefined || life.timeoutTimer) return;
    if (this.tasks.active(uid)?.state !== "running") return;
    const t = life.timeout;
    life.timeoutTimer = setTimeout(() => {
      life.timeoutTimer = undefined;
      const r = this.tasks.active(uid);
      if (r?.state === "running") {
        this.stop(r, "timed_out", `The task timed out: it ran longer than ${t} s`);
      }
    }, t * 1000);
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
    // Exponential, with "equal jitter": half the step is fixed, half random.
    const step = Math.min(MAX_BACKOFF_SEC, life.retryBackoff * 2 ** (attempts - 1));
    const delay = step / 2 + Math.random() * (step / 2);
    this.tasks.retrying(life.uid, reason, delay);
    life.retryTimer = setTimeout(() => {
      life.retryTimer = undefined;
      if (this.tasks.active(life.uid)?.state !== "retrying") return;
      this.dealer.enqueue(life.uid);
      this.dealer.pump();
    }, delay * 1000);
  }

  // ---- stopping ---------------------------------------------------------------------

  /** Abort a running task's signal; replace its worker if it has not stopped after the grace period. */
  private stop(rec: TaskRecord, state: "cancelled" | "timed_out", msg: string): void {
    if (!this.tasks.requestStop(rec.uid, state, msg)) return;
    this.pool.cancel(rec.worker, rec.uid, msg);
    if (this.graceTimers.has(rec.uid)) return;
    const g = this.ctx.cancelGraceSec;
    const timer = setTimeout(() => {
      this.graceTimers.delete(rec.uid);
      this.graceEnded(rec.uid, g);
    }, g * 1000);
    this.graceTimers.set(rec.uid, timer);
  }

  /** A task asked to stop did not within `g` s: its worker process is replaced. */
  private graceEnded(uid: string, g: number): void {
    const r = this.tasks.active(uid);
    if (r?.state !== "running" || !r.stopping) return;
    const what = r.stopping.state === "timed_out" ? "it timed out" : "it was cancelled";
    this.tasks.extendStop(
      uid,
      `; it did not stop within ${g} s, so its worker process was replaced` +
        " (the environment is re-opened automatically)",
    );
    // Replacing the main worker re-opens the whole environment; another worker goes alone.
    const alone = r.worker !== null && r.worker !== this.pool.mainWorkerId;
    const others = alone ? this.tasks.runningOn(r.worker) : this.tasks.activeRecords();
    for (const other of others) {
      if (other !== r && other.state === "running" && other.stopping) {
        this.tasks.extendStop(other.uid, "; it was ended when its worker process was replaced");
      }
    }
    this.ctx.log.warn(`Task '${uid}' did not stop within ${g} s after ${what}`);
    this.pool.replace(
      `to end task '${uid}', which did not stop within ${g} s after ${what}`,
      r.worker,
    );
  }

  // ---- waiting ----------------------------------------------------------------------

  private expire(life: Life): void {
    life.expiryTimer = undefined;
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
    const state = parent.state as Exclude<FinalState, "completed">;
    let how = ENDED_AS[state] ?? parent.state;
    const cause = this.lives.get(parent.uid)?.cause;
    if (state === "cancelled" && cause) how += ` because ${cause}`;
    life.cause = `task '${parent.uid}' ${how}`;
    this.tasks.finish(life.uid, "cancelled", {
      msg: `The task was cancelled: it depends on task '${parent.uid}', which ${how}`,
    });
  }

  /** A task ended: release or cancel the tasks that wait for it; drop its timers. */
  private onFinal(rec: TaskRecord): void {
    const life = this.lives.get(rec.uid);
    let released = false;
    if (life) {
      this.clearTimers(life);
      if (this.dealer.forget(rec.uid)) released = true;
    }
    const grace = this.graceTimers.get(rec.uid);
    if (grace) {
      clearTimeout(grace);
      this.graceTimers.delete(rec.uid);
    }
    const children = this.dependents.get(rec.uid);
    this.dependents.delete(rec.uid);
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

  private clearTimers(life: Life): void {
    this.delays.delete(life.uid);
    life.expiryTimer = clear(life.expiryTimer);
    life.retryTimer = clear(life.retryTimer);
    life.timeoutTimer = clear(life.timeoutTimer);
  }
}
