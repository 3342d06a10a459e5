/**
 * Waiting for the manager: a condition on its status, or the completion of
 * tasks. Event-driven when the info socket is on (every QS_Info message wakes
 * the wait, which then asks the manager: a message is a hint, the reply is
 * the truth), polling briskly when it is not, and cancellable.
 */
import type { Status, TaskStatus } from "../protocol/index.js";
import { ownValue, setOwn } from "../protocol/index.js";
import { RequestTimeoutError, WaitCancelError, WaitTimeoutError } from "./errors.js";

export interface WaitProgress {
  /** Seconds since the wait began. */
  elapsed: number;
  /** The wait's timeout in seconds (Infinity: none). */
  timeout: number;
  /** Tasks waits: how many of the tasks have completed, out of `total`. */
  done?: number;
  total?: number;
  /** Status waits: the last status seen. */
  status?: Status;
}

/**
 * Watches and controls a wait, as in the Python API: `timeStart`,
 * `timeElapsed`, `timeout`, `cancel()`, `isCancelled`, `addCancelCallback()`,
 * and, in zqs, progress reports (`onProgress`, `progress`).
 */
export class WaitMonitor {
  private _timeStart = Date.now() / 1000;
  private _timeout = Infinity;
  private cancelled = false;
  private cancelReason: string | undefined;
  private readonly cancelCallbacks: (() => void)[] = [];
  private readonly progressCallbacks = new Set<(p: WaitProgress) => void>();
  /** The last progress report. */
  progress: WaitProgress | undefined;

  /** When the wait began (seconds since the epoch). */
  get timeStart(): number {
    return this._timeStart;
  }
  /** Seconds since the wait began. */
  get timeElapsed(): number {
    return Date.now() / 1000 - this._timeStart;
  }
  /** The wait's timeout in seconds. */
  get timeout(): number {
    return this._timeout;
  }
  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Cancel the wait: it throws `WaitCancelError` at once. */
  cancel(reason?: string): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelReason = reason;
    for (const cb of this.cancelCallbacks.splice(0)) {
      try {
        cb();
      } catch {
        // A callback's failure must not stop the others.
      }
    }
  }

  /** Call `cb` when the wait is cancelled; returns the function that removes it. */
  addCancelCallback(cb: () => void): () => void {
    if (this.cancelled) {
      cb();
      return () => undefined;
    }
    this.cancelCallbacks.push(cb);
    return () => {
      const i = this.cancelCallbacks.indexOf(cb);
      if (i >= 0) this.cancelCallbacks.splice(i, 1);
    };
  }

  /** Call `cb` with each progress report; returns the function that stops it. */
  onProgress(cb: (p: WaitProgress) => void): () => void {
    this.progressCallbacks.add(cb);
    return () => this.progressCallbacks.delete(cb);
  }

  /** @internal Used by the waits. */
  begin(timeout: number): void {
    this._timeStart = Date.now() / 1000;
    this._timeout = timeout;
  }

  /** @internal Used by the waits. */
  report(p: WaitProgress): void {
    this.progress = p;
    for (const cb of this.progressCallbacks) {
      try {
        cb(p);
      } catch {
        // A callback's failure must not stop the wait.
      }
    }
  }

  /** @internal */
  get reason(): string | undefined {
    return this.cancelReason;
  }
}

export interface WaitOptions {
  /** Seconds (default 600; Infinity: no limit). */
  timeout?: number;
  /**
   * Seconds the manager may leave every request of the wait unanswered before
   * the wait gives up with the last RequestTimeoutError (default 30): a wait
   * never hangs on a manager that is gone.
   */
  unansweredTimeout?: number;
  monitor?: WaitMonitor;
  signal?: AbortSignal;
}

export interface TaskWaitOptions extends WaitOptions {
  /** A task the manager does not know counts as completed (default true). */
  treatNotFoundAsCompleted?: boolean;
  /** Wait until all the tasks complete (default false: return when one has completed). */
  all?: boolean;
}

export const DEFAULT_WAIT_TIMEOUT = 600;
export const DEFAULT_UNANSWERED_TIMEOUT = 30;

/** What wakes a wait early: the info socket, seen through a filter. */
export interface WakeSource {
  /** True while messages keep arriving (the wait then polls only as a safety net). */
  readonly live: boolean;
  /** Call `fn` when something may have changed; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void;
}

interface LoopSpec<T> {
  what: string;
  opts: WaitOptions;
  wake: WakeSource | undefined;
  /** Poll period while the info socket is silent (ms). */
  fastPollMs: number;
  /** Safety-net poll period while QS_Info messages arrive (ms). */
  slowPollMs: number;
  /** One look: a result ends the wait. */
  check: () => Promise<{ result?: T; progress?: Partial<WaitProgress> }>;
}

