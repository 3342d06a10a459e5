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
 * Running, a task has `timeout` seconds (counted from its start in the worker) before it is
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
 * Workers: the environment's worker processes (`--workers N`). With one
 * worker every ready task is handed to it at once (the Python server's
 * behaviour: async functions run side by side in it). With a pool, each
 * worker has `slotsPerWorker` slots (`--worker-slots`, default 1: a CPU-bound
 * function holds its process's only thread, so a second task sent to a busy
 * worker would only wait there while another worker may be free). Ready
 * tasks go highest priority first to the least loaded worker with a free
 * slot (the other workers before the main one on a tie, so that the main one
 * stays free for plans); foreground tasks always run in the main worker and
 * take a slot there without waiting for one. Tasks beyond the free slots
 * wait here, where a later higher-priority task can still pass them; except
 * that once every slot is taken, each worker is dealt up to `aheadPerWorker`
 * more (`--worker-prefetch`), which wait in the worker (highest priority
 * first) and start there the moment a slot frees: short tasks then cost no
 * round trip to the manager between them. A task dealt ahead is `running`
 * (task-received) but not started; its timeout counts from its start, and a
 * cancel takes it out of the worker unrun.
 * A task whose pool worker is lost is retried if it has retries left,
 * otherwise it fails saying so (one it was not heard to start, e.g. dealt ahead, just
 * waits again, as if never dealt); a new process takes the lost one's place.
 *
 * Runs (runs.ts) submit their tasks `held`: they are released a few at a
 * time, as the run's concurrency allows.
 */
import type { Logger } from "pino";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { TaskMessage, TaskWorker, TaskWorkerPool } from "../workers/pool.js";
import type { FinalState, NewTask, TaskRecord, TaskRegistry, TaskStats } from "./registry.js";

/**
 * Most tasks dealt to one worker in one turn when every ready task may go
 * (one worker, no slot limit): a burst (a run) then flows as a pipeline, the
 * worker running a chunk while the manager deals the next and records the ends
 * of the one before, instead of three stages one after another.
 */
export const DEAL_CHUNK = 512;

/**
 * Dealing ahead grows for short tasks: a pool worker is dealt, beyond its
 * slots, as many tasks as its recent calls would run in about AHEAD_WORK_MS
 * (never fewer than `--worker-prefetch`, never more than MAX_AHEAD), so that
 * no-op-sized tasks do not wait for a round trip to the manager each few
 * tasks, while at most a few milliseconds of work wait in one worker when
 * another may be free.
 */
const AHEAD_WORK_MS = 10;
const MAX_AHEAD = 256;
/** The least dealt ahead to a worker with its own slots and `ahead` (a remote one). */
const AHEAD_OWN_SLOTS = 4;
/**
 * Short tasks stay with the worker dealt to last while what it holds would
 * run in about this long (ms): a pool of workers then costs the manager no
 * more than one worker (one pipe written and read, its ends arriving in one
 * stream) as long as one worker keeps up; longer tasks go to the least loaded.
 */
const STAY_WORK_MS = 2;
/** Weight of the newest call in a worker's running mean of call times. */
const CALL_MS_WEIGHT = 0.2;

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
  /** Only a worker with all these tags takes it (remote workers, `zqs worker --tags`). */
  worker_tags?: string[] | undefined;
}

