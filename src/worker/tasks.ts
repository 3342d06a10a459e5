/**
 * Running tasks (functions and scripts): each call runs with its context
 * (`context()`: signal, progress, subtasks, log) and ends with one `task_done`.
 *
 * A call that ends in the turn it began (a synchronous function, one that
 * awaits only resolved promises) reports its start and end as one message:
 * the `task_done`, which carries `time_start`. The `task_started` of a call is
 * sent at the next turn (the manager's timeout counts from it, and QS_Task has
 * its `task-started` event), or earlier, before anything else the call says
 * (progress, a subtask), so that the manager hears of the start first.
 */
import type { ExecuteFunctionMsg, TaskDoneMsg } from "../protocol/ipc.js";
import { TRACE_TASKS, traceNow, type TaskTrace } from "../protocol/task-trace.js";
import { taskStorage, type SubtaskOptions, type TaskContext } from "./api.js";
import { LazyAbort } from "./lazy-abort.js";
import { errorText, now, type OutputBytes, type Send } from "./report.js";
import type { SubtaskRequests } from "./subtasks.js";
import { toWireValue } from "./wire-value.js";

/** Where a task's log lines go (the worker's stdout and stderr). */
export type Print = (stream: "stdout" | "stderr", text: string) => void;

/** The functions tasks call (the environment's). */
export interface FunctionBinder {
  bindFunction(
    name: string,
    args?: readonly unknown[],
    kwargs?: Readonly<Record<string, unknown>>,
  ): { fn: (...a: unknown[]) => unknown; args: unknown[] };
}

export interface TasksOptions {
  send: Send;
  subtasks: SubtaskRequests;
  functions: FunctionBinder;
  outputBytes: OutputBytes;
  print: Print;
  /** Runs `fn` at the next turn (setImmediate; a test may run it when it likes). */
  defer?: (fn: () => void) => void;
}

/** One call: what it runs and how its end is reported. */
export interface Call {
  id: string;
  /** Names the call in its error message ("Execute function", "Load script"). */
  label: string;
  attempt: number;
  body: (ctx: TaskContext) => unknown;
  /** Fields added to a successful end (the lists after a script). */
  extra?: () => Partial<TaskDoneMsg>;
  run?: { uid: string; index: number } | null;
  trace?: TaskTrace;
}

export class Tasks {
  /** The running calls: their abort, for a cancel. */
  private readonly running = new Map<string, LazyAbort>();
  /** Calls begun whose `task_started` is not sent yet: id → time_start. */
  private readonly unstarted = new Map<string, number>();
  private startsDeferred = false;
  /** Trace marks of the tasks received (ZQS_TRACE_TASKS=1): id → marks, until they start. */
  private readonly received = new Map<string, TaskTrace>();
  private readonly defer: (fn: () => void) => void;

  constructor(private readonly opts: TasksOptions) {
    this.defer = opts.defer ?? ((fn) => setImmediate(fn));
  }

  /** Calls running now. */
  get runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** A function task arrived (its first trace mark). */
  noteReceived(id: string): void {
    if (TRACE_TASKS) this.received.set(id, { received: traceNow() });
  }

  /** A task that never ran (cancelled while waiting for a slot): its marks go. */
  forget(id: string): void {
    this.received.delete(id);
  }

  /** Runs a function task. */
  executeFunction(m: ExecuteFunctionMsg): Promise<void> {
    const trace = this.received.get(m.id);
    if (trace) this.received.delete(m.id);
    const functions = this.opts.functions;
    return this.run({
      id: m.id,
      label: "Execute function",
      attempt: m.attempt,
      body: async () => {
        const { fn, args } = functions.bindFunction(m.name, m.args, m.kwargs);
        return await fn(...args);
      },
      run: m.run ?? null,
      ...(trace ? { trace } : {}),
    });
  }

