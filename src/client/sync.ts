/**
 * REManagerAPISync: the blocking client, for scripts with no `await`.
 *
 * A worker thread owns an async `REManagerAPI` (so both flavours share one
 * request builder, reply parser, cache and wait logic). Each call posts its
 * name and arguments to the worker over a MessagePort and blocks the caller
 * with `Atomics.wait` on a shared counter until the worker has posted the
 * answer; the answer is then read synchronously with `receiveMessageOnPort`.
 * Errors cross as plain data and are rebuilt as the same classes.
 *
 * The worker is unref'd: a script ends when its own work ends, even without
 * `close()` (closing is still good manners).
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { MethodName, ParamsIn, ReplyOf, Status, TaskStatus } from "../protocol/index.js";
import { splitArgs } from "./core.js";
import type { SerializedError } from "./errors.js";
import {
  ClientClosedError,
  deserializeError,
  RequestError,
  RequestTimeoutError,
} from "./errors.js";
import type { ConsolePayload, InfoPayload, TaskEventPayload } from "./info.js";
import type { ManagerSwitch } from "./managers.js";
import type { ClientOptions, ResolvedOptions } from "./options.js";
import { resolveClientOptions } from "./options.js";
import type { CallOptions, ProtocolMethodsSync } from "./surface.js";
import { API_NAMES } from "./surface.js";
import { DEFAULT_WAIT_TIMEOUT } from "./wait.js";

// ---- the messages between the caller and the I/O thread -----------------------

export type MonitorKind = "console" | "info" | "task";

export type SyncRequest =
  | { id: number; op: "init"; options: ClientOptions }
  | { id: number; op: "call"; name: string; args: unknown[] }
  | { id: number; op: "set"; key: "user" | "userGroup" | "lockKey"; value: string | null }
  | { id: number; op: "lateReplies" }
  | {
      id: number;
      op: "monitorOpen";
      kind: MonitorKind;
      filter?: { taskUid?: string | string[]; events?: string[] };
    }
  | { id: number; op: "monitorNext"; monitor: number; timeout: number | null }
  | { id: number; op: "monitorDrain"; monitor: number }
  | { id: number; op: "monitorReady"; monitor: number; timeout: number }
  | { id: number; op: "monitorClose"; monitor: number }
  | { id: number; op: "close" };

export type SyncResponse =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

/** The id of a message the worker sends when it fails as a whole. */
export const FATAL_ID = -1;
/** The id of a message telling that the client moved to another manager (`onManagerSwitch`). */
export const SWITCH_ID = -2;

export interface SwitchNotice {
  id: typeof SWITCH_ID;
  event: ManagerSwitch;
}

export interface WorkerData {
  port: MessagePort;
  signal: Int32Array;
}

/** Names the worker may call on its REManagerAPI. */
export const SYNC_HELPERS = [
  "request",
  "waitForIdle",
  "waitForIdleOrPaused",
  "waitForIdleOrRunning",
  "waitForCompletedTask",
  "lockEnvironment",
  "lockQueue",
  "lockAll",
] as const;
export const SYNC_CALLABLE: ReadonlySet<string> = new Set<string>([
  ...Object.values(API_NAMES),
  ...SYNC_HELPERS,
]);

// ---- the bridge ------------------------------------------------------------------