export interface FunctionCall {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** One outcome of task_cancel per UID (SPEC §7.1). */
export type CancelOutcome = "cancelled" | "cancelling" | "already_completed" | "not_found";

/** Who asked for a task, the task (or plan item) that submitted it, where it is recorded (see NewTask). */
export type TaskLinks = Pick<NewTask, "user" | "group" | "parent" | "listedElsewhere">;

/** Where a task of a run stands in it. */
export interface RunPlace {
  uid: string;
  index: number;
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
  /** The worker it was handed to (holding one of its slots), while it runs. */
  worker: string | undefined;
  /** Its slot is lent to other tasks while it waits for its subtasks (see `lendSlot`). */
  lent: boolean;
  /** Its worker has started it (task_started), this attempt; false while dealt ahead. */
  started: boolean;
  /** The run it belongs to, and its index there. */
  run: RunPlace | undefined;
  /** Submitted but not released yet (a run's task waiting for its turn). */
  held: boolean;
  /** Tags a worker must have to take it. */
  tags: string[];
  /** Its record says that no connected worker offers it. */
  noted: boolean;
  /** In `ready`, waiting for a worker. */
  queued: boolean;
}

/** Longest wait between two tries. */
const MAX_BACKOFF_SEC = 300;

const ENDED_AS: Record<Exclude<FinalState, "completed">, string> = {
  failed: "failed",
  cancelled: "was cancelled",
  timed_out: "timed out",
  expired: "expired",
};

/** The worker may take the job: it offers the function and has every tag asked for. */
function fits(w: TaskWorker, job: Job): boolean {
  if (w.offers && !w.offers(job.call.name)) return false;
  for (const t of job.tags) if (!w.tags?.has(t)) return false;
  return true;
}

function clear(t: NodeJS.Timeout | undefined): undefined {
  if (t) clearTimeout(t);
  return undefined;
}

export class TaskScheduler {
  /** Function tasks that have not ended. */
  private readonly jobs = new Map<string, Job>();
  /**
   * Pending jobs whose dependencies completed, waiting for a worker. A job
   * that ends while it waits here stays in place, no longer `queued` (taking
   * it out would cost a search of the whole list per ending task): dealing
   * passes over it, and the list is compacted when most of it is such.
   */
  private ready: Job[] = [];
  /** Jobs in `ready` that ended there (not `queued`). */
  private staleReady = 0;
  /** parent uid → uids of the tasks that wait for it. */
  private readonly dependents = new Map<string, Set<string>>();
  /** Running tasks asked to stop: when their grace period ends. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private seq = 0;
  /** Worker id → the tasks it runs now (slots taken). */
  private readonly load = new Map<string, number>();
  private pumpScheduled = false;
  /** `ready` is in dispatch order (no job was added since it was sorted). */
  private readySorted = true;
  /** Jobs made ready since every slot was last seen taken (noteNewUnoffered looks at them). */
  private fresh: Job[] = [];
  /** Foreground jobs in `ready` (they do not wait for a slot). */
  private readyForeground = 0;
  /** Worker id → running mean of its calls' run times (ms), from their task_done. */
  private readonly callMs = new Map<string, number>();
  /** The worker dealt a background task to last (see STAY_WORK_MS). */
  private lastWorker: string | undefined;

