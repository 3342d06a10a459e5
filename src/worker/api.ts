/**
 * What user startup code sees (`import { ... } from "zqs/worker"`).
 *
 * Startup modules export:
 *  - functions: plain (async or not) functions, run by `function_execute`;
 *  - plans: async generator functions; every `yield` is a checkpoint where
 *    pause, stop, abort and halt take effect, and a yielded message (see
 *    `plan-stubs.ts`) is carried out by the worker's run engine;
 *  - devices: objects marked with `device()`.
 * `func()` and `plan()` attach parameter metadata (names, kinds, defaults,
 * annotations, descriptions) that JavaScript cannot introspect; without it the
 * worker reads parameter names from the function's source.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ParameterKindName } from "../protocol/plan-params.js";

/** Python's parameter kinds (the protocol's names). */
export type ParameterKind = ParameterKindName;

export interface ParameterMeta {
  name: string;
  /** Default "POSITIONAL_OR_KEYWORD". */
  kind?: ParameterKind;
  /** Present when the parameter is optional. */
  default?: unknown;
  /** Type text, e.g. "int", "float", "collections.abc.Sequence[__READABLE__]". */
  annotation?: string;
  description?: string;
  /** Device names given for this parameter are turned into device objects. */
  convertDeviceNames?: boolean;
  /** JSON-schema-like check of the value, for plan validation on queue_item_add. */
  type?: "int" | "float" | "number" | "str" | "bool" | "list" | "dict" | "any";
  /**
   * Custom device lists named in `annotation`, e.g. annotation
   * "typing.List[Motors]" with `devices: { Motors: ["motor1", "motor2"] }`:
   * the value must name one of them (entries starting with ":" are regexes).
   */
  devices?: Record<string, string[]>;
  /** Custom enums named in `annotation`: name → allowed values. */
  enums?: Record<string, unknown[]>;
}

export interface CallableMeta {
  description?: string;
  /** Shown as `module` in plans_existing (default: the startup file's name). */
  module?: string;
  parameters?: ParameterMeta[];
}

export interface DeviceMeta {
  classname?: string;
  module?: string;
  isReadable?: boolean;
  isMovable?: boolean;
  isFlyable?: boolean;
  /** Named sub-devices (each itself marked with `device()` or a plain signal). */
  components?: Record<string, object>;
}

export const PLAN_META = Symbol.for("zqs.plan");
export const FUNC_META = Symbol.for("zqs.function");
export const DEVICE_META = Symbol.for("zqs.device");

type AnyFn = (...args: never[]) => unknown;

/** Attach metadata to a plan (an async generator function). */
export function plan<F extends AnyFn>(fn: F, meta: CallableMeta = {}): F {
  Object.defineProperty(fn, PLAN_META, { value: meta, enumerable: false });
  return fn;
}

/** Attach metadata to a function run by `function_execute`. */
export function func<F extends AnyFn>(fn: F, meta: CallableMeta = {}): F {
  Object.defineProperty(fn, FUNC_META, { value: meta, enumerable: false });
  return fn;
}

/** Mark an object as a device. */
export function device<T extends object>(obj: T, meta: DeviceMeta = {}): T {
  Object.defineProperty(obj, DEVICE_META, { value: meta, enumerable: false });
  return obj;
}

/** Metadata every run of the run engine carries (`re_metadata`); set by startup code. */
export const runEngineMetadata: Record<string, unknown> = {};

/** Add metadata to the run engine's runs (Bluesky's `RE.md.update(...)`). */
export function setRunEngineMetadata(md: Record<string, unknown>): void {
  Object.assign(runEngineMetadata, md);
}

export interface TaskLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The lifecycle options of a subtask (function_execute's). */
export interface SubtaskOptions {
  /** Seconds of run time before it is stopped as timed_out. */
  timeout?: number;
  max_retries?: number;
  /** Seconds; the base of the exponential backoff between tries. */
  retry_backoff?: number;
  /** Seconds it may wait to start before it expires unrun. */
  expires?: number;
  /** Task UIDs that must complete first. */
  after?: string[];
  priority?: number;
}

/**
 * Why an awaited subtask gave no value: it failed, was cancelled, timed out
 * or expired (`state`), or the manager refused it (`state` null, `taskUid` null).
 */
export class SubtaskError extends Error {
  override name = "SubtaskError";
  constructor(
    message: string,
    readonly taskUid: string | null,
    readonly state: string | null,
    /** The child's traceback, if it failed with one. */
    readonly traceback = "",
  ) {
    super(message);
  }
}

/** What a running function or plan can use (from `context()`). */
export interface TaskContext {
  /** The task (function) or item (plan) uid. */
  readonly taskUid: string;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** A task of a run (`run_create`): the run's uid and this task's index in it (0-based). */
  readonly run: { readonly uid: string; readonly index: number } | null;
  /** Aborted when the task is cancelled, times out or the worker closes. */
  readonly signal: AbortSignal;
  /** Report progress, 0–100. */
  progress(pct: number): void;
  /** Report a short status message. */
  message(text: string): void;
  /** Report a partial output (name → value), visible in task_info. */
  output(name: string, value: unknown): void;
  /** Lines reach QS_Console. */
  readonly log: TaskLogger;
  /**
   * Submit a function of the environment as a subtask of this one (checked
   * with this task's user and group) and wait for it: resolves with its
   * return value, rejects with a `SubtaskError` if it fails, is cancelled,
   * times out or expires (or if the manager refuses it), or when this task is
   * stopped. While a task waits for its subtasks, its worker slot is lent to
   * other tasks.
   */
  subtask<T = unknown>(
    name: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: SubtaskOptions,
  ): Promise<T>;
  /** Submit a subtask without waiting for it: resolves with its task uid once the manager accepted it. */
  subtaskNoWait(
    name: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: SubtaskOptions,
  ): Promise<string>;
}

/** The worker sets this around each call; user code reads it with `context()`. */
export const taskStorage = new AsyncLocalStorage<TaskContext>();

/** The context of the function or plan that is running. */
export function context(): TaskContext {
  const ctx = taskStorage.getStore();
  if (!ctx) throw new Error("context() was called outside a zqs task");
  return ctx;
}

/** Sleep that ends early (rejecting) when the signal aborts. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  const sig = signal ?? taskStorage.getStore()?.signal;
  return new Promise((resolve, reject) => {
    if (sig?.aborted) {
      reject(sig.reason instanceof Error ? sig.reason : new Error("Task was cancelled"));
      return;
    }
    const t = setTimeout(() => {
      sig?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    const onAbort = () => {
      clearTimeout(t);
      reject(sig?.reason instanceof Error ? sig.reason : new Error("Task was cancelled"));
    };
    sig?.addEventListener("abort", onAbort, { once: true });
  });
}
