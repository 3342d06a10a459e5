/**
 * Runs of many tasks (SPEC §7.3): `count` tasks of one function, or one per
 * element of `items`, each told its index (`context().run`), at most
 * `concurrency` at a time, spread over the worker pool by the scheduler.
 *
 * Every task of a run is a task of its own (task_info names its run_uid)
 * submitted to the scheduler `held`; the run releases them in index order as
 * its tasks end, so that no more than `concurrency` are handed out at once.
 * A run keeps the outcome of each index itself, so its counts outlive the
 * retention of the task results. Counts are made at each read from one pass
 * over the indexes: each is exactly one of waiting (pending, retrying, not
 * released yet), computing (running), done (completed) or failed (failed,
 * cancelled, timed out, expired), so they always add up to the total.
 * `percent_done` averages the tasks' progress, an ended task counting 100.
 *
 * `restart` gives the failed indexes (or, once nothing runs, all of them) new
 * tasks with new UIDs; `delete` cancels what has not ended and forgets the run.
 */
import { randomUUID } from "node:crypto";
import type { FunctionCall, TaskScheduler } from "./scheduler.js";
import type { TaskRecord, TaskRegistry } from "./tasks.js";

type Outcome = "done" | "failed" | undefined;

export interface Run {
  uid: string;
  name: string;
  user: string;
  userGroup: string;
  createdAt: number;
  /** Tasks handed out at once, at most (Infinity: as many as the workers take). */
  concurrency: number;
  /** The call of each index. */
  calls: FunctionCall[];
  /** The current task of each index. */
  uids: string[];
  outcome: Outcome[];
  /** Released and not ended, by index. */
  inFlight: boolean[];
  inFlightCount: number;
  /** Indexes waiting to be released, in order (from `head`). */
  queue: number[];
  head: number;
  deleted: boolean;
}

export interface RunCounts {
  run_uid: string;
  num_tasks: number;
  num_waiting: number;
  num_computing: number;
  num_done: number;
  num_failed: number;
  percent_done: number;
}

export class RunRegistry {
  private readonly runs = new Map<string, Run>();
  /** Task uid → its run and index (the current task of each index only). */
  private readonly byTask = new Map<string, { run: Run; index: number }>();

  constructor(
    private readonly tasks: TaskRegistry,
    private readonly scheduler: TaskScheduler,
  ) {
    tasks.onFinal((r) => this.onTaskFinal(r));
  }

  get(uid: string): Run | undefined {
    return this.runs.get(uid);
  }

  list(): Run[] {
    return [...this.runs.values()];
  }

  create(o: {
    name: string;
    calls: FunctionCall[];
    concurrency: number | undefined;
    user: string;
    userGroup: string;
  }): Run {
    const n = o.calls.length;
    const run: Run = {
      uid: randomUUID(),
      name: o.name,
      user: o.user,
      userGroup: o.userGroup,
      createdAt: Date.now(),
      concurrency: o.concurrency ?? Infinity,
      calls: o.calls,
      uids: [],
      outcome: new Array<Outcome>(n).fill(undefined),
      inFlight: new Array<boolean>(n).fill(false),
      inFlightCount: 0,
      queue: [],
      head: 0,
      deleted: false,
    };
    this.runs.set(run.uid, run);
    for (let i = 0; i < n; i++) run.uids.push(this.submit(run, i));
    this.fill(run);
    return run;
  }

  /** Re-run the failed tasks (or all, when none is left to run); the new task UIDs. */
  restart(run: Run, everything: boolean): string[] {
    const indexes: number[] = [];
    for (let i = 0; i < run.uids.length; i++) {
      if (everything || run.outcome[i] === "failed") indexes.push(i);
    }
    const fresh: string[] = [];
    for (const i of indexes) {
      const old = run.uids[i];
      if (old !== undefined) this.byTask.delete(old);
      run.outcome[i] = undefined;
      const uid = this.submit(run, i);
      run.uids[i] = uid;
      fresh.push(uid);
    }
    this.fill(run);
    return fresh;
  }

  /** Tasks of the run that have not ended. */
  unfinished(run: Run): number {
    return run.outcome.reduce((n, o) => (o === undefined ? n + 1 : n), 0);
  }

  /** Cancel what has not ended and forget the run. */
  delete(run: Run): void {
    run.deleted = true;
    this.runs.delete(run.uid);
    for (const [i, uid] of run.uids.entries()) {
      this.byTask.delete(uid);
      if (run.outcome[i] === undefined) this.scheduler.cancel(uid);
    }
  }

  counts(run: Run): RunCounts {
    let waiting = 0;
    let computing = 0;
    let done = 0;
    let failed = 0;
    let progress = 0;
    for (const [i, uid] of run.uids.entries()) {
      const o = run.outcome[i];
      if (o === "done") done++;
      else if (o === "failed") failed++;
      else {
        const rec = this.tasks.active(uid);
        if (rec?.state === "running") {
          computing++;
          progress += rec.progress;
        } else waiting++;
        continue;
      }
      progress += 100;
    }
    const total = run.uids.length;
    return {
      run_uid: run.uid,
      num_tasks: total,
      num_waiting: waiting,
      num_computing: computing,
      num_done: done,
      num_failed: failed,
      percent_done: total === 0 ? 100 : Math.round((progress / total) * 100) / 100,
    };
  }

  private submit(run: Run, index: number): string {
    const uid = randomUUID();
    const call = run.calls[index] as FunctionCall;
    this.byTask.set(uid, { run, index });
    this.scheduler.submit(uid, call, true, {}, { place: { uid: run.uid, index }, held: true });
    run.queue.push(index);
    return uid;
  }

  /** Release queued tasks while the run has room. */
  private fill(run: Run): void {
    const release: string[] = [];
    while (run.inFlightCount < run.concurrency && run.head < run.queue.length) {
      const i = run.queue[run.head++] as number;
      // Ended before its turn (cancelled, or the environment closed).
      if (run.outcome[i] !== undefined || run.inFlight[i]) continue;
      run.inFlight[i] = true;
      run.inFlightCount++;
      release.push(run.uids[i] as string);
    }
    if (run.head > 1024 && run.head * 2 > run.queue.length) {
      run.queue.splice(0, run.head);
      run.head = 0;
    }
    if (release.length > 0) this.scheduler.release(release);
  }

  private onTaskFinal(rec: TaskRecord): void {
    const entry = this.byTask.get(rec.uid);
    if (!entry || entry.run.deleted) return;
    const { run, index } = entry;
    run.outcome[index] = rec.state === "completed" ? "done" : "failed";
    if (run.inFlight[index]) {
      run.inFlight[index] = false;
      run.inFlightCount--;
    }
    this.fill(run);
  }
}
