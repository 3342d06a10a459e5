/**
 * The task scheduler: decides when a function task runs, and on which worker.
 *
 * A task accepted by `function_execute` is `pending` until it is handed to a
 * worker. It waits while
 *  - a task named in its `after` list has not completed (a parent that fails,
 *    is cancelled, times out or expires cancels it, naming the parent), or
 *  - no worker is open (the environment is being re-opened after a worker was
 *    replaced to end a task that did not stop).
 * Ready tasks are dispatched highest `priority` first, then in the order they
 * were accepted. A task still pending `expires` seconds after it was accepted
 * ends `expired`, unrun.
 *
 * Running, a task has `timeout` seconds (counted from dispatch) before it is
 * stopped as `timed_out`; a failed attempt is retried up to `max_retries`
 * times after an exponential backoff with jitter (`retrying` in between; the
 * user code sees its attempt number in `ctx.attempt`). A timeout, a cancel or
 * the loss of the worker is not retried.
 *
 * Stopping a running task (cancel, timeout) aborts its AbortSignal in the
 * worker; if it has not stopped after the cancel grace period, the worker
 * process is replaced (the other tasks in it fail, saying why) and the
 * environment re-opened, so that the user keeps a working environment.
 *
 * Workers: today the one worker process of the environment. Dispatch asks
 * `pickWorker()` for a worker that can take a task; a pool adds workers there
 * (and a capacity per worker), nothing else changes.
 */
import type { Logger } from "pino";
import type { ManagerToWorker } from "../protocol/ipc.js";
import type { EnvironmentController, TaskMessage } from "./environment.js";
import type { FinalState, TaskRecord, TaskRegistry, TaskStats } from "./tasks.js";

export interface TaskOptions {
  /** Seconds of run time before the task is stopped as timed_out. */
  timeout?: number | undefined;
  /** Retries after a failed attempt (default 0). */
  max_retries?: number | undefined;
  /** Base of the exponential backoff between tries, in seconds (default 1). */
  retry_backoff?: number | undefined;
  /** Seconds the task may wait to start before it expires unrun. */
  expires?: number | undefined;
  /** Task UIDs that must complete first. */
  after?: string[] | undefined;
  /** Higher runs first among tasks ready at the same time (default 0). */
  priority?: number | undefined;
}

export interface FunctionCall {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** One outcome of task_cancel per UID (SPEC §7.1). */
export type CancelOutcome = "cancelled" | "cancelling" | "already_completed" | "not_found";

/** A worker that can take tasks (today: the environment's one worker process). */
interface WorkerSlot {
  id: string;
  send(msg: ManagerToWorker): boolean;
}

interface Job {
  uid: string;
  call: FunctionCall;
  background: boolean;
  timeout: number | undefined;
  maxRetries: number;
  retryBackoff: number;
  expires: number | undefined;
  priority: number;
  seq: number;
  /** Dependencies that have not completed yet. */
  waitingOn: Set<string>;
  /** Why the task was cancelled by a dependency (for its own dependents' messages). */
  cause: string | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  timeoutTimer: NodeJS.Timeout | undefined;
}

/** Longest wait between two tries. */
const MAX_BACKOFF_SEC = 300;

const ENDED_AS: Record<Exclude<FinalState, "completed">, string> = {
  failed: "failed",
  cancelled: "was cancelled",
  timed_out: "timed out",
  expired: "expired",
};

function clear(t: NodeJS.Timeout | undefined): undefined {
  if (t) clearTimeout(t);
  return undefined;
}

export class TaskScheduler {
  /** Function tasks that have not ended. */
  private readonly jobs = new Map<string, Job>();
  /** Pending jobs whose dependencies completed, waiting for a worker. */
  private ready: Job[] = [];
  /** parent uid → uids of the tasks that wait for it. */
  private readonly dependents = new Map<string, Set<string>>();
  /** Running tasks asked to stop: when their grace period ends. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private seq = 0;

  constructor(
    private readonly tasks: TaskRegistry,
    private readonly env: EnvironmentController,
    private readonly log: Logger,
    private readonly opts: { cancelGraceSec: number },
  ) {
    tasks.onFinal((r) => this.onFinal(r));
    env.onTaskMessage = (worker, m) => this.onTaskMessage(worker, m);
    env.onWorkerGone = (reopening, why) => this.onWorkerGone(reopening, why);
  }

  /**
   * The UIDs of `after` that cannot be waited for: never seen, or purged (its
   * outcome is no longer known).
   */
  unknownDependencies(after: readonly string[]): string[] {
    return after.filter((uid) => this.tasks.get(uid) === undefined);
  }

