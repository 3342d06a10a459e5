/**
 * A small Bluesky-like run engine: it runs a plan (a generator, usually async)
 * by carrying out the messages it yields (see `plan-stubs.ts`) and sending each
 * result back into the plan with `next(value)`.
 *
 * - Every `yield` is a checkpoint: a deferred pause, and a stop or abort asked
 *   for while the plan runs, take effect there.
 * - An immediate pause also interrupts a `sleep` message at once; on resume
 *   the sleep waits out its remaining time.
 * - `stop()` and `abort()` end the plan through `return()` on the generator, so
 *   its `finally` blocks run (and may still yield cleanup messages); `halt()`
 *   and a hard cancel (the `signal` option of `run`) drop the generator at once,
 *   without cleanup, even while the plan awaits its own work.
 * - `open_run` gives a run uid and the next scan_id; runs still open when the
 *   plan ends are closed with the exit status of the plan.
 *
 * Everything is driven by promises and timers; nothing polls.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { RunListEntry } from "../protocol/ipc.js";
import { describeThrown, describeValue } from "./describe.js";
import type { PlanMessage } from "./plan-stubs.js";

export type ReState = "idle" | "running" | "paused";
export type PauseOption = "deferred" | "immediate";
export type ExitStatus = "completed" | "failed" | "stopped" | "aborted" | "halted";
export type RunsOption = "active" | "open" | "closed";

/** What `run` resolves to; the fields of a history item's `result` (the manager adds the times). */
export interface PlanResult {
  exit_status: ExitStatus;
  run_uids: string[];
  scan_ids: number[];
  msg: string;
  traceback: string;
}

/** One entry of `re_runs` (the shape is the protocol's). */
export type { RunListEntry };

export type DocumentName = "start" | "event" | "stop";

export interface RunEngineOptions {
  /** Metadata of every run (`re_metadata`); a numeric `scan_id` here is the last scan id used. */
  metadata?: Record<string, unknown>;
  /** Called when `state` or `pausePending` changes. */
  onStateChange?: (state: ReState, info: { pausePending: boolean }) => void;
  /** Called when a run opens or closes, and when the run list is cleared at the end of a plan. */
  onRunsChange?: (runs: RunListEntry[]) => void;
  /** Log lines ("New run was open: '<uid>'"). */
  onLog?: (line: string) => void;
  /** Bluesky-like documents: run start, events (trigger_and_read), run stop. */
  onDocument?: (name: DocumentName, doc: Record<string, unknown>) => void;
  /** Each message the engine is about to carry out (Bluesky's `msg_hook`). */
  onMessage?: (msg: unknown) => void;
}

export interface RunOptions {
  /** Hard cancel: the plan is dropped at once (no cleanup) and ends as "aborted". */
  signal?: AbortSignal;
}

/** A control request that does not fit the engine's state. */
export class RunEngineStateError extends Error {
  override name = "RunEngineStateError";
}

type EndKind = "stop" | "abort" | "halt" | "cancel";
const END_PRIORITY: Record<EndKind, number> = { stop: 1, abort: 2, halt: 3, cancel: 4 };
const END_EXIT: Record<EndKind, ExitStatus> = {
  stop: "stopped",
  abort: "aborted",
  halt: "halted",
  cancel: "aborted",
};
const RUN_EXIT: Record<ExitStatus, string> = {
  completed: "success",
  stopped: "success",
  failed: "fail",
  aborted: "abort",
  halted: "abort",
};

interface Outcome {
  exit: ExitStatus;
  msg: string;
  traceback: string;
}

interface RunRecord extends RunListEntry {
  seqNum: number;
}

type PlanIterator = {
  next(value?: unknown): IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
  return?(value?: unknown): IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
  throw?(err?: unknown): IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
};

const HARD = Symbol("hard end");

