/**
 * Runs of many tasks (SPEC §7.3): `count` tasks of one function, or one per
 * element of `items`, each told its index (`context().run`), at most
 * `concurrency` at a time, spread over the worker pool by the scheduler.
 *
 * Every task of a run is a task of its own (task_info names its run_uid)
 * submitted to the lifecycle `held`; the run releases them in index order as
 * its tasks end, so that no more than `concurrency` are handed out at once.
 * A run keeps the outcome of each index itself, so its counts outlive the
 * retention of the task results. Counts are made at each read from one pass
 * over the indexes: each is exactly one of waiting (pending, retrying, not
 * released yet), computing (running), done (completed) or failed (failed,
 * cancelled, timed out, expired), so they always add up to the total.
 * `percent_done` averages the tasks' progress, an ended task counting 100.
 *
 * A run created with `delay`/`not_before` has its tasks `scheduled` until
 * then. As every unfinished task of a run, they are cut off by a restart
 * (failed, saying so; `run_restart` runs them again).
 *
 * `restart` gives the failed indexes (or, once nothing runs, all of them) new
 * tasks with new UIDs; `delete` cancels what has not ended and forgets the run.
 *
 * Persistence (store ops run_put, run_outcomes, run_delete): the definition of
 * a run (name, user, calls, the task UID of each index) is written whole at
 * create and restart only, never at a task's end, and durably before the
 * reply: it stands for the accepted mark of each of its tasks (they write none
 * of their own: one store write per task fewer in a run). A task's own final
 * result is stored under its UID, so at start each index takes its outcome
 * from its restored task record (completed → done; any other final state →
 * failed). Task results are purged after their retention, so a compact outcome
 * string (one character per index) is also written, at most once per second
 * per run whose tasks ended meanwhile and always before a task result is
 * purged; it answers for indexes whose task result is gone. An index with
 * neither was cut off by the stop: its task becomes a failed result saying so
 * (as a task with an accepted mark does) and `run_restart` runs it again.
 */
import { randomUUID } from "node:crypto";
import { newTaskUid } from "../task-uid.js";
import type { StoreOp, StoredRun } from "../store/types.js";
import type { RunRegistryContext } from "./context.js";
import {
  checkDefinition,
  newRun,
  outcomes,
  runPutOp,
  type NewRun,
  type Run,
  type RunCounts,
} from "./run-record.js";
import type { FunctionCall, TaskRecord } from "./task-record.js";
import type { AcceptedMark } from "./task-store.js";

/** How often at most the outcome string of a run is written (ms). */
const OUTCOMES_EVERY_MS = 1000;

export class RunRegistry {
  private readonly runs = new Map<string, Run>();
  /** Task uid → its run and index (the current task of each index only). */
  private readonly byTask = new Map<string, { run: Run; index: number }>();
  /** Runs with tasks ended since their outcome string was last written. */
  private readonly dirty = new Set<Run>();
  private readonly timer: NodeJS.Timeout;
  /** Where the outcome strings go (writes no reply waits for). */
  private readonly store: RunRegistryContext["writeInBackground"];

  private readonly tasks: RunRegistryContext["tasks"];
  private readonly lifecycle: RunRegistryContext["lifecycle"];

  constructor(ctx: RunRegistryContext) {
    const tasks = (this.tasks = ctx.tasks);
    this.lifecycle = ctx.lifecycle;
    this.store = (ops) => ctx.writeInBackground(ops);
    tasks.events.on("final", (r) => this.onTaskFinal(r));
    // A purged task result leaves its run's outcome string to answer for it.
    tasks.events.on("purging", () => this.flush());
    this.timer = setInterval(() => this.flush(), OUTCOMES_EVERY_MS);
    this.timer.unref();
  }

  get(uid: string): Run | undefined {
    return this.runs.get(uid);
  }

  list(): Run[] {
    return [...this.runs.values()];
  }