  /** Runs a call; settles once its end is sent. */
  async run(call: Call): Promise<void> {
    const { id, trace } = call;
    const ac = new LazyAbort();
    this.running.set(id, ac);
    const time_start = now();
    this.begin(id, time_start);
    const began = performance.now();
    const ctx = this.context(id, call.attempt, ac, call.run ?? null);
    let done: TaskDoneMsg;
    try {
      if (trace) trace.begins = traceNow();
      const value = await taskStorage.run(ctx, () => call.body(ctx));
      if (trace) trace.returns = traceNow();
      done = {
        type: "task_done",
        id,
        success: true,
        msg: "",
        traceback: "",
        return_value: toWireValue(value),
        time_start,
        time_stop: now(),
        ...call.extra?.(),
      };
    } catch (err) {
      const { msg, traceback } = errorText(err);
      done = {
        type: "task_done",
        id,
        success: false,
        msg: `Error occurred while executing '${call.label}': ${msg}`,
        traceback,
        return_value: null,
        time_start,
        time_stop: now(),
        ...(ac.aborted ? { cancelled: true } : {}),
      };
    } finally {
      this.running.delete(id);
      this.opts.subtasks.dropOf(id);
    }
    // Ended before its start was sent: the end says both.
    this.unstarted.delete(id);
    done.call_ms = performance.now() - began;
    done.out = this.opts.outputBytes();
    if (trace) done.trace = trace;
    this.opts.send(done);
  }

  /** A cancel of a running call: its signal aborts with `reason`. */
  cancel(id: string, reason: string): void {
    this.running.get(id)?.abort(new Error(reason));
  }

  /** Every running call's signal aborts (the worker closes). */
  abortAll(reason: string): void {
    for (const ac of this.running.values()) ac.abort(new Error(reason));
  }

  /** The context of a task or plan `id` (what `context()` returns inside it). */
  context(
    id: string,
    attempt: number,
    ac: LazyAbort,
    run: { uid: string; index: number } | null = null,
  ): TaskContext {
    const prefix = `[${id.slice(0, 8)}]`;
    const { print, subtasks } = this.opts;
    const say = (msg: Parameters<Send>[0]) => {
      this.announce(id);
      this.opts.send(msg);
    };
    const ask = (
      wait: boolean,
      name: string,
      a?: unknown[],
      k?: Record<string, unknown>,
      o?: SubtaskOptions,
    ) => {
      this.announce(id);
      return subtasks.request(id, ac.signal, wait, name, a, k, o);
    };
    return {
      taskUid: id,
      attempt,
      run,
      get signal() {
        return ac.signal;
      },
      progress: (pct) =>
        say({ type: "task_progress", id, progress: Math.max(0, Math.min(100, pct)) }),
      message: (text) => say({ type: "task_progress", id, message: String(text) }),
      output: (name, value) =>
        say({ type: "task_progress", id, outputs: { [name]: toWireValue(value) } }),
      subtask: <T>(
        name: string,
        args?: unknown[],
        kwargs?: Record<string, unknown>,
        options?: SubtaskOptions,
      ) => ask(true, name, args, kwargs, options) as Promise<T>,
      subtaskNoWait: (name, args, kwargs, options) =>
        ask(false, name, args, kwargs, options) as Promise<string>,
      log: {
        debug: (m) => print("stdout", `${prefix} DEBUG ${m}\n`),
        info: (m) => print("stdout", `${prefix} ${m}\n`),
        warn: (m) => print("stderr", `${prefix} WARNING ${m}\n`),
        error: (m) => print("stderr", `${prefix} ERROR ${m}\n`),
      },
    };
  }

  /** A call began: its start is sent at the next turn, unless it has ended by then. */
  private begin(id: string, time: number): void {
    this.unstarted.set(id, time);
    if (this.startsDeferred) return;
    this.startsDeferred = true;
    this.defer(() => {
      this.startsDeferred = false;
      for (const [started, at] of this.unstarted)
        this.opts.send({ type: "task_started", id: started, time: at });
      this.unstarted.clear();
    });
  }

  /** The call `id` says something: its start goes first, if not sent yet. */
  private announce(id: string): void {
    const time = this.unstarted.get(id);
    if (time === undefined) return;
    this.unstarted.delete(id);
    this.opts.send({ type: "task_started", id, time });
  }
}