/** The ESM entry of tsx's register API (development only). */
function resolveTsxApi(from: string): string {
  try {
    if (typeof import.meta.resolve === "function") return import.meta.resolve("tsx/esm/api");
  } catch {
    // Fall through to require's resolution.
  }
  return pathToFileURL(createRequire(from).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
}

/**
 * The worker's code: load the worker module (through tsx when running from the
 * TypeScript sources, as the test suite does); if loading fails, say so to the
 * caller, who is blocked and cannot see the worker's "error" event.
 */
function workerCode(): string {
  const self = import.meta.url;
  const ts = self.endsWith(".ts");
  const file = new URL(ts ? "./sync-worker.ts" : "./sync-worker.js", self).href;
  const load = ts
    ? `import(${JSON.stringify(resolveTsxApi(self))}).then((m) => { m.register(); return import(${JSON.stringify(file)}); })`
    : `import(${JSON.stringify(file)})`;
  return `const { workerData } = require("node:worker_threads");
${load}.catch((err) => {
  workerData.port.postMessage({ id: ${FATAL_ID}, ok: false, error: { name: "Error", message: String(err && err.stack || err) } });
  Atomics.add(workerData.signal, 0, 1);
  Atomics.notify(workerData.signal, 0);
});`;
}

class Bridge {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private nextId = 1;
  private dead: Error | undefined;

  /** `onSwitch`: told (in the caller's thread, during a call) when the client moves to another manager. */
  constructor(private readonly onSwitch?: (e: ManagerSwitch) => void) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.signal = new Int32Array(new SharedArrayBuffer(4));
    const data: WorkerData = { port: port2, signal: this.signal };
    this.worker = new Worker(workerCode(), {
      eval: true,
      workerData: data,
      transferList: [port2],
    });
    this.worker.unref();
    this.port.unref();
  }

  /** Post a request and block until its answer (or until `budgetMs` runs out). */
  call(req: WithoutId<SyncRequest>, budgetMs: number, what: string): unknown {
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    this.port.postMessage({ ...req, id });
    const deadline = Number.isFinite(budgetMs) ? Date.now() + budgetMs : Infinity;
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      for (
        let m = receiveMessageOnPort(this.port);
        m !== undefined;
        m = receiveMessageOnPort(this.port)
      ) {
        const msg = m.message as SyncResponse | SwitchNotice;
        if ("event" in msg) {
          try {
            this.onSwitch?.(msg.event);
          } catch {
            // The caller's listener failing does not fail the call.
          }
          continue;
        }
        const res = msg;
        if (res.id === FATAL_ID && !res.ok) {
          this.dead = new RequestError(`The client's I/O thread failed: ${res.error.message}`, {
            cause: deserializeError(res.error),
          });
          throw this.dead;
        }
        if (res.id !== id) continue; // the answer to a call that gave up waiting
        if (res.ok) return res.value;
        throw deserializeError(res.error);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new RequestTimeoutError(`Timed out waiting for the client's I/O thread (${what})`, {
          timeout: budgetMs / 1000,
          phase: "receive",
        });
      }
      Atomics.wait(this.signal, 0, seen, Number.isFinite(left) ? left : undefined);
    }
  }

  terminate(): void {
    this.dead ??= new ClientClosedError("The client is closed");
    void this.worker.terminate();
  }
}

// ---- the blocking client ----------------------------------------------------------

/** Wait options of the blocking client (a `WaitMonitor` cannot cross threads). */
export interface SyncWaitOptions {
  /** Seconds (default 600; Infinity: no limit). */
  timeout?: number;
}

export interface SyncTaskWaitOptions extends SyncWaitOptions {
  treatNotFoundAsCompleted?: boolean;
  all?: boolean;
}

/**
 * Clients still open when the process exits: their I/O threads close their
 * sockets first (the ZeroMQ addon aborts the process if a worker thread is
 * torn down with open sockets). A blocking call is allowed in "exit".
 */
const openClients = new Set<REManagerAPISync>();
let exitHook = false;
function closeAtExit(c: REManagerAPISync): void {
  openClients.add(c);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const client of openClients) {
      try {
        client.close();
      } catch {
        // Exiting anyway.
      }
    }
  });
}

/** Seconds the caller waits beyond the I/O thread's own timeouts before giving up on it. */
const MARGIN_S = 5;

/**
 * Messages of the info socket, pulled one at a time with a blocking `next()`,
 * or with `for (const m of monitor)` (blocks between messages; ends at `close()`).
 */
export class SyncMonitor<T> implements Iterable<T> {
  private closed = false;
  constructor(
    private readonly bridge: Bridge,
    private readonly id: number,
  ) {}

  /** The next message, or `undefined` when none came within `timeout` seconds (default: wait forever). */
  next(timeout?: number): T | undefined {
    if (this.closed) return undefined;
    const t = timeout === undefined || !Number.isFinite(timeout) ? null : timeout;
    const budget = t === null ? Infinity : (t + MARGIN_S) * 1000;
    return (this.bridge.call(
      { op: "monitorNext", monitor: this.id, timeout: t },
      budget,
      "monitor",
    ) ?? undefined) as T | undefined;
  }