  constructor(
    private readonly tasks: TaskRegistry,
    private readonly pool: TaskWorkerPool,
    private readonly log: Logger,
    private readonly opts: { cancelGraceSec: number },
  ) {
    tasks.events.on("final", (r) => this.onFinal(r));
    pool.on("task-message", (worker, m) => this.onTaskMessage(worker, m));
    pool.on("all-gone", (reopening, why) => this.onWorkerGone(reopening, why));
    pool.on("worker-lost", (worker, msg) => this.workerLost(worker, msg));
    pool.on("worker-joined", () => this.pump());
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
    o: TaskOptions,
    run?: { place: RunPlace; held: boolean },
    links: TaskLinks = {},
  ): void {
    const after = o.after?.length ? [...new Set(o.after)] : [];
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
      worker: undefined,
      lent: false,
      started: false,
      run: run?.place,
      held: run?.held ?? false,
      tags: o.worker_tags ?? [],
      noted: false,
      queued: false,
    };
    this.tasks.create({
      uid,
      name: call.name,
      kind: "function",
      background,
      after,
      priority: job.priority,
      ...(run ? { runUid: run.place.uid } : {}),
      ...links,
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
    if (job.waitingOn.size === 0 && !job.held) {
      this.enqueue(job);
      this.pump();
    }
  }

  /** Let held tasks (of a run) go to the workers. */
  release(uids: readonly string[]): void {
    for (const uid of uids) {
      const job = this.jobs.get(uid);
      if (!job?.held) continue;
      job.held = false;
      if (job.waitingOn.size === 0 && this.tasks.active(uid)?.state === "pending") {
        this.enqueue(job);
      }
    }
    this.schedulePump();
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
    if (this.tasks.isEnding(uid)) {
      return {
        outcome: "cancelling",
        note: `task '${uid}' has already ended: its outcome is being saved`,
      };
    }
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

  /**
   * A running task waits for its subtasks: the slot it holds is lent to the
   * other tasks (its children among them) until `reclaimSlot`, so that parents
   * waiting for children never hold every slot of the pool. Its process still
   * runs it (idle, awaiting): the slot count of that worker is exceeded for a
   * while when it resumes beside the tasks that took the slot.
   */
  lendSlot(uid: string): void {
    const job = this.jobs.get(uid);
    if (!job || job.worker === undefined || job.lent) return;
    job.lent = true;
    const n = this.load.get(job.worker) ?? 0;
    if (n <= 1) this.load.delete(job.worker);
    else this.load.set(job.worker, n - 1);
    this.schedulePump();
  }

  /** The task resumes (its awaited subtasks ended): it takes its slot back. */
  reclaimSlot(uid: string): void {
    const job = this.jobs.get(uid);
    if (!job?.lent) return;
    job.lent = false;
    if (job.worker !== undefined) this.load.set(job.worker, (this.load.get(job.worker) ?? 0) + 1);
  }

  /** The environment's worker is open: run what waits for one. */
  workerReady(): void {
    this.pump();
  }

  stats(): TaskStats {
    return {
      queue_depth: this.tasks.waitingCount,
      active_workers: this.pool.workers().length,
    };
  }

  close(): void {
    for (const job of this.jobs.values()) this.clearTimers(job);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
  }

  // ---- dispatch -------------------------------------------------------------------

  /** Pump once at the end of this turn (many changes, one pass over the ready tasks). */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private enqueue(job: Job): void {
    this.fresh.push(job);
    job.queued = true;
    this.ready.push(job);
    this.readySorted = false;
    if (!job.background) this.readyForeground++;
  }

  /** A job ended while it waited in `ready`: it stays there, passed over (see `ready`). */
  private unqueue(job: Job): void {
    job.queued = false;
    if (!job.background) this.readyForeground--;
    this.staleReady++;
    if (this.staleReady > 1024 && this.staleReady * 2 > this.ready.length) {
      // Order kept: `readySorted` still holds.
      this.ready = this.ready.filter((j) => j.queued);
      this.staleReady = 0;
    }
  }

  /** Worker processes taking tasks, slots taken, slots free (`null`: no limit per worker). */
  slotUsage(): { workers: number; busy: number; free: number | null } {
    const workers = this.pool.workers();
    let busy = 0;
    for (const w of workers) busy += this.load.get(w.id) ?? 0;
    const slots = this.pool.slotsPerWorker;
    const free = Number.isFinite(slots) ? Math.max(0, workers.length * slots - busy) : null;
    return { workers: workers.length, busy, free };
  }

  /** Hand the ready tasks to workers with free slots, highest priority first, a batch per worker. */
  private pump(): void {
    if (this.ready.length === 0) return;
    const out = new Map<string, ExecuteFunctionMsg[]>();
    this.deal(out);
    for (const [worker, tasks] of out) this.pool.sendTasks(worker, tasks);
  }

  private deal(out: Map<string, ExecuteFunctionMsg[]>): void {
    const workers = this.pool.workers();
    const main = workers.find((w) => w.main);
    if (!main) return;
    if (
      this.pool.slotsPerWorker === Infinity &&
      workers.length === 1 &&
      main.background !== false
    ) {
      // Everything goes, a chunk per turn: the worker runs one chunk while this
      // process deals the next and records the ends of the one before.
      const batch = this.sortedReady();
      const take = batch.splice(0, DEAL_CHUNK);
      this.fresh = [];
      for (const job of take) {
        if (!job.queued) {
          this.staleReady--;
          continue;
        }
        if (!job.background) this.readyForeground--;
        this.dispatch(job, main, out);
      }
      if (this.ready.length > 0) this.schedulePump();
      return;
    }
    // Least loaded first; on a tie the other workers before the main one.
    const order = [...workers.filter((w) => !w.main), main].filter((w) => w.background !== false);
    let free = 0;
    for (const w of order) free += Math.max(0, this.capacity(w) - (this.load.get(w.id) ?? 0));
    if (free === 0 && this.readyForeground === 0) {
      this.noteNewUnoffered(order);
      return;
    }
    const batch = this.sortedReady();
    const left: Job[] = [];
    let i = 0;
    for (; i < batch.length; i++) {
      const job = batch[i] as Job;
      if (!job.queued) {
        this.staleReady--;
        continue;
      }
      if (!job.background) {
        this.readyForeground--;
        this.dispatch(job, main, out);
        continue;
      }
      if (free === 0) {
        if (this.readyForeground === 0) break;
        left.push(job);
        continue;
      }
      let best = this.stay(job, order);
      let bestLoad = Infinity;
      let offered = best !== undefined;
      if (!best)
        for (const w of order) {
          if (!fits(w, job)) continue;
          offered = true;
          const n = this.load.get(w.id) ?? 0;
          if (n < bestLoad && n < this.capacity(w)) {
            best = w;
            bestLoad = n;
          }
        }
      if (!best) {
        // Every worker that could take it is busy, or none offers it: it waits.
        if (!offered) this.noteUnoffered(job);
        left.push(job);
        continue;
      }
      free--;
      this.lastWorker = best.id;
      this.dispatch(job, best, out);
    }
    // What is left keeps its order (sorted): the jobs not reached, after those passed over.
    if (left.length === 0) {
      // In place: a long ready list (a run) is not copied at every deal.
      if (i > 0) batch.splice(0, i);
      this.ready = batch;
    } else this.ready = left.concat(batch.slice(i));
    this.noteNewUnoffered(order);
  }

  /** The worker dealt to last, when its tasks are short and it holds little (see STAY_WORK_MS). */
  private stay(job: Job, order: readonly TaskWorker[]): TaskWorker | undefined {
    const ms = this.lastWorker === undefined ? undefined : this.callMs.get(this.lastWorker);
    if (ms === undefined) return undefined;
    const w = order.find((o) => o.id === this.lastWorker);
    if (!w || !fits(w, job)) return undefined;
    const n = this.load.get(w.id) ?? 0;
    return n < this.capacity(w) && (n + 1) * ms <= STAY_WORK_MS ? w : undefined;
  }

  /**
   * How many tasks `w` may hold: its own slots (a remote worker), or the
   * pool's slots and the tasks dealt ahead (more for short tasks, see
   * AHEAD_WORK_MS; none when `--worker-prefetch` is 0).
   */
  private capacity(w: TaskWorker): number {
    if (w.slots !== undefined && w.ahead !== true) return w.slots;
    const slots = w.slots ?? this.pool.slotsPerWorker;
    // A worker with its own slots (remote) is dealt ahead as a pool's default prefetch.
    const ahead = w.slots !== undefined ? AHEAD_OWN_SLOTS : (this.pool.aheadPerWorker ?? 0);
    if (ahead === 0) return slots;
    const ms = this.callMs.get(w.id);
    const short = ms === undefined ? 0 : Math.floor(AHEAD_WORK_MS / Math.max(ms, 0.01));
    return slots + Math.max(ahead, Math.min(MAX_AHEAD, short));
  }

  private sortedReady(): Job[] {
    if (!this.readySorted) {
      this.ready.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      this.readySorted = true;
    }
    return this.ready;
  }

  /**
   * Every slot is taken: the jobs that became ready since the last look, which
   * no worker could take even when free, say so (each job is looked at once).
   */
  private noteNewUnoffered(order: readonly TaskWorker[]): void {
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    this.fresh = [];
    for (const job of fresh) {
      if (!job.background || job.worker !== undefined || !this.tasks.active(job.uid)) continue;
      if (!order.some((w) => fits(w, job))) this.noteUnoffered(job);
    }
  }

  /** Say in the task's record why it waits (once, until it is dealt). */
  private noteUnoffered(job: Job): void {
    if (job.noted) return;
    job.noted = true;
    const tags = job.tags.length > 0 ? ` with the tags ${job.tags.join(", ")}` : "";
    this.tasks.note(
      job.uid,
      `Waiting: no connected worker${tags} offers the function '${job.call.name}'`,
    );
  }

  private dispatch(job: Job, worker: TaskWorker, out: Map<string, ExecuteFunctionMsg[]>): void {
    job.queued = false;
    const rec = this.tasks.active(job.uid);
    if (!rec) return;
    if (job.noted) {
      job.noted = false;
      this.tasks.note(job.uid, null);
    }
    job.expiryTimer = clear(job.expiryTimer);
    job.worker = worker.id;
    job.started = false;
    this.tasks.mark(job.uid, "dispatched");
    this.load.set(worker.id, (this.load.get(worker.id) ?? 0) + 1);
    this.tasks.dispatched(job.uid, worker.id);
    let batch = out.get(worker.id);
    if (!batch) out.set(worker.id, (batch = []));
    batch.push({
      type: "execute",
      id: job.uid,
      name: job.call.name,
      args: job.call.args,
      kwargs: job.call.kwargs,
      background: job.background,
      attempt: rec.attempts,
      ...(job.priority !== 0 ? { priority: job.priority } : {}),
      ...(job.run ? { run: job.run } : {}),
    });
  }

  /** The task started in its worker: its timeout counts from now. */
  private startTimeout(job: Job): void {
    if (job.timeout === undefined || job.timeoutTimer) return;
    const t = job.timeout;
    job.timeoutTimer = setTimeout(() => {
      job.timeoutTimer = undefined;
      const r = this.tasks.active(job.uid);
      if (r?.state === "running") {
        this.stop(r, "timed_out", `The task timed out: it ran longer than ${t} s`);
      }
    }, t * 1000);
  }

  // ---- what the worker says -------------------------------------------------------

  private onTaskMessage(worker: string, m: TaskMessage): void {
    switch (m.type) {
      case "task_started": {
        this.tasks.started(m.id, worker, m.time);
        const job = this.jobs.get(m.id);
        if (job) job.started = true;
        if (job && this.tasks.active(m.id)?.state === "running") this.startTimeout(job);
        break;
      }
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
        this.noteCallTime(worker, m.call_ms ?? (m.time_stop - m.time_start) * 1000);
        this.tasks.mark(m.id, "end_heard");
        if (m.trace)
          for (const [k, at] of Object.entries(m.trace)) this.tasks.mark(m.id, `worker_${k}`, at);
        if (job) {
          job.timeoutTimer = clear(job.timeoutTimer);
          // Its worker's slot is free now, while its outcome is being made durable.
          if (this.unload(job)) this.schedulePump();
        }
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

  /** A call took `callMs` in `worker`: its running mean of call times moves. */
  private noteCallTime(worker: string, callMs: number): void {
    const ms = Math.max(0, callMs);
    if (!Number.isFinite(ms)) return;
    const prev = this.callMs.get(worker);
    this.callMs.set(worker, prev === undefined ? ms : prev + (ms - prev) * CALL_MS_WEIGHT);
  }

  /** The task no longer holds a slot of its worker. */
  private unload(job: Job): boolean {
    const w = job.worker;
    if (w === undefined) return false;
    job.worker = undefined;
    if (job.lent) {
      // Its slot was lent: nothing to give back.
      job.lent = false;
      return true;
    }
    const n = this.load.get(w);
    if (n !== undefined) {
      if (n <= 1) this.load.delete(w);
      else this.load.set(w, n - 1);
    }
    return true;
  }

  /**
   * A worker of the pool (not the main one) is gone while the environment
   * stays open: its tasks end as asked (cancel, timeout), are retried if they
   * have retries left, or fail with `msg`.
   */
  private workerLost(worker: string, msg: string): void {
    this.callMs.delete(worker);
    for (const rec of this.tasks.activeRecords()) {
      if (rec.state !== "running" || rec.worker !== worker) continue;
      const job = this.jobs.get(rec.uid);
      if (job) this.unload(job);
      if (job && !job.started && !rec.stopping) {
        // Dealt ahead and never started: it goes back to wait for a worker, unharmed.
        this.tasks.undealt(rec.uid, msg);
        this.enqueue(job);
      } else if (rec.stopping) {
        this.tasks.finish(rec.uid, rec.stopping.state, { msg: rec.stopping.msg });
      } else if (job && rec.attempts <= job.maxRetries) {
        this.retry(job, msg);
      } else {
        this.tasks.finish(rec.uid, "failed", { msg });
      }
    }
    this.load.delete(worker);
    this.schedulePump();
  }

  private retry(job: Job, reason: string): void {
    if (this.unload(job)) this.schedulePump();
    const attempts = this.tasks.get(job.uid)?.attempts ?? 1;
    // Exponential, with "equal jitter": half the step is fixed, half random.
    const step = Math.min(MAX_BACKOFF_SEC, job.retryBackoff * 2 ** (attempts - 1));
    const delay = step / 2 + Math.random() * (step / 2);
    this.tasks.retrying(job.uid, reason, delay);
    job.retryTimer = setTimeout(() => {
      job.retryTimer = undefined;
      if (this.tasks.active(job.uid)?.state !== "retrying") return;
      this.enqueue(job);
      this.pump();
    }, delay * 1000);
  }

  // ---- stopping ---------------------------------------------------------------------

  /** Abort a running task's signal; replace its worker if it has not stopped after the grace period. */
  private stop(rec: TaskRecord, state: "cancelled" | "timed_out", msg: string): void {
    if (!this.tasks.requestStop(rec.uid, state, msg)) return;
    this.pool.cancel(rec.worker, rec.uid, msg);
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
      // Replacing the main worker re-opens the whole environment; another worker goes alone.
      const alone = r.worker !== null && r.worker !== this.pool.mainWorkerId;
      for (const other of this.tasks.activeRecords()) {
        if (alone && other.worker !== r.worker) continue;
        if (other !== r && other.state === "running" && other.stopping) {
          other.stopping.msg += "; it was ended when its worker process was replaced";
        }
      }
      this.log.warn(`Task '${r.uid}' did not stop within ${g} s after ${what}`);
      this.pool.replace(
        `to end task '${r.uid}', which did not stop within ${g} s after ${what}`,
        r.worker,
      );
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
    let released = false;
    if (job) {
      if (this.unload(job)) released = true;
      this.clearTimers(job);
      if (job.queued) this.unqueue(job);
    }
    const grace = this.graceTimers.get(rec.uid);
    if (grace) {
      clearTimeout(grace);
      this.graceTimers.delete(rec.uid);
    }
    const children = this.dependents.get(rec.uid);
    this.dependents.delete(rec.uid);
    for (const child of children ?? []) {
      const cj = this.jobs.get(child);
      if (!cj || !this.tasks.active(child)) continue;
      if (rec.state === "completed") {
        cj.waitingOn.delete(rec.uid);
        if (cj.waitingOn.size === 0) {
          this.enqueue(cj);
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
    // The slots of workers on other hosts stay taken: their tasks go on.
    const remote = new Set(this.pool.workers().flatMap((w) => (w.remote ? [w.id] : [])));
    for (const id of [...this.load.keys()]) if (!remote.has(id)) this.load.delete(id);
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
