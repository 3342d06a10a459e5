/**
 * REManagerAPI: the async client. Every method of the protocol table is a
 * method here (generated from `API_NAMES`, typed by `ProtocolMethods`), plus
 * status caching, list getters that download only when their change marker
 * moved, waits, and monitors of the info socket.
 */
import { curveKeyPair } from "zeromq";
import type { MethodName, ReplyOf, Status, TaskStatus } from "../protocol/index.js";
import {
  decode,
  DecodeError,
  encode,
  TOPIC_CONSOLE,
  TOPIC_INFO,
  TOPIC_TASK,
} from "../protocol/index.js";
import type { ParamsIn } from "../protocol/index.js";
import type { BuiltRequest, RequestDefaults } from "./core.js";
import { buildFromArgs, buildRequest, parseReply } from "./core.js";
import type { WireRequest } from "./errors.js";
import { ClientClosedError, RequestError } from "./errors.js";
import type { ConsolePayload, InfoPayload, TaskEventPayload, WorkerEventPayload } from "./info.js";
import { InfoHub, InfoMonitor } from "./info.js";
import { checkIdempotencyKey, ManagerSet, newIdempotencyKey } from "./managers.js";
import type { ClientOptions, ResolvedOptions } from "./options.js";
import { resolveClientOptions } from "./options.js";
import type { CallOptions, ProtocolMethods } from "./surface.js";
import { API_NAMES, CHANGE_MARKERS, READ_ONLY } from "./surface.js";
import { Transport } from "./transport.js";
import type { TaskWaitOptions, WaitOptions, WakeSource } from "./wait.js";
import { waitForStatus, waitForTasks } from "./wait.js";

export interface TaskEventsOptions {
  /**
   * Which events to yield: task UIDs and/or event names (`task-succeeded`...),
   * or a predicate over the payload.
   */
  filter?:
    { taskUid?: string | string[]; events?: string[] } | ((event: TaskEventPayload) => boolean);
}

type ListMethod = keyof typeof CHANGE_MARKERS;

// Every protocol method is added to the prototype from the table below; the
// interface gives them their types.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface REManagerAPI extends ProtocolMethods {}