  /** Accept a function task; it runs at once unless it has to wait. */
  submit(uid: string, call: FunctionCall, background: boolean, o: TaskOptions): void {
    const after = [...new Set(o.after ?? [])];
    const job: Job = {
      uid,
      call,
      background,
      timeout: o.timeout,
      maxRetries: o.max_retries ?? 0,
      retryBackoff: o.retry_backoff ?? 1,
      expires: o.expires,
      priority: o.priority ?? 0,
      seq: this.seq++,
      waitingOn: new Set(),
      cause: undefined,
      expiryTimer: undefined,
      retryTimer: undefined,
      timeoutTimer: undefined,
    };
    this.tasks.create({
      uid,
      name: call.name,
      kind: "function",
      background,
      after,
      priority: job.priority,
    });
    this.jobs.set(uid, job);
    for (const dep of after) {
      const parent = this.tasks.get(dep);
      if (!parent || parent.state === "completed") continue;
      if (parent.result) {
        // The parent already ended without success.
        this.cancelForDependency(job, parent);
        return;
      }
      job.waitingOn.add(dep);
      let set = this.dependents.get(dep);
      if (!set) {
        set = new Set();
        this.dependents.set(dep, set);
      }
      set.add(uid);
    }
    if (job.expires !== undefined) {
      job.expiryTimer = setTimeout(() => this.expire(job), job.expires * 1000);
    }
    if (job.waitingOn.size === 0) {
      this.ready.push(job);
      this.pump();
    }
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
    if (rec.state === "running") {
      this.stop(rec, "cancelled", "The task was cancelled");
      const g = this.opts.cancelGraceSec;
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

  /** The environment's worker is open: run what waits for one. */
  workerReady(): void {
    this.pump();
  }

  stats(): TaskStats {
    return {
      queue_depth: this.tasks.waitingCount,
      active_workers: this.env.phase === "open" && this.env.workerId !== undefined ? 1 : 0,
    };
  }

  close(): void {
    for (const job of this.jobs.values()) this.clearTimers(job);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
  }

  // ---- dispatch -------------------------------------------------------------------

  /** A worker that can take a task now (a pool would pick the least busy). */
  private pickWorker(): WorkerSlot | undefined {
    const id = this.env.workerId;
    if (this.env.phase !== "open" || id === undefined) return undefined;
    return { id, send: (msg) => this.env.send(msg) };
  }

  /** Hand the ready tasks to workers, highest priority first. */
  private pump(): void {
    if (this.ready.length === 0) return;
    const worker = this.pickWorker();
    if (!worker) return;
    const batch = this.ready.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    this.ready = [];
    for (const job of batch) this.dispatch(job, worker);
  }

  private dispatch(job: Job, worker: WorkerSlot): void {
    const rec = this.tasks.active(job.uid);
    if (!rec) return;
    job.expiryTimer = clear(job.expiryTimer);
    this.tasks.dispatched(job.uid, worker.id);
    worker.send({
      type: "execute",
      id: job.uid,
      name: job.call.name,
      args: job.call.args,
      kwargs: job.call.kwargs,
      background: job.background,
      attempt: rec.attempts,
    });
    if (job.timeout !== undefined) {
      const t = job.timeout;
      job.timeoutTimer = setTimeout(() => {
        job.timeoutTimer = undefined;
        const r = this.tasks.active(job.uid);
        if (r?.state === "running") {
          this.stop(r, "timed_out", `The task timed out: it ran longer than ${t} s`);
        }
      }, t * 1000);
    }
  }

  // ---- what the worker says -------------------------------------------------------

  private onTaskMessage(worker: string, m: TaskMessage): void {
    switch (m.type) {
      case "task_started":
        this.tasks.started(m.id, worker, m.time);
        break;
      case "task_progress": {
        const p: { progress?: number; message?: string; outputs?: Record<string, unknown> } = {};
        if (m.progress !== undefined) p.progress = m.progress;
        if (m.message !== undefined) p.message = m.message;
        if (m.outputs !== undefined) p.outputs = m.outputs;
        this.tasks.progress(m.id, p);
        break;
      }
      case "task_done": {
        const rec = this.tasks.active(m.id);
        if (!rec) return;
        const job = this.jobs.get(m.id);
        if (job) job.timeoutTimer = clear(job.timeoutTimer);
        if (rec.stopping) {
          this.tasks.finish(m.id, rec.stopping.state, {
            msg: rec.stopping.msg,
            traceback: m.traceback,
            time_stop: m.time_stop,
          });
        } else if (!m.success && job && rec.attempts <= job.maxRetries) {
          this.retry(job, m.msg);
        } else {
          this.tasks.finish(m.id, m.success ? "completed" : "failed", {
            msg: m.msg,
            traceback: m.traceback,
            return_value: m.return_value,
            time_stop: m.time_stop,
          });
        }
        break;
      }
    }
  }

  private retry(job: Job, reason: string): void {
    const attempts = this.tasks.get(job.uid)?.attempts ?? 1;
    // Exponential, with "equal jitter": half the step is fixed, half random.
    const step = Math.min(MAX_BACKOFF_SEC, job.retryBackoff * 2 ** (attempts - 1));
    const delay = step / 2 + Math.random() * (step / 2);
    this.tasks.retrying(job.uid, reason, delay);
    job.retryTimer = setTimeout(() => {
      job.retryTimer = undefined;
      if (this.tasks.active(job.uid)?.state !== "retrying") return;
      this.ready.push(job);
      this.pump();
    }, delay * 1000);
  }

  // ---- stopping ---------------------------------------------------------------------

  /** Abort a running task's signal; replace its worker if it has not stopped after the grace period. */
  private stop(rec: TaskRecord, state: "cancelled" | "timed_out", msg: string): void {
    if (!this.tasks.requestStop(rec.uid, state, msg)) return;
    this.env.send({ type: "cancel", id: rec.uid, reason: msg });
    if (this.graceTimers.has(rec.uid)) return;
    const g = this.opts.cancelGraceSec;
    const timer = setTimeout(() => {
      this.graceTimers.delete(rec.uid);
      const r = this.tasks.active(rec.uid);
      if (r?.state !== "running" || !r.stopping) return;
      const what = r.stopping.state === "timed_out" ? "it timed out" : "it was cancelled";
      r.stopping.msg +=
        `; it did not stop within ${g} s, so its worker process was replaced` +
        " (the environment is re-opened automatically)";
      for (const other of this.tasks.activeRecords()) {
        if (other !== r && other.state === "running" && other.stopping) {
          other.stopping.msg += "; it was ended when its worker process was replaced";
        }
      }
      this.log.warn(`Task '${r.uid}' did not stop within ${g} s after ${what}`);
      this.env.replace(`to end task '${r.uid}', which did not stop within ${g} s after ${what}`);
    }, g * 1000);
    this.graceTimers.set(rec.uid, timer);
  }

  // ---- waiting ----------------------------------------------------------------------

  private expire(job: Job): void {
    job.expiryTimer = undefined;
    const rec = this.tasks.active(job.uid);
    if (rec?.state !== "pending") return;
    const waitingFor =
      job.waitingOn.size > 0
        ? `waiting for ${[...job.waitingOn].map((u) => `'${u}'`).join(", ")} to complete`
        : "waiting for a worker";
    this.tasks.finish(job.uid, "expired", {
      msg: `The task expired: it was not started within ${job.expires} s (${waitingFor})`,
    });
  }

  private cancelForDependency(job: Job, parent: TaskRecord): void {
    const pjob = this.jobs.get(parent.uid);
    const state = parent.state as Exclude<FinalState, "completed">;
    let how = ENDED_AS[state] ?? parent.state;
    if (state === "cancelled" && pjob?.cause) how += ` because ${pjob.cause}`;
    job.cause = `task '${parent.uid}' ${how}`;
    this.tasks.finish(job.uid, "cancelled", {
      msg: `The task was cancelled: it depends on task '${parent.uid}', which ${how}`,
    });
  }

  /** A task ended: release or cancel the tasks that wait for it; drop its timers. */
  private onFinal(rec: TaskRecord): void {
    const job = this.jobs.get(rec.uid);
    if (job) {
      this.clearTimers(job);
      const i = this.ready.indexOf(job);
      if (i >= 0) this.ready.splice(i, 1);
    }
    const grace = this.graceTimers.get(rec.uid);
    if (grace) {
      clearTimeout(grace);
      this.graceTimers.delete(rec.uid);
    }
    const children = this.dependents.get(rec.uid);
    this.dependents.delete(rec.uid);
    let released = false;
    for (const child of children ?? []) {
      const cj = this.jobs.get(child);
      if (!cj || !this.tasks.active(child)) continue;
      if (rec.state === "completed") {
        cj.waitingOn.delete(rec.uid);
        if (cj.waitingOn.size === 0) {
          this.ready.push(cj);
          released = true;
        }
      } else {
        this.cancelForDependency(cj, rec);
      }
    }
    // The job is kept until here so that its dependents can name the cause.
    if (job) this.jobs.delete(rec.uid);
    if (released) this.pump();
  }

  /** The worker is gone: unless a new one is on its way, the waiting tasks cannot run. */
  private onWorkerGone(reopening: boolean, why: string): void {
    if (reopening) return;
    for (const job of [...this.jobs.values()]) {
      const rec = this.tasks.active(job.uid);
      if (rec && rec.state !== "running") {
        const what = rec.attempts > 0 ? "was not retried" : "did not run";
        this.tasks.finish(job.uid, "failed", { msg: `The task ${what}: ${why}` });
      }
    }
  }

  private clearTimers(job: Job): void {
    job.expiryTimer = clear(job.expiryTimer);
    job.retryTimer = clear(job.retryTimer);
    job.timeoutTimer = clear(job.timeoutTimer);
  }
}