async function waitLoop<T>(spec: LoopSpec<T>): Promise<T> {
  const timeout = spec.opts.timeout ?? DEFAULT_WAIT_TIMEOUT;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new TypeError(
      `The wait timeout must be a non-negative number of seconds, got ${String(timeout)}`,
    );
  }
  const monitor = spec.opts.monitor;
  const signal = spec.opts.signal;
  const start = Date.now();
  const deadline = start + timeout * 1000;
  const unanswered = (spec.opts.unansweredTimeout ?? DEFAULT_UNANSWERED_TIMEOUT) * 1000;
  let lastAnswer = start;
  monitor?.begin(timeout);

  let woken = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    woken = true;
    wake?.();
  };
  const offInfo = spec.wake?.subscribe(poke);
  const onAbort = () => poke();
  signal?.addEventListener("abort", onAbort);
  const offCancel = monitor?.addCancelCallback(poke);

  const cancelled = (): WaitCancelError | undefined => {
    if (monitor?.isCancelled)
      return new WaitCancelError(
        `Wait for ${spec.what} was cancelled${monitor.reason ? `: ${monitor.reason}` : ""}`,
      );
    if (signal?.aborted) {
      return new WaitCancelError(`Wait for ${spec.what} was cancelled`, { cause: signal.reason });
    }
    return undefined;
  };

  try {
    for (;;) {
      const c0 = cancelled();
      if (c0) throw c0;
      woken = false;
      let look: Awaited<ReturnType<LoopSpec<T>["check"]>> | undefined;
      try {
        look = await spec.check();
        lastAnswer = Date.now();
      } catch (err) {
        // The manager not answering for a moment is not the end of the wait; for long, it is.
        if (!(err instanceof RequestTimeoutError) || Date.now() - lastAnswer >= unanswered) {
          throw err;
        }
      }
      const now = Date.now();
      if (monitor && look?.progress) {
        monitor.report({ elapsed: (now - start) / 1000, timeout, ...look.progress });
      }
      if (look && "result" in look) return look.result as T;
      const c1 = cancelled();
      if (c1) throw c1;
      if (now >= deadline) {
        throw new WaitTimeoutError(`Timed out after ${timeout} s waiting for ${spec.what}`);
      }
      if (woken) continue;
      const period = spec.wake?.live ? spec.slowPollMs : spec.fastPollMs;
      const delay = Math.max(0, Math.min(period, deadline - now));
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, delay);
        function done() {
          clearTimeout(t);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    offInfo?.();
    offCancel?.();
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Wait until `condition(status)` holds. */
export function waitForStatus(
  what: string,
  getStatus: () => Promise<Status>,
  condition: (s: Status) => boolean,
  wake: WakeSource | undefined,
  opts: WaitOptions = {},
): Promise<Status> {
  return waitLoop<Status>({
    what,
    opts,
    wake,
    fastPollMs: 50,
    slowPollMs: 1000,
    check: async () => {
      const s = await getStatus();
      return condition(s) ? { result: s, progress: { status: s } } : { progress: { status: s } };
    },
  });
}

/**
 * Wait until tasks complete. Resolves with a map UID → status (`completed`,
 * or `not_found` when that counts as completed) of the completed tasks: one or
 * more of them, or all of them with `all: true`.
 */
export function waitForTasks(
  uids: string[],
  getStatuses: (uids: string[]) => Promise<Record<string, TaskStatus>>,
  wake: WakeSource | undefined,
  opts: TaskWaitOptions = {},
): Promise<Record<string, TaskStatus>> {
  const notFoundDone = opts.treatNotFoundAsCompleted ?? true;
  if (uids.length === 0) return Promise.resolve({});
  const what = uids.length === 1 ? `task '${uids[0]}'` : `${uids.length} tasks`;
  return waitLoop<Record<string, TaskStatus>>({
    what,
    opts,
    wake,
    fastPollMs: 20,
    slowPollMs: 500,
    check: async () => {
      const statuses = await getStatuses(uids);
      const done: Record<string, TaskStatus> = {};
      for (const uid of uids) {
        const st = ownValue(statuses, uid);
        if (st === "completed" || (st === "not_found" && notFoundDone)) setOwn(done, uid, st);
      }
      const n = Object.keys(done).length;
      const finished = opts.all ? n === uids.length : n > 0;
      const progress = { done: n, total: uids.length };
      return finished ? { result: done, progress } : { progress };
    },
  });
}