/** The final states of a QS_Task event (task_status says `completed` for each). */
const FINAL_TASK_STATES = new Set(["completed", "failed", "cancelled", "timed_out", "expired"]);

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class REManagerAPI {
  /** The options in force (defaults and environment variables applied). */
  readonly options: ResolvedOptions;
  /** Filled in as `user` for the methods that take it. */
  user: string;
  /** Filled in as `user_group` for the methods that take it. */
  userGroup: string;
  /** Sent as `lock_key` with the methods that take one (unless given). */
  lockKey: string | null;

  private readonly managers: ManagerSet;
  private hub: InfoHub | undefined;
  private statusCache: { at: number; value: Status } | undefined;
  private statusInflight: Promise<Status> | undefined;
  /** Incremented by every request that may change the manager's state. */
  private generation = 0;
  /** The connections opened so far (one per manager address). */
  private readonly transports: Transport[] = [];
  private readonly listCache = new Map<string, Record<string, unknown>>();
  private closed = false;
  private readonly monitors = new Set<InfoMonitor<unknown>>();

  constructor(opts: ClientOptions = {}) {
    this.options = resolveClientOptions(opts);
    this.user = this.options.user;
    this.userGroup = this.options.userGroup;
    this.lockKey = this.options.lockKey;
    const o = this.options;
    let curve: { serverKey: string; publicKey: string; secretKey: string } | undefined;
    if (o.zmqPublicKey) {
      const pair = o.zmqClientKeyPair ?? curveKeyPair();
      curve = { serverKey: o.zmqPublicKey, publicKey: pair.publicKey, secretKey: pair.secretKey };
    }
    this.managers = new ManagerSet({
      addresses: o.zmqControlAddrs,
      open: (address) => {
        const t = new Transport({
          address,
          timeoutSend: o.timeoutSend,
          ...(curve ? { curve } : {}),
        });
        this.transports.push(t);
        return t;
      },
      decode: (body) => decode(body, o.zmqEncoding),
      onSwitch: o.onManagerSwitch,
      failoverWait: o.failoverWait,
    });
    // The info subscription follows the active manager (by position).
    this.managers.onSwitch((_e, index) => {
      const info = o.zmqInfoAddrs?.[index];
      if (info !== undefined) this.hub?.retarget(info);
      this.invalidateStatus();
    });
  }

  /** The control address requests go to now (the active manager, as far as the client knows). */
  get activeAddress(): string {
    return this.managers.address;
  }

  static {
    for (const [method, name] of Object.entries(API_NAMES)) {
      Object.defineProperty(this.prototype, name, {
        value(this: REManagerAPI, ...args: unknown[]) {
          return this.invoke(method as MethodName, args);
        },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  }

  private get defaults(): RequestDefaults {
    return { user: this.user, userGroup: this.userGroup, lockKey: this.lockKey };
  }

  /** Replies that came after their request had timed out (dropped, never mistaken for a later reply). */
  get lateReplies(): number {
    return this.transports.reduce((n, t) => n + t.lateReplies, 0);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Send any method of the table with explicit params (the generated methods
   * use the same path). Params are checked as the server checks them.
   */
  async request<M extends MethodName>(
    method: M,
    params: ParamsIn<M> | Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<ReplyOf<M>> {
    const wire = buildRequest(method, params as Record<string, unknown>, this.defaults);
    return this.dispatch({ method, wire, options });
  }

  /** Every generated method: arguments → request → reply (a throw becomes a rejection). */
  private async invoke(method: MethodName, args: unknown[]): Promise<unknown> {
    return this.dispatch(buildFromArgs(method, args, this.defaults));
  }

  private async dispatch<M extends MethodName>(built: BuiltRequest<M>): Promise<ReplyOf<M>> {
    const { method, wire, options } = built;
    if (method === "status") return (await this.cachedStatus(options)) as ReplyOf<M>;
    if (method in CHANGE_MARKERS)
      return this.cachedList(method as ListMethod, wire, options) as Promise<ReplyOf<M>>;
    return this.send(method, wire, options);
  }

  /** One round trip: encode, send, decode, parse. */
  private async send<M extends MethodName>(
    method: M,
    wire: WireRequest,
    options: CallOptions,
  ): Promise<ReplyOf<M>> {
    if (this.closed) throw new ClientClosedError("The client is closed", { request: wire });
    const enc = this.options.zmqEncoding;
    const timeout = options.timeout ?? this.options.timeoutRecv;
    if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout <= 0) {
      throw new TypeError(
        `The call option 'timeout' must be a positive number of seconds, got ${String(timeout)}`,
      );
    }
    const mutating = !READ_ONLY.has(method);
    const key =
      options.idempotencyKey !== undefined
        ? checkIdempotencyKey(options.idempotencyKey, "The call option 'idempotencyKey'")
        : mutating && this.options.idempotencyKeys
          ? newIdempotencyKey()
          : undefined;
    const sent: WireRequest = key === undefined ? wire : { ...wire, idempotency_key: key };
    if (mutating) this.invalidateStatus();
    let reply: unknown;
    try {
      reply = await this.managers.request(
        sent,
        encode(sent, enc),
        timeout,
        !mutating || key !== undefined,
      );
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      throw new RequestError(`Failed to decode the reply to '${method}': ${err.message}`, {
        request: sent,
        cause: err,
      });
    } finally {
      if (mutating) this.invalidateStatus();
    }
    return parseReply(method, sent, reply, {
      requestFailExceptions: this.options.requestFailExceptions,
      checkReplies: this.options.checkReplies,
    });
  }

  private invalidateStatus(): void {
    this.generation += 1;
    this.statusCache = undefined;
  }

  private async cachedStatus(options: CallOptions): Promise<Status> {
    const c = this.statusCache;
    const maxAge = this.options.statusExpiration * 1000;
    if (!options.reload && c && Date.now() - c.at < maxAge) return structuredClone(c.value);
    if (!options.reload && this.statusInflight) return structuredClone(await this.statusInflight);
    const gen = this.generation;
    const p = this.send("status", { method: "status", params: {} }, options);
    this.statusInflight = p;
    try {
      const value = await p;
      // A state-changing request sent meanwhile makes this answer too old to keep.
      if (gen === this.generation) this.statusCache = { at: Date.now(), value };
      return structuredClone(value);
    } finally {
      if (this.statusInflight === p) this.statusInflight = undefined;
    }
  }

  private async cachedList(
    method: ListMethod,
    wire: WireRequest,
    options: CallOptions,
  ): Promise<ReplyOf<ListMethod>> {
    const marker = CHANGE_MARKERS[method];
    const key = `${method}\u0000${JSON.stringify(wire.params)}`;
    const cached = this.listCache.get(key);
    if (!options.reload && cached !== undefined) {
      const s = await this.cachedStatus(
        options.timeout !== undefined ? { timeout: options.timeout } : {},
      );
      if (s[marker] === cached[marker]) return structuredClone(cached) as ReplyOf<ListMethod>;
    }
    const reply = (await this.send(method, wire, options)) as Record<string, unknown>;
    if (reply.success === true && typeof reply[marker] === "string") this.listCache.set(key, reply);
    return structuredClone(reply) as ReplyOf<ListMethod>;
  }

  // ---- locks (Python API helpers) ---------------------------------------------

  /** Lock the environment (`lock` with `environment: true`). */
  lockEnvironment(lockKey?: string, params: { note?: string | null } = {}, options?: CallOptions) {
    return this.invoke("lock", [lockKey, { ...params, environment: true }, options]) as Promise<
      ReplyOf<"lock">
    >;
  }

  /** Lock the queue (`lock` with `queue: true`). */
  lockQueue(lockKey?: string, params: { note?: string | null } = {}, options?: CallOptions) {
    return this.invoke("lock", [lockKey, { ...params, queue: true }, options]) as Promise<
      ReplyOf<"lock">
    >;
  }

  /** Lock the environment and the queue. */
  lockAll(lockKey?: string, params: { note?: string | null } = {}, options?: CallOptions) {
    return this.invoke("lock", [
      lockKey,
      { ...params, environment: true, queue: true },
      options,
    ]) as Promise<ReplyOf<"lock">>;
  }

  // ---- waits ------------------------------------------------------------------

  private infoHub(): InfoHub | undefined {
    if (this.closed || this.options.zmqInfoAddr === null) return undefined;
    const infos = this.options.zmqInfoAddrs;
    if (infos === null) return undefined;
    this.hub ??= new InfoHub(infos[this.managers.index] as string);
    return this.hub;
  }

  private freshStatus = (): Promise<Status> => this.cachedStatus({ reload: true });

  /** Wait until `condition(status)` holds; resolves with that status. */
  waitForCondition(
    condition: (status: Status) => boolean,
    opts: WaitOptions = {},
  ): Promise<Status> {
    return waitForStatus(
      "a status condition",
      this.freshStatus,
      condition,
      this.wakeSource(),
      opts,
    );
  }

  /** Wait until the manager is idle (`manager_state == "idle"`). */
  waitForIdle(opts: WaitOptions = {}): Promise<Status> {
    return waitForStatus(
      "the manager to be idle",
      this.freshStatus,
      (s) => s.manager_state === "idle",
      this.wakeSource(),
      opts,
    );
  }

  /** Wait until the manager is idle or paused. */
  waitForIdleOrPaused(opts: WaitOptions = {}): Promise<Status> {
    return waitForStatus(
      "the manager to be idle or paused",
      this.freshStatus,
      (s) => s.manager_state === "idle" || s.manager_state === "paused",
      this.wakeSource(),
      opts,
    );
  }

  /** Wait until the manager is idle or running the queue. */
  waitForIdleOrRunning(opts: WaitOptions = {}): Promise<Status> {
    return waitForStatus(
      "the manager to be idle or running the queue",
      this.freshStatus,
      (s) => s.manager_state === "idle" || s.manager_state === "executing_queue",
      this.wakeSource(),
      opts,
    );
  }

  /**
   * Wait for tasks to complete: resolves with UID → status of the completed
   * ones (one or more; all with `all: true`). With the info socket on, a
   * task's QS_Task final event ends its wait at once, with no further request
   * (the manager publishes it only once the outcome is durable, when
   * `task_status` says completed too), and every change of `task_results_uid`
   * in QS_Info wakes a look; otherwise it polls `task_status` briskly.
   */
  waitForCompletedTask(
    taskUid: string | string[],
    opts: TaskWaitOptions = {},
  ): Promise<Record<string, TaskStatus>> {
    const uids = typeof taskUid === "string" ? [taskUid] : [...taskUid];
    const wanted = new Set(uids);
    /** Tasks whose final event was seen. */
    const ended = new Set<string>();
    let resultsUid: string | undefined;
    const info = this.wakeSource((s) => {
      const moved = s.task_results_uid !== resultsUid;
      resultsUid = s.task_results_uid;
      return moved;
    });
    const hub = info ? this.infoHub() : undefined;
    const wake: WakeSource | undefined =
      info && hub
        ? {
            get live() {
              return info.live;
            },
            subscribe: (fn) => {
              const offInfo = info.subscribe(fn);
              const offTask = hub.on(TOPIC_TASK, (p) => {
                const e = (p as { msg?: { task_uid?: unknown; state?: unknown } } | undefined)?.msg;
                const uid = e?.task_uid;
                if (typeof uid !== "string" || !wanted.has(uid)) return;
                if (!FINAL_TASK_STATES.has(String(e?.state))) return;
                ended.add(uid);
                fn();
              });
              return () => {
                offInfo();
                offTask();
              };
            },
          }
        : info;
    const statuses = async (list: string[]): Promise<Record<string, TaskStatus>> => {
      const rest = list.filter((u) => !ended.has(u));
      const known = ended.size > 0 && (rest.length === 0 || !opts.all);
      const st: Record<string, TaskStatus> = known ? {} : await this.taskStatuses(rest);
      for (const u of ended) st[u] = "completed";
      return st;
    };
    return waitForTasks(uids, statuses, wake, opts);
  }

  private async taskStatuses(list: string[]): Promise<Record<string, TaskStatus>> {
    const r = await this.send(
      "task_status",
      { method: "task_status", params: { task_uid: list } },
      {},
    );
    const st = r.status;
    if (st !== null && typeof st === "object") return st;
    const one: Record<string, TaskStatus> = {};
    if (typeof st === "string" && list[0] !== undefined) one[list[0]] = st;
    return one;
  }

  /** QS_Info messages as a wake-up source for waits (those passing `relevant`). */
  private wakeSource(relevant: (s: Status) => boolean = () => true): WakeSource | undefined {
    const hub = this.infoHub();
    if (!hub) return undefined;
    return {
      get live() {
        return hub.live;
      },
      subscribe: (fn) =>
        hub.on(TOPIC_INFO, (p) => {
          const s = (p as Partial<InfoPayload> | undefined)?.msg?.status;
          if (s && relevant(s)) fn();
        }),
    };
  }

  // ---- monitors ----------------------------------------------------------------

  private monitor<T>(
    topic: typeof TOPIC_INFO | typeof TOPIC_CONSOLE | typeof TOPIC_TASK,
    filter?: (p: T) => boolean,
  ) {
    const hub = this.infoHub();
    if (!hub) {
      throw new RequestError(
        this.closed ? "The client is closed" : "The info socket is turned off (zmqInfoAddr: null)",
      );
    }
    const m = new InfoMonitor<T>(hub, topic, filter);
    for (const old of this.monitors) if (old.isClosed) this.monitors.delete(old);
    this.monitors.add(m as InfoMonitor<unknown>);
    return m;
  }

  /** Console output of the manager and its worker (QS_Console): `{time, msg}` payloads. */
  consoleMonitor(): InfoMonitor<ConsolePayload> {
    return this.monitor<ConsolePayload>(TOPIC_CONSOLE);
  }

  /** Status messages (QS_Info): `{time, msg: {status}}` payloads. */
  systemInfoMonitor(): InfoMonitor<InfoPayload> {
    return this.monitor<InfoPayload>(TOPIC_INFO);
  }

  /** Task events (QS_Task): `{time, msg: {event, task_uid, ...}}` payloads. */
  taskEvents(opts: TaskEventsOptions = {}): InfoMonitor<TaskEventPayload> {
    const f = opts.filter;
    let pred: ((e: TaskEventPayload) => boolean) | undefined;
    if (typeof f === "function") pred = f;
    else if (f) {
      const uids =
        f.taskUid === undefined
          ? undefined
          : new Set(typeof f.taskUid === "string" ? [f.taskUid] : f.taskUid);
      const events = f.events === undefined ? undefined : new Set(f.events);
      pred = (e) =>
        (uids === undefined || uids.has(e.msg?.task_uid)) &&
        (events === undefined || events.has(e.msg?.event));
    }
    return this.monitor<TaskEventPayload>(TOPIC_TASK, pred);
  }

  /**
   * Events of workers on other hosts (QS_Task `worker-online`, `worker-heartbeat`,
   * `worker-offline`): `{time, msg: {event, worker, hostname, pid, ...}}` payloads.
   */
  workerEvents(): InfoMonitor<WorkerEventPayload> {
    return this.monitor<WorkerEventPayload>(TOPIC_TASK, (e) =>
      String(e.msg?.event).startsWith("worker-"),
    );
  }

  /** Close the sockets; pending requests fail with `ClientClosedError`, monitors end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.monitors) m.close();
    this.monitors.clear();
    this.hub?.close();
    await this.managers.close();
  }
}
