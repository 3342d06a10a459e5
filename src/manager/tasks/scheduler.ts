/**
 * The task scheduler: deals ready function tasks to workers. It knows nothing
 * of a task's life (lifecycle.ts decides when a task is ready, retried,
 * stopped or ended); it keeps the ready queue, the slots taken on each worker
 * and each worker's recent call times, and hands tasks out.
 *
 * Ready tasks are dispatched highest `priority` first, then in the order they
 * became ready. With one worker (no slot limit) every ready task it may take is handed to
 * it at once, a chunk per turn (the Python server's behaviour: async
 * functions run side by side in it). With a pool, each worker has
 * `slotsPerWorker` slots (`--worker-slots`, default 1: a CPU-bound function
 * holds its process's only thread, so a second task sent to a busy worker
 * would only wait there while another worker may be free). Ready tasks go
 * highest priority first to the least loaded worker with a free slot (the
 * other workers before the main one on a tie, so that the main one stays free
 * for plans); foreground tasks always run in the main worker and take a slot
 * there without waiting for one. Tasks beyond the free slots wait here, where
 * a later higher-priority task can still pass them; except that once every
 * slot is taken, each worker is dealt up to `aheadPerWorker` more
 * (`--worker-prefetch`; more for short calls, see AHEAD_WORK_MS), which wait
 * in the worker (highest priority first) and start there the moment a slot
 * frees: short tasks then cost no round trip to the manager between them.
 * Each worker's pace is worker-pace.ts, a function's rate limit is asked in
 * rate-limits.ts, and why a task waits is said in its record by wait-notes.ts.
 */
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { TaskWorker } from "../workers/pool.js";
import type { DealerPool, DealerTasks, SchedulerContext } from "./context.js";
import type { DealJob } from "./task-record.js";
import { WorkerIndex } from "./worker-index.js";
import { RateLimits, SYSTEM_CLOCK } from "./rate-limits.js";
import { WaitNotes } from "./wait-notes.js";
import { WorkerPace } from "./worker-pace.js";

/**
 * Most tasks dealt to one worker in one turn when every ready task may go
 * (one worker, no slot limit): a burst (a run) then flows as a pipeline, the
 * worker running a chunk while the manager deals the next and records the ends
 * of the one before, instead of three stages one after another.
 */
export const DEAL_CHUNK = 512;

interface Job extends DealJob {
  seq: number;
  /** In `ready`, waiting for a worker. */
  queued: boolean;
  /** Its record says that no connected worker offers it. */
  noted: boolean;
  /** The worker it was handed to (holding one of its slots), while it runs. */
  worker: string | undefined;
  /** Its slot is lent to other tasks while it waits for its subtasks. */
  lent: boolean;
  /** Held by its function's rate limit (in `limits`, not in `ready`). */
  held: boolean;
}

/** The worker may take the job: it offers the function and has every tag asked for. */
function fits(w: TaskWorker, job: Job): boolean {
  if (w.offers && !w.offers(job.call.name)) return false;
  for (const t of job.tags) if (!w.tags?.has(t)) return false;
  return true;
}

export class TaskScheduler {
  /** Function tasks added and not forgotten. */
  private readonly jobs = new Map<string, Job>();
  /**
   * Jobs ready, waiting for a worker. A job that ends while it waits here
   * stays in place, no longer `queued` (taking it out would cost a search of
   * the whole list per ending task): dealing passes over it, and the list is
   * compacted when most of it is such.
   */
  private ready: Job[] = [];
  /** Jobs in `ready` that ended there (not `queued`). */
  private staleReady = 0;
  private seq = 0;
  /** Worker id → the tasks it runs now (slots taken). */
  private readonly load = new Map<string, number>();
  private pumpScheduled = false;
  /** `ready` is in dispatch order (no job was added since it was sorted). */
  private readySorted = true;
  /** Foreground jobs in `ready` (they do not wait for a slot). */
  private readyForeground = 0;
  /** The worker dealt a background task to last (see WorkerPace.mayStay). */
  private lastWorker: string | undefined;
  private readonly tasks: DealerTasks;
  private readonly pool: DealerPool;
  /** Each worker's calls' run times: how many tasks it may hold. */
  private readonly pace: WorkerPace;
  /** Why a task waits, in its record. */
  private readonly notes: WaitNotes<Job>;
  /** The workers by what they offer, those with free capacity least loaded first. */
  private readonly index = new WorkerIndex({
    load: (id) => this.load.get(id) ?? 0,
    capacity: (w) => this.pace.capacity(w),
  });
  /** The pool's `workersVersion` the index was built at (undefined: not built). */
  private indexedAt: number | undefined;

  /** The functions' rate limits (rate-limits.ts), asked before a task is dealt. */
  readonly limits: RateLimits<Job>;