  /** Every message received so far (does not wait). */
  drain(): T[] {
    if (this.closed) return [];
    return this.bridge.call(
      { op: "monitorDrain", monitor: this.id },
      MARGIN_S * 1000,
      "monitor",
    ) as T[];
  }

  /**
   * Block until the info socket delivers messages (a subscription is live only
   * from then on); false when that did not happen within `timeout` seconds.
   */
  ready(timeout = 5): boolean {
    return this.bridge.call(
      { op: "monitorReady", monitor: this.id, timeout },
      (timeout + MARGIN_S) * 1000,
      "monitor",
    ) as boolean;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.bridge.call({ op: "monitorClose", monitor: this.id }, MARGIN_S * 1000, "monitor");
    } catch {
      // Closing a monitor of a closed client is fine.
    }
  }

  *[Symbol.iterator](): Iterator<T> {
    while (!this.closed) {
      const m = this.next();
      if (m === undefined) return;
      yield m;
    }
  }
}

// Every protocol method is added to the prototype from the table; the
// interface gives them their (blocking) types.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface REManagerAPISync extends ProtocolMethodsSync {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class REManagerAPISync {
  /** The options in force (defaults and environment variables applied). */
  readonly options: ResolvedOptions;
  private readonly bridge: Bridge;
  private _user: string;
  private _userGroup: string;
  private _lockKey: string | null;
  private closed = false;

  constructor(opts: ClientOptions = {}) {
    this.options = resolveClientOptions(opts);
    this._user = this.options.user;
    this._userGroup = this.options.userGroup;
    this._lockKey = this.options.lockKey;
    this.bridge = new Bridge(opts.onManagerSwitch);
    // A function cannot cross to the I/O thread: it reports switches as messages.
    const { onManagerSwitch: _fn, ...plain } = opts;
    try {
      this.bridge.call({ op: "init", options: plain }, 30_000, "start");
    } catch (err) {
      this.bridge.terminate();
      throw err;
    }
    closeAtExit(this);
  }

  static {
    for (const [method, name] of Object.entries(API_NAMES)) {
      Object.defineProperty(this.prototype, name, {
        value(this: REManagerAPISync, ...args: unknown[]) {
          const { options } = splitArgs(method as MethodName, args);
          return this.call(name, args, this.requestBudget(options));
        },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  }

  private requestBudget(options: CallOptions): number {
    const o = this.options;
    const t = options.timeout ?? o.timeoutRecv;
    // With several managers: each may be tried, and a takeover waited for.
    const n = o.zmqControlAddrs.length;
    const failover = n > 1 ? o.failoverWait : 0;
    return ((t + o.timeoutSend) * n + failover + MARGIN_S) * 1000;
  }

  private waitBudget(opts: SyncWaitOptions): number {
    const t = opts.timeout ?? DEFAULT_WAIT_TIMEOUT;
    return Number.isFinite(t) ? (t + this.options.timeoutRecv + MARGIN_S) * 1000 : Infinity;
  }

  private call(name: string, args: unknown[], budgetMs: number): unknown {
    if (this.closed) throw new ClientClosedError("The client is closed");
    return this.bridge.call({ op: "call", name, args }, budgetMs, name);
  }

  private set(key: "user" | "userGroup" | "lockKey", value: string | null): void {
    if (this.closed) throw new ClientClosedError("The client is closed");
    this.bridge.call({ op: "set", key, value }, MARGIN_S * 1000, "set");
  }

  /** Filled in as `user` for the methods that take it. */
  get user(): string {
    return this._user;
  }
  set user(v: string) {
    this.set("user", v);
    this._user = v;
  }
  /** Filled in as `user_group` for the methods that take it. */
  get userGroup(): string {
    return this._userGroup;
  }
  set userGroup(v: string) {
    this.set("userGroup", v);
    this._userGroup = v;
  }
  /** Sent as `lock_key` with the methods that take one (unless given). */
  get lockKey(): string | null {
    return this._lockKey;
  }
  set lockKey(v: string | null) {
    this.set("lockKey", v);
    this._lockKey = v;
  }

  /** Replies that came after their request had timed out (dropped). */
  get lateReplies(): number {
    if (this.closed) return 0;
    return this.bridge.call({ op: "lateReplies" }, MARGIN_S * 1000, "lateReplies") as number;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send any method of the table by its wire name, with explicit params. */
  request<M extends MethodName>(
    method: M,
    params: ParamsIn<M> | Record<string, unknown> = {},
    options: CallOptions = {},
  ): ReplyOf<M> {
    return this.call(
      "request",
      [method, params, options],
      this.requestBudget(options),
    ) as ReplyOf<M>;
  }

  lockEnvironment(
    lockKey?: string,
    params: { note?: string | null } = {},
    options: CallOptions = {},
  ) {
    return this.call(
      "lockEnvironment",
      [lockKey, params, options],
      this.requestBudget(options),
    ) as ReturnType<ProtocolMethodsSync["lock"]>;
  }

  lockQueue(lockKey?: string, params: { note?: string | null } = {}, options: CallOptions = {}) {
    return this.call(
      "lockQueue",
      [lockKey, params, options],
      this.requestBudget(options),
    ) as ReturnType<ProtocolMethodsSync["lock"]>;
  }

  lockAll(lockKey?: string, params: { note?: string | null } = {}, options: CallOptions = {}) {
    return this.call(
      "lockAll",
      [lockKey, params, options],
      this.requestBudget(options),
    ) as ReturnType<ProtocolMethodsSync["lock"]>;
  }

  /** Block until the manager is idle; returns that status. */
  waitForIdle(opts: SyncWaitOptions = {}): Status {
    return this.call("waitForIdle", [opts], this.waitBudget(opts)) as Status;
  }

  /** Block until the manager is idle or paused. */
  waitForIdleOrPaused(opts: SyncWaitOptions = {}): Status {
    return this.call("waitForIdleOrPaused", [opts], this.waitBudget(opts)) as Status;
  }

  /** Block until the manager is idle or running the queue. */
  waitForIdleOrRunning(opts: SyncWaitOptions = {}): Status {
    return this.call("waitForIdleOrRunning", [opts], this.waitBudget(opts)) as Status;
  }

  /** Block until tasks complete (one of them; all with `all: true`): UID → status. */
  waitForCompletedTask(
    taskUid: string | string[],
    opts: SyncTaskWaitOptions = {},
  ): Record<string, TaskStatus> {
    return this.call("waitForCompletedTask", [taskUid, opts], this.waitBudget(opts)) as Record<
      string,
      TaskStatus
    >;
  }

  private openMonitor<T>(
    kind: MonitorKind,
    filter?: { taskUid?: string | string[]; events?: string[] },
  ) {
    if (this.closed) throw new ClientClosedError("The client is closed");
    const id = this.bridge.call(
      { op: "monitorOpen", kind, ...(filter ? { filter } : {}) },
      MARGIN_S * 1000,
      "monitor",
    ) as number;
    return new SyncMonitor<T>(this.bridge, id);
  }

  /** Console output (QS_Console), pulled with a blocking `next()`. */
  consoleMonitor(): SyncMonitor<ConsolePayload> {
    return this.openMonitor<ConsolePayload>("console");
  }

  /** Status messages (QS_Info), pulled with a blocking `next()`. */
  systemInfoMonitor(): SyncMonitor<InfoPayload> {
    return this.openMonitor<InfoPayload>("info");
  }

  /** Task events (QS_Task), optionally only some tasks or event names. */
  taskEvents(
    opts: { filter?: { taskUid?: string | string[]; events?: string[] } } = {},
  ): SyncMonitor<TaskEventPayload> {
    return this.openMonitor<TaskEventPayload>("task", opts.filter);
  }

  /** Close the sockets and stop the I/O thread. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    openClients.delete(this);
    try {
      this.bridge.call({ op: "close" }, MARGIN_S * 1000, "close");
    } finally {
      this.bridge.terminate();
    }
  }
}