  create(o: NewRun): Run {
    const n = o.calls.length;
    const run = newRun({
      uid: randomUUID(),
      name: o.name,
      user: o.user,
      userGroup: o.userGroup,
      createdAt: Date.now(),
      concurrency: o.concurrency ?? Infinity,
      tags: o.tags ?? [],
      calls: o.calls,
      uids: [],
    });
    this.runs.set(run.uid, run);
    for (let i = 0; i < n; i++) run.uids.push(this.submit(run, i, o.startAt));
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
    this.dirty.delete(run);
    for (const [i, uid] of run.uids.entries()) {
      this.byTask.delete(uid);
      if (run.outcome[i] === undefined) this.lifecycle.cancel(uid);
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
        // An ending task is still computing to every view until its outcome is durable.
        const rec = this.tasks.get(uid);
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

  // ---- persistence ----------------------------------------------------------------

  /** The store op writing the run's definition (at create and restart). */
  putOp(run: Run): StoreOp {
    return runPutOp(run);
  }

  /** Write the outcome strings of the runs whose tasks ended since the last time. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const ops: StoreOp[] = [];
    for (const run of this.dirty) {
      if (!run.deleted) ops.push({ op: "run_outcomes", uid: run.uid, outcomes: outcomes(run) });
    }
    this.dirty.clear();
    if (ops.length > 0) this.store(ops);
  }

  /**
   * Take back the stored runs at start (after the task results): each index
   * takes its outcome from its task's restored record, else from the stored
   * outcome string, else it is failed. Nothing of a restored run is waiting.
   * Returns the runs that could not be read (malformed), by uid and reason.
   */
  restore(stored: readonly StoredRun[]): { uid: string; reason: string }[] {
    const bad: { uid: string; reason: string }[] = [];
    const runs: Run[] = [];
    for (const s of stored) {
      const def = checkDefinition(s.run);
      if (typeof def === "string") {
        bad.push({ uid: s.uid, reason: def });
        continue;
      }
      const n = def.uids.length;
      const calls = def.calls ?? new Array<FunctionCall>(n).fill(def.call as FunctionCall);
      const run = newRun({
        uid: s.uid,
        name: def.name,
        user: def.user,
        userGroup: def.userGroup,
        createdAt: def.createdAt,
        concurrency: def.concurrency ?? Infinity,
        tags: Array.isArray(def.tags) ? def.tags.filter((t) => typeof t === "string") : [],
        calls,
        uids: def.uids,
      });
      // Indexes not known to have ended: their tasks were cut off by the stop,
      // unless their results are here.
      const unended: { uid: string; accepted: AcceptedMark }[] = [];
      for (const [i, uid] of def.uids.entries()) {
        const o = s.outcomes?.[i];
        if (o === "d" || o === "f") continue;
        const call = calls[i] as FunctionCall;
        unended.push({
          uid,
          accepted: {
            name: call.name,
            kind: "function",
            background: true,
            createdAt: def.createdAt,
            user: def.user,
            group: def.userGroup,
          },
        });
      }
      this.tasks.restoreCutOff(unended);
      for (const [i, uid] of def.uids.entries()) {
        const o = s.outcomes?.[i];
        const rec = this.tasks.get(uid);
        run.outcome[i] =
          rec !== undefined
            ? rec.state === "completed"
              ? "done"
              : "failed"
            : o === "d"
              ? "done"
              : "failed";
        this.byTask.set(uid, { run, index: i });
      }
      runs.push(run);
    }
    for (const run of runs.sort((a, b) => a.createdAt - b.createdAt)) {
      this.runs.set(run.uid, run);
      // The outcomes as restored (tasks cut off by the stop are failed now).
      this.dirty.add(run);
    }
    return bad;
  }

  /** Stop the timer and write the outcomes not written yet. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private submit(run: Run, index: number, startAt?: number): string {
    const uid = newTaskUid();
    const call = run.calls[index] as FunctionCall;
    this.byTask.set(uid, { run, index });
    this.lifecycle.submit(
      uid,
      call,
      true,
      { ...(run.tags.length > 0 ? { worker_tags: run.tags } : {}), startAt },
      { place: { uid: run.uid, index }, held: true },
      // The run's definition lists it (written before the reply): no accepted mark of its own.
      { user: run.user, group: run.userGroup, listedElsewhere: true },
    );
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
    if (release.length > 0) this.lifecycle.release(release);
  }

  private onTaskFinal(rec: TaskRecord): void {
    const entry = this.byTask.get(rec.uid);
    if (!entry || entry.run.deleted) return;
    const { run, index } = entry;
    run.outcome[index] = rec.state === "completed" ? "done" : "failed";
    this.dirty.add(run);
    if (run.inFlight[index]) {
      run.inFlight[index] = false;
      run.inFlightCount--;
    }
    this.fill(run);
  }
}