  constructor(ctx: SchedulerContext) {
    this.tasks = ctx.tasks;
    this.pool = ctx.pool;
    this.pace = new WorkerPace(ctx.pool);
    this.notes = new WaitNotes(ctx.tasks);
    this.limits = new RateLimits<Job>(ctx.rateLimits ?? { defaults: new Map(), max: 1000 }, {
      ...(ctx.clock ?? SYSTEM_CLOCK),
      release: (jobs) => {
        for (const job of jobs) {
          job.held = false;
          this.enqueue(job.uid);
        }
        this.schedulePump();
      },
    });
  }

  /** A task to deal once it is ready (`enqueue`). */
  add(d: DealJob): void {
    // Written out (not `...d`): one shape for every job, no copy by enumeration.
    this.jobs.set(d.uid, {
      uid: d.uid,
      call: d.call,
      background: d.background,
      priority: d.priority,
      tags: d.tags,
      run: d.run,
      seq: this.seq++,
      queued: false,
      noted: false,
      worker: undefined,
      lent: false,
      held: false,
    });
  }

  /** The task is ready (again): it waits for a worker. */
  enqueue(uid: string): void {
    const job = this.jobs.get(uid);
    if (!job || job.queued || job.held) return;
    this.notes.ready(job);
    job.queued = true;
    this.ready.push(job);
    this.readySorted = false;
    if (!job.background) this.readyForeground++;
  }

  /** The task ended: it no longer holds a slot nor waits. Whether it held a slot. */
  forget(uid: string): boolean {
    const job = this.jobs.get(uid);
    if (!job) return false;
    const held = this.unload(job);
    if (job.queued) this.unqueue(job);
    if (job.held) this.limits.drop(job);
    else if (this.limits.active) this.limits.gone(uid);
    this.jobs.delete(uid);
    return held;
  }

  /** The task's worker no longer holds it (it ended there, or is lost): its slot is free. */
  free(uid: string): void {
    const job = this.jobs.get(uid);
    if (this.limits.active) this.limits.gone(uid);
    if (job && this.unload(job)) this.schedulePump();
  }

  /** The task was heard to start in its worker (its function's rate limit counts it from then). */
  started(uid: string, timeSec: number): void {
    if (this.limits.active) this.limits.started(uid, timeSec);
  }

  /** `worker` ended a call that took `callMs`: its running mean moves, the task's slot frees. */
  ended(uid: string, worker: string, callMs: number): void {
    // Its capacity follows its call times.
    if (this.pace.ended(worker, callMs)) this.index.update(worker);
    this.free(uid);
  }

  /**
   * A running task waits for its subtasks: the slot it holds is lent to the
   * other tasks (its children among them) until `reclaim`, so that parents
   * waiting for children never hold every slot of the pool. Its process still
   * runs it (idle, awaiting): the slot count of that worker is exceeded for a
   * while when it resumes beside the tasks that took the slot.
   */
  lend(uid: string): void {
    const job = this.jobs.get(uid);
    if (!job || job.worker === undefined || job.lent) return;
    job.lent = true;
    this.take(job.worker, -1);
    this.schedulePump();
  }

  /** The task resumes (its awaited subtasks ended): it takes its slot back. */
  reclaim(uid: string): void {
    const job = this.jobs.get(uid);
    if (!job?.lent) return;
    job.lent = false;
    if (job.worker !== undefined) this.take(job.worker, 1);
  }

  /** A task found running at start, taken back by `worker` (not dealt here): it holds a slot there. */
  adopt(uid: string, worker: string): void {
    const job = this.jobs.get(uid);
    if (!job || job.worker !== undefined) return;
    job.worker = worker;
    this.take(worker, 1);
  }

  /** A worker is gone (its tasks were dealt with): what was known of it goes. */
  workerLost(worker: string): void {
    this.pace.forget(worker);
    this.load.delete(worker);
    this.index.update(worker);
    this.schedulePump();
  }

  /** The local workers are gone: their slots are free (those of workers on other hosts stay taken). */
  localGone(): void {
    // The index as last built: the pool lists no worker once the local ones are gone,
    // while those on other hosts that hold tasks were in it when they were dealt them.
    const index = this.index;
    for (const id of [...this.load.keys()]) {
      if (index.get(id)?.remote) continue;
      this.load.delete(id);
      index.update(id);
    }
  }

  /** Workers taking tasks now. */
  workerCount(): number {
    return this.workers().count;
  }

  /** Worker processes taking tasks, slots taken, slots free (`null`: no limit per worker). */
  slotUsage(): { workers: number; busy: number; free: number | null } {
    const { count, busy } = this.workers();
    const slots = this.pool.slotsPerWorker;
    const free = Number.isFinite(slots) ? Math.max(0, count * slots - busy) : null;
    return { workers: count, busy, free };
  }

  /** Pump once at the end of this turn (many changes, one pass over the ready tasks). */
  schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Hand the ready tasks to workers with free slots, highest priority first, a batch per worker. */
  pump(): void {
    if (this.ready.length === 0) return;
    const out = new Map<string, ExecuteFunctionMsg[]>();
    this.deal(out);
    for (const [worker, tasks] of out) this.pool.sendTasks(worker, tasks);
  }