/** The result of a plan that failed before or while running ("Plan failed: <message>"). */
export function failedResult(
  err: unknown,
  runUids: string[] = [],
  scanIds: number[] = [],
): PlanResult {
  const { message, stack } = describeThrown(err);
  return {
    exit_status: "failed",
    run_uids: runUids,
    scan_ids: scanIds,
    msg: `Plan failed: ${message}`,
    traceback: stack,
  };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

function toIterator(made: unknown): PlanIterator | undefined {
  if (made === null || made === undefined || typeof made === "string") return undefined;
  if (typeof made !== "object" && typeof made !== "function") return undefined;
  const rec = made as Record<string | symbol, unknown>;
  if (typeof rec.next === "function") return made as PlanIterator;
  const asyncIt = rec[Symbol.asyncIterator];
  if (typeof asyncIt === "function") return (asyncIt as () => PlanIterator).call(made);
  const it = rec[Symbol.iterator];
  if (typeof it === "function") return (it as () => PlanIterator).call(made);
  return undefined;
}

function nameOf(device: unknown): string {
  if (typeof device === "string") return device;
  const n = (device as { name?: unknown } | null)?.name;
  return typeof n === "string" ? n : describeValue(device);
}

function requireMethod(
  device: unknown,
  method: string,
  what: string,
): (...a: unknown[]) => unknown {
  if (typeof device === "string") {
    throw new TypeError(
      `'${device}' is not a device: no device of that name exists (it cannot be ${what})`,
    );
  }
  const fn =
    device !== null && (typeof device === "object" || typeof device === "function")
      ? (device as Record<string, unknown>)[method]
      : undefined;
  if (typeof fn !== "function") {
    throw new TypeError(`${nameOf(device)} cannot be ${what}: it has no ${method}() method`);
  }
  return (fn as (...a: unknown[]) => unknown).bind(device);
}

export class RunEngine {
  private _state: ReState = "idle";
  private pauseRequest: PauseOption | null = null;
  private endRequest: EndKind | null = null;
  private endReason = "";
  private resumeRequested = false;
  private cleaning = false;
  /** Ends the wait in progress (a sleep or a pause). */
  private wake: (() => void) | null = null;
  private resolveHard: (() => void) | null = null;
  private hardEnd: Promise<typeof HARD> = Promise.resolve(HARD);
  private ac: AbortController | null = null;
  private records: RunRecord[] = [];
  private openStack: RunRecord[] = [];
  private readonly md: Record<string, unknown>;
  private scanId: number | undefined;
  private readonly opts: RunEngineOptions;

  constructor(opts: RunEngineOptions = {}) {
    this.opts = opts;
    const { scan_id, ...md } = opts.metadata ?? {};
    this.md = md;
    this.scanId = typeof scan_id === "number" ? scan_id : undefined;
  }

  /** The `re_state` value. */
  get state(): ReState {
    return this._state;
  }

  /** A pause was asked for and has not taken effect yet (`pause_pending`). */
  get pausePending(): boolean {
    return this.pauseRequest !== null;
  }

  /** `re_metadata`: the engine's metadata and the last scan_id used. */
  get metadata(): Record<string, unknown> {
    return { ...this.md, ...(this.scanId === undefined ? {} : { scan_id: this.scanId }) };
  }

  /**
   * Aborted when the running plan is asked to end (stop, abort, halt, cancel):
   * hand it to plan code that awaits its own work (`sleep(s, signal)`).
   */
  get signal(): AbortSignal | undefined {
    return this.ac?.signal;
  }

  /** `re_runs`: the runs of the plan in progress ("active": all, "open", "closed"). */
  runs(option: RunsOption = "active"): RunListEntry[] {
    const pick =
      option === "open"
        ? this.records.filter((r) => r.is_open)
        : option === "closed"
          ? this.records.filter((r) => !r.is_open)
          : this.records;
    return pick.map(({ uid, scan_id, is_open, exit_status }) => ({
      uid,
      scan_id,
      is_open,
      exit_status,
    }));
  }

  /** Pause at the next checkpoint ("deferred") or now, interrupting a sleep ("immediate"). */
  requestPause(option: PauseOption = "deferred"): void {
    if (option !== "deferred" && option !== "immediate") {
      throw new RunEngineStateError(
        `Option '${String(option)}' is not supported. Available options: ('deferred', 'immediate')`,
      );
    }
    if (this._state !== "running") {
      throw new RunEngineStateError(
        `Run engine can be paused only in 'running' state. Current state: '${this._state}'`,
      );
    }
    if (this.endRequest) return;
    const before = this.pauseRequest;
    this.pauseRequest = option === "immediate" ? "immediate" : (this.pauseRequest ?? "deferred");
    if (before === null) this.emitState();
    if (option === "immediate") this.wake?.();
  }

  /** Continue a paused plan. */
  resume(): void {
    if (this._state !== "paused") {
      throw new RunEngineStateError(
        `Run engine can be resumed only in 'paused' state. Current state: '${this._state}'`,
      );
    }
    this.resumeRequested = true;
    this.wake?.();
  }

  /** End the plan as "stopped" (a success): cleanup runs, open runs close with "success". */
  stop(): void {
    this.requestEnd("stop");
  }

  /** End the plan as "aborted": cleanup runs, open runs close with "abort". */
  abort(): void {
    this.requestEnd("abort");
  }

  /** End the plan as "halted" at once, without cleanup. */
  halt(): void {
    this.requestEnd("halt");
  }

  private requestEnd(kind: EndKind, reason = ""): void {
    if (this._state === "idle") {
      throw new RunEngineStateError(`Run engine is not running a plan: current state is 'idle'`);
    }
    if (this.endRequest && END_PRIORITY[this.endRequest] >= END_PRIORITY[kind]) return;
    this.endRequest = kind;
    this.endReason = reason;
    const hadPause = this.pauseRequest !== null;
    this.pauseRequest = null;
    if (hadPause) this.emitState();
    this.ac?.abort(new Error(`The plan was asked to ${kind === "cancel" ? "end" : kind}`));
    if (kind === "halt" || kind === "cancel") this.resolveHard?.();
    this.wake?.();
  }

  /**
   * Run a plan: `planFn(...args)` must give a generator (async or not) of plan
   * messages; a function giving a promise of one, or of nothing, also works.
   * Resolves when the plan has ended, however it ended; never rejects, except
   * when the engine is already running a plan (RunEngineStateError).
   */
  async run(
    planFn: (...args: never[]) => unknown,
    args: readonly unknown[] = [],
    opts: RunOptions = {},
  ): Promise<PlanResult> {
    if (this._state !== "idle") {
      throw new RunEngineStateError(`The run engine is busy: current state is '${this._state}'`);
    }
    this.pauseRequest = null;
    this.endRequest = null;
    this.endReason = "";
    this.resumeRequested = false;
    this.cleaning = false;
    this.records = [];
    this.openStack = [];
    this.ac = new AbortController();
    this.hardEnd = new Promise((resolve) => {
      this.resolveHard = () => resolve(HARD);
    });
    this.setState("running");

    const signal = opts.signal;
    const onCancel = () => {
      const r: unknown = signal?.reason;
      this.requestEnd("cancel", r === undefined ? "" : describeThrown(r).message);
    };
    if (signal?.aborted) onCancel();
    else signal?.addEventListener("abort", onCancel, { once: true });

    let outcome: Outcome;
    try {
      outcome = await this.execute(planFn as (...a: unknown[]) => unknown, args);
    } finally {
      signal?.removeEventListener("abort", onCancel);
    }
    const runExit = RUN_EXIT[outcome.exit];
    while (this.openStack.length > 0) this.closeRun(runExit);
    const result: PlanResult = {
      exit_status: outcome.exit,
      run_uids: this.records.map((r) => r.uid),
      scan_ids: this.records.map((r) => r.scan_id),
      msg: outcome.msg,
      traceback: outcome.traceback,
    };
    this.records = [];
    this.emitRuns();
    this.pauseRequest = null;
    this.endRequest = null;
    this.resolveHard = null;
    this.wake = null;
    this.ac = null;
    this.setState("idle");
    return result;
  }

  // ---- the loop -------------------------------------------------------------------

  private race<T>(value: T | PromiseLike<T>): Promise<T | typeof HARD> {
    const p = Promise.resolve(value);
    p.catch(() => undefined); // a plan dropped by halt may still reject later
    return Promise.race([p, this.hardEnd]);
  }

  private endOutcome(): Outcome {
    const kind = this.endRequest ?? "abort";
    return {
      exit: END_EXIT[kind],
      msg: kind === "cancel" && this.endReason ? `Plan was cancelled: ${this.endReason}` : "",
      traceback: "",
    };
  }

  private async execute(
    planFn: (...a: unknown[]) => unknown,
    args: readonly unknown[],
  ): Promise<Outcome> {
    let iter: PlanIterator | undefined;
    try {
      let made: unknown = planFn(...args);
      if (isThenable(made) && toIterator(made) === undefined) {
        made = await this.race(made);
        if (made === HARD) return this.endOutcome();
      }
      iter = toIterator(made);
      if (!iter)
        return this.endRequest ? this.endOutcome() : { exit: "completed", msg: "", traceback: "" };
      const it: PlanIterator = iter;
      let step = await this.race(it.next());
      for (;;) {
        if (step === HARD) return this.endOutcome();
        if (this.endRequest) return await this.finish(it);
        if (step.done) return { exit: "completed", msg: "", traceback: "" };
        // The yield is a checkpoint.
        if (this.pauseRequest) {
          await this.pauseHere();
          if (this.endRequest) return await this.finish(it);
        }
        let reply: unknown;
        let failure: { err: unknown } | undefined;
        try {
          reply = await this.handle(step.value);
        } catch (err) {
          failure = { err };
        }
        if (this.endRequest) return await this.finish(it);
        step = await this.race(failure ? throwInto(it, failure.err) : it.next(reply));
      }
    } catch (err) {
      if (this.endRequest) return iter ? await this.finish(iter, true) : this.endOutcome();
      const { message, stack } = describeThrown(err);
      return { exit: "failed", msg: `Plan failed: ${message}`, traceback: stack };
    }
  }

  /** End after stop/abort (cleanup through `return()`) or halt/cancel (drop the plan). */
  private async finish(iter: PlanIterator, planEnded = false): Promise<Outcome> {
    const kind = this.endRequest;
    if (planEnded || kind === "halt" || kind === "cancel" || typeof iter.return !== "function") {
      return this.endOutcome();
    }
    this.cleaning = true;
    let cleanupError: unknown;
    try {
      let step = await this.race(iter.return(undefined));
      while (step !== HARD && !step.done) {
        let reply: unknown;
        let failure: { err: unknown } | undefined;
        try {
          reply = await this.handle(step.value);
        } catch (err) {
          failure = { err };
        }
        if (this.endRequest === "halt" || this.endRequest === "cancel") break;
        step = await this.race(failure ? throwInto(iter, failure.err) : iter.next(reply));
      }
    } catch (err) {
      cleanupError = err;
    } finally {
      this.cleaning = false;
    }
    const out = this.endOutcome();
    if (cleanupError !== undefined) {
      const { message, stack } = describeThrown(cleanupError);
      out.msg = `Plan cleanup failed: ${message}`;
      out.traceback = stack;
    }
    return out;
  }

  /** An end request that should cut the current wait short. */
  private interrupting(): boolean {
    const k = this.endRequest;
    if (k === "halt" || k === "cancel") return true;
    return k !== null && !this.cleaning;
  }

  private async pauseHere(): Promise<void> {
    this.pauseRequest = null;
    this.resumeRequested = false;
    this.setState("paused");
    while (!this.resumeRequested && !this.endRequest) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    if (!this.endRequest) {
      this.resumeRequested = false;
      this.setState("running");
    }
  }

  private async doSleep(seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new TypeError(`sleep: expected a number of seconds >= 0, got ${String(seconds)}`);
    }
    let remaining = seconds * 1000;
    while (remaining > 0) {
      const t0 = performance.now();
      const interrupted = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve(false);
        }, remaining);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve(true);
        };
      });
      if (!interrupted) return;
      remaining -= performance.now() - t0;
      if (this.interrupting()) return;
      if (this.pauseRequest === "immediate" && !this.cleaning) {
        await this.pauseHere();
        if (this.interrupting()) return;
      }
    }
  }

  // ---- messages ---------------------------------------------------------------------

  private async handle(msg: unknown): Promise<unknown> {
    try {
      this.opts.onMessage?.(msg);
    } catch {
      // a listener's error is not the plan's
    }
    if (msg === undefined || msg === null) return undefined;
    const cmd = typeof msg === "object" ? (msg as { cmd?: unknown }).cmd : undefined;
    if (typeof cmd !== "string") {
      if (toIterator(msg) !== undefined && typeof msg === "object") {
        throw new TypeError("The plan yielded a generator: use 'yield*' to run a nested plan");
      }
      throw new TypeError(
        `The plan yielded ${typeof msg === "object" ? "an object" : typeof msg} that is not a plan message`,
      );
    }
    const m = msg as PlanMessage;
    switch (m.cmd) {
      case "open_run":
        return this.openRun(m.md ?? {});
      case "close_run":
        if (this.openStack.length === 0)
          throw new Error("close_run: there is no open run to close");
        return this.closeRun(m.exitStatus ?? "success");
      case "set": {
        const set = requireMethod(m.device, "set", "moved");
        const r = await this.race(set(m.value));
        return r === HARD ? undefined : r;
      }
      case "read":
        return this.readOne(m.device);
      case "trigger_and_read":
        return this.triggerAndRead(m.devices);
      case "sleep":
        await this.doSleep(Number(m.seconds));
        return undefined;
      case "checkpoint":
        return undefined;
      default:
        throw new TypeError(`Unknown plan message '${String((m as { cmd: unknown }).cmd)}'`);
    }
  }

  private async readOne(device: unknown): Promise<Record<string, unknown>> {
    const read = requireMethod(device, "read", "read");
    const r = await this.race(read());
    return r === HARD || r === null || typeof r !== "object" ? {} : (r as Record<string, unknown>);
  }

  private async triggerAndRead(devices: unknown): Promise<Record<string, unknown>> {
    const list = Array.isArray(devices) ? (devices as unknown[]) : [devices];
    for (const d of list) requireMethod(d, "read", "read");
    const reading: Record<string, unknown> = {};
    for (const d of list) {
      const trigger = (d as Record<string, unknown>).trigger;
      if (typeof trigger === "function") {
        if ((await this.race((trigger as () => unknown).call(d))) === HARD) return reading;
      }
      Object.assign(reading, await this.readOne(d));
    }
    const run = this.openStack[this.openStack.length - 1];
    if (run) {
      run.seqNum += 1;
      const data: Record<string, unknown> = {};
      const timestamps: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(reading)) {
        const rec = v as { value?: unknown; timestamp?: unknown } | null;
        data[k] = rec && typeof rec === "object" && "value" in rec ? rec.value : v;
        timestamps[k] = rec && typeof rec === "object" ? rec.timestamp : undefined;
      }
      this.document("event", {
        uid: randomUUID(),
        run_start: run.uid,
        seq_num: run.seqNum,
        time: Date.now() / 1000,
        data,
        timestamps,
      });
    }
    return reading;
  }

  private openRun(md: Record<string, unknown>): string {
    const scan_id = (this.scanId ?? 0) + 1;
    this.scanId = scan_id;
    const uid = randomUUID();
    const rec: RunRecord = { uid, scan_id, is_open: true, exit_status: null, seqNum: 0 };
    this.records.push(rec);
    this.openStack.push(rec);
    this.document("start", { uid, time: Date.now() / 1000, ...this.md, ...md, scan_id });
    this.log(`New run was open: '${uid}'`);
    this.emitRuns();
    return uid;
  }

  private closeRun(exitStatus: string): string | undefined {
    const rec = this.openStack.pop();
    if (!rec) return undefined;
    rec.is_open = false;
    rec.exit_status = exitStatus;
    this.document("stop", {
      uid: randomUUID(),
      run_start: rec.uid,
      time: Date.now() / 1000,
      exit_status: exitStatus,
      num_events: { primary: rec.seqNum },
    });
    this.log(`Run was closed: '${rec.uid}'`);
    this.emitRuns();
    return rec.uid;
  }

  // ---- notifications ------------------------------------------------------------------

  private setState(state: ReState): void {
    if (state === this._state) return;
    this._state = state;
    this.emitState();
  }

  private emitState(): void {
    try {
      this.opts.onStateChange?.(this._state, { pausePending: this.pauseRequest !== null });
    } catch {
      // a listener's error is not the plan's
    }
  }

  private emitRuns(): void {
    try {
      this.opts.onRunsChange?.(this.runs("active"));
    } catch {
      // ignore
    }
  }

  private log(line: string): void {
    try {
      this.opts.onLog?.(line);
    } catch {
      // ignore
    }
  }

  private document(name: DocumentName, doc: Record<string, unknown>): void {
    try {
      this.opts.onDocument?.(name, doc);
    } catch {
      // ignore
    }
  }
}

function throwInto(
  iter: PlanIterator,
  err: unknown,
): IteratorResult<unknown> | Promise<IteratorResult<unknown>> {
  // The value goes on as thrown (describeThrown reports any value).
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  if (typeof iter.throw !== "function") return Promise.reject(err);
  return iter.throw(err);
}