  /**
   * The index of the workers taking tasks now, built again when the pool says
   * that they changed (at every call for a pool that keeps no `workersVersion`).
   */
  private workers(): WorkerIndex {
    const v = this.pool.workersVersion;
    if (v === undefined || v !== this.indexedAt) {
      this.index.sync(this.pool.workers());
      this.indexedAt = v;
    }
    return this.index;
  }

  private take(worker: string, n: number): void {
    const now = (this.load.get(worker) ?? 0) + n;
    if (now <= 0) this.load.delete(worker);
    else this.load.set(worker, now);
    this.index.update(worker);
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
    this.take(w, -1);
    return true;
  }

  private deal(out: Map<string, ExecuteFunctionMsg[]>): void {
    const index = this.workers();
    const main = index.main;
    if (!main) return;
    if (this.pool.slotsPerWorker === Infinity && index.count === 1 && main.background !== false) {
      this.dealAll(main, out);
      return;
    }
    // Least loaded first; on a tie the other workers before the main one (the index's order).
    if (index.free === 0 && this.readyForeground === 0) {
      this.notes.noteNew(index);
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
      if (index.free === 0) {
        if (this.readyForeground === 0) break;
        left.push(job);
        continue;
      }
      let best = this.stay(job, index);
      let offered = best !== undefined;
      if (!best) ({ worker: best, offered } = index.best(job.call.name, job.tags));
      if (!best) {
        // Every worker that could take it is busy, or none offers it: it waits.
        if (!offered) this.notes.unoffered(job);
        left.push(job);
        continue;
      }
      this.lastWorker = best.id;
      this.dispatch(job, best, out);
    }
    // What is left keeps its order (sorted): the jobs not reached, after those passed over.
    if (left.length === 0) {
      // In place: a long ready list (a run) is not copied at every deal.
      if (i > 0) batch.splice(0, i);
      this.ready = batch;
    } else this.ready = left.concat(batch.slice(i));
    this.notes.noteNew(index);
  }

  /**
   * One worker, no slot limit: every ready task it may take goes, a chunk per
   * turn (the worker runs one chunk while this process deals the next and
   * records the ends of the one before). A background task it may not take
   * (a tag or function it lacks) waits, as with a pool, for a worker that may.
   */
  private dealAll(main: TaskWorker, out: Map<string, ExecuteFunctionMsg[]>): void {
    const batch = this.sortedReady();
    this.notes.seen();
    const left: Job[] = [];
    let dealt = 0;
    let i = 0;
    for (; i < batch.length && dealt < DEAL_CHUNK; i++) {
      const job = batch[i] as Job;
      if (!job.queued) {
        this.staleReady--;
        continue;
      }
      if (job.background && !fits(main, job)) {
        this.notes.unoffered(job);
        left.push(job);
        continue;
      }
      if (!job.background) this.readyForeground--;
      this.dispatch(job, main, out);
      dealt++;
    }
    const more = i < batch.length;
    if (left.length === 0) {
      if (i > 0) batch.splice(0, i);
      this.ready = batch;
    } else this.ready = left.concat(batch.slice(i));
    // Only the tasks not reached call for another turn: those left wait for another worker.
    if (more) this.schedulePump();
  }

  /** The worker dealt to last, when its tasks are short and it holds little (WorkerPace.mayStay). */
  private stay(job: Job, index: WorkerIndex): TaskWorker | undefined {
    const last = this.lastWorker;
    if (last === undefined || !this.pace.known(last)) return undefined;
    const w = index.get(last);
    if (!w || w.background === false || !fits(w, job)) return undefined;
    return this.pace.mayStay(w, this.load.get(w.id) ?? 0) ? w : undefined;
  }

  private sortedReady(): Job[] {
    if (!this.readySorted) {
      this.ready.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      this.readySorted = true;
    }
    return this.ready;
  }

  private dispatch(job: Job, worker: TaskWorker, out: Map<string, ExecuteFunctionMsg[]>): void {
    job.queued = false;
    const rec = this.tasks.active(job.uid);
    if (!rec) return;
    if (this.limits.active) {
      const why = this.limits.admit(job);
      if (why !== undefined) {
        // Held by its function's rate limit: given back (`release`) when it may start.
        job.held = true;
        this.notes.held(job, why);
        return;
      }
    }
    this.notes.dealt(job);
    job.worker = worker.id;
    this.tasks.mark(job.uid, "dispatched");
    this.take(worker.id, 1);
    this.tasks.dispatched(job.uid, worker.id);
    let batch = out.get(worker.id);
    if (!batch) out.set(worker.id, (batch = []));
    const msg: ExecuteFunctionMsg = {
      type: "execute",
      id: job.uid,
      name: job.call.name,
      args: job.call.args,
      kwargs: job.call.kwargs,
      background: job.background,
      attempt: rec.attempts,
    };
    if (job.priority !== 0) msg.priority = job.priority;
    if (job.run) msg.run = job.run;
    batch.push(msg);
  }
}
