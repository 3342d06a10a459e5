/**
 * Workers on other hosts (`zqs worker`), as a TaskWorkerPool: a ROUTER socket
 * on `--zmq-worker-addr` that agents (DEALER sockets) join.
 *
 *  - Joining: an agent says `hello` (name, instance, host, pid, slots, tags,
 *    the functions it offers); the manager answers `welcome`, or `refused`
 *    with the reason (a hello past the caps of hello-limits.ts, a name held
 *    by another live worker or bound to another CURVE key: worker-names.ts).
 *    A message from a connection it does not know (a manager restarted, a
 *    worker it gave up) is answered `who`, and the agent says hello again: a
 *    worker is known by its name, so a worker that comes back is the same
 *    worker again. A worker that left or was lost is forgotten after
 *    --worker-forget-after.
 *  - Liveness: heartbeats from the workers every quarter of
 *    `--worker-timeout`, from the manager every half of it (liveness.ts), none
 *    to a peer that was sent something else meanwhile. A worker silent for the
 *    timeout is lost: the scheduler retries or fails its running tasks
 *    (worker-lost), naming it and its host. With more workers than
 *    `--worker-heartbeat-rate` allows, both are longer (liveness.ts); one
 *    timer visits the workers due (a heap), none is scanned per tick.
 *  - A task message is applied only if the task is assigned to that worker
 *    now (uid and attempt): a result that comes after the task was given up
 *    (its worker was lost, it was retried elsewhere) is logged and dropped,
 *    never applied twice.
 *  - Every message is checked against its schema (worker-wire.ts): a broken
 *    or hostile peer gets its message dropped and logged once, never a crash.
 *  - Speed: a worker is dealt ahead beyond its slots by its recent call times
 *    (the tasks wait in its agent, highest priority first); to an agent that
 *    speaks wire 2 the tasks of one deal go as one `execute_batch`, and its
 *    reports of one turn come as one `reports` message.
 */
import { EventEmitter } from "node:events";
import os from "node:os";
import type { Logger } from "pino";
import { Router } from "zeromq";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import { checkHelloProof } from "../../protocol/worker-proof.js";
import type { AgentMessage, HelloMsg, ManagerMessage } from "../../protocol/worker-wire.js";
import { agentMessageSchema, decodeWire, encodeWire } from "../../protocol/worker-wire.js";
import { ConsoleLimit, DEFAULT_CONSOLE_BURST, DEFAULT_CONSOLE_RATE } from "../console-limit.js";
import { routerLoop } from "../rpc/router-loop.js";
import { SendQueue } from "../rpc/sendqueue.js";
import type { HelloLimits } from "./hello-limits.js";
import type { RemoteTaskMarks } from "./task-marks.js";
import type { Visited } from "./liveness.js";
import { HeartbeatPace, managerBeatMs, VisitHeap } from "./liveness.js";
import { helloCountRefusal, helloSizeRefusal } from "./hello-limits.js";
import type { NameHolder } from "./worker-names.js";
import { judgeClaim, nameInUse, PendingClaims } from "./worker-names.js";
import type {
  SubtaskNotice,
  TaskMessage,
  TaskWorker,
  TaskWorkerPool,
  TaskWorkerPoolEvents,
} from "./pool.js";

export type WorkerState = "online" | "draining" | "lost" | "offline";

/** One row of `workers_list`. */
export interface WorkerRow {
  name: string;
  kind: "local" | "remote";
  hostname: string;
  pid: number | null;
  slots: number;
  busy: number;
  tags: string[];
  state: WorkerState;
  connected_at: string | null;
  last_seen: string | null;
  tasks_done: number;
  tasks_failed: number;
}

interface RemoteWorker extends Visited {
  name: string;
  /** Its agent's instance token (hello). */
  instance: string;
  /** With CURVE: the public key bound to its name. */
  key: string | undefined;
  /** Routing id of its current connection (hex). */
  route: string;
  routeBuf: Buffer;
  hostname: string;
  pid: number;
  slots: number;
  tags: Set<string>;
  version: string;
  /** The version of the wire protocol it speaks (hello's `wire`). */
  wire: number;
  functions: Map<string, string>;
  state: WorkerState;
  connectedAt: number;
  lastSeen: number;
  /** When the manager last sent it anything (a heartbeat is due only after a silence). */
  lastSentAt: number;
  /** The loss time it was last told (its beats keep that pace until it hears another). */
  toldLossMs: number;
  lastHeartbeatEvent: number;
  tasksDone: number;
  tasksFailed: number;
  /** Tasks handed to it and not ended: uid → attempt. */
  assigned: Map<string, number>;
  view: TaskWorker;
  /** The bound on its console output (`--console-rate`). */
  console: ConsoleLimit;
}

/**
 * What the pool tells the manager beside the scheduler's events: worker
 * events (worker-online, worker-heartbeat, worker-offline: published as QS_Task
 * events) and the console output of its workers (QS_Console).
 */
export interface RemotePoolNotices {
  "worker-event": [Record<string, unknown>];
  console: [string];
}

export interface RemotePoolOptions {
  address: string;
  timeoutMs: number;
  curveSecretKey?: string | undefined;
  /** Set with an allow-list: the ZAP domain that checks worker keys. */
  zapDomain?: string | undefined;
  /** The bound on each worker's console output (`--console-rate`, `--console-burst`). */
  consoleLimit?: { rate: number; burst: number };
  limits: HelloLimits;
  /** The socket's ZMQ_MAXMSGSIZE (--worker-max-message-size). */
  maxMessageSize: number;
  /** A worker that left or was lost is forgotten this long after (--worker-forget-after). */
  forgetAfterMs: number;
  /** Heartbeats a second of all the workers together, before their pace slows (--worker-heartbeat-rate). */
  heartbeatRate: number;
  /** Start marks of the tasks dealt, and claims of running tasks after a restart or takeover. */
  marks?: RemoteTaskMarks | undefined;
}

/** worker-heartbeat events are published at most this often per worker. */
const HEARTBEAT_EVENT_MS = 10_000;
/** After a message this large the receive loop lets the other sockets have a turn. */
const LARGE_MESSAGE_BYTES = 64 * 1024;

export class RemoteWorkerPool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  readonly notices = new EventEmitter<RemotePoolNotices>();
  readonly slotsPerWorker = 1;
  readonly mainWorkerId = undefined;
  private readonly router: Router;
  private readonly sendQueue: SendQueue;
  private readonly byName = new Map<string, RemoteWorker>();
  private readonly byRoute = new Map<string, RemoteWorker>();
  private running = false;
  private loopDone: Promise<void> | undefined;
  private beat: NodeJS.Timeout | undefined;
  private readonly pace: HeartbeatPace;
  /** The manager's heartbeat at the current pace, encoded once. */
  private heartbeatBody: Buffer;
  /** Every known worker, by when to look at it next. */
  private readonly visits = new VisitHeap<RemoteWorker>();
  /** Workers past their deadline, judged after this turn's reads. */
  private suspects: RemoteWorker[] = [];
  /** Peers whose broken messages were logged (once each). */
  private readonly complained = new Set<string>();
  /** Hellos under the name of a live worker, waiting for it to speak or be lost. */
  private readonly pending = new PendingClaims();
  /** Bumped when the workers taking tasks change (TaskWorkerPool.workersVersion). */
  private version = 0;

  constructor(
    private readonly opts: RemotePoolOptions,
    private readonly log: Logger,
  ) {
    super();
    this.router = new Router({
      linger: 0,
      maxMessageSize: opts.maxMessageSize,
      sendHighWaterMark: 100_000,
      receiveHighWaterMark: 100_000,
      backlog: 1024,
      ...(opts.curveSecretKey ? { curveServer: true, curveSecretKey: opts.curveSecretKey } : {}),
      ...(opts.zapDomain ? { zapDomain: opts.zapDomain } : {}),
    });
    this.sendQueue = new SendQueue(this.router, (err) =>
      this.log.debug({ err }, "Failed to send to a worker"),
    );
    this.pace = new HeartbeatPace(opts.timeoutMs, opts.heartbeatRate);
    this.heartbeatBody = this.encodeHeartbeat();
  }

  private encodeHeartbeat(): Buffer {
    const { intervalMs, lossMs } = this.pace.pace;
    return encodeWire({ type: "heartbeat", heartbeat_ms: intervalMs, timeout_ms: lossMs });
  }

  async bind(): Promise<void> {
    await this.router.bind(this.opts.address);
    this.running = true;
    this.loopDone = routerLoop(this.router, {
      name: "the worker socket",
      log: this.log,
      running: () => this.running,
      onFrames: (frames) => this.onFrames(frames),
      yieldAfterBytes: LARGE_MESSAGE_BYTES,
    });
    // The timer's period bounds how late a heartbeat or a loss may come after it is due.
    this.beat = setInterval(() => this.tick(), Math.min(100, Math.ceil(this.pace.baseMs / 4)));
    this.beat.unref();
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.beat) clearInterval(this.beat);
    this.sendQueue.close();
    this.router.close();
    await this.loopDone?.catch(() => undefined);
  }

  // ---- TaskWorkerPool -------------------------------------------------------------

  get workersVersion(): number {
    return this.version;
  }

  workers(): TaskWorker[] {
    const out: TaskWorker[] = [];
    for (const w of this.byName.values()) if (w.state === "online") out.push(w.view);
    return out;
  }

  has(id: string): boolean {
    return this.byName.has(id);
  }

  sendTasks(workerId: string, tasks: readonly ExecuteFunctionMsg[]): void {
    const w = this.byName.get(workerId);
    if (!w) return;
    const marks = this.opts.marks;
    for (const t of tasks) {
      w.assigned.set(t.id, t.attempt);
      marks?.dealt(w, t.id, t.attempt);
    }
    const [first] = tasks;
    if (first === undefined) return;
    if (tasks.length === 1) this.send(w, first);
    else if (w.wire >= 2) this.send(w, { type: "execute_batch", tasks: [...tasks] });
    else for (const t of tasks) this.send(w, t);
  }

  notify(workerId: string, msg: SubtaskNotice): void {
    const w = this.byName.get(workerId);
    if (w && (w.state === "online" || w.state === "draining")) this.send(w, msg);
  }

  cancel(workerId: string | null, taskUid: string, reason: string): void {
    const w = workerId ? this.byName.get(workerId) : undefined;
    if (w) this.send(w, { type: "cancel", id: taskUid, reason });
  }

  replace(why: string, workerId: string | null): void {
    const w = workerId ? this.byName.get(workerId) : undefined;
    if (w) this.send(w, { type: "replace", why });
  }

  // ---- views ----------------------------------------------------------------------

  /** Host and pid of a worker (for QS_Task events). */
  info(name: string): { hostname: string; pid: number } | undefined {
    const w = this.byName.get(name);
    return w ? { hostname: w.hostname, pid: w.pid } : undefined;
  }

  rows(): WorkerRow[] {
    return [...this.byName.values()].map((w) => ({
      name: w.name,
      kind: "remote",
      hostname: w.hostname,
      pid: w.pid,
      slots: w.slots,
      busy: w.assigned.size,
      tags: [...w.tags],
      state: w.state,
      connected_at: new Date(w.connectedAt).toISOString(),
      last_seen: new Date(w.lastSeen).toISOString(),
      tasks_done: w.tasksDone,
      tasks_failed: w.tasksFailed,
    }));
  }

  // ---- the socket -----------------------------------------------------------------

  private send(w: RemoteWorker, msg: ManagerMessage | ExecuteFunctionMsg | SubtaskNotice): void {
    w.lastSentAt = Date.now();
    this.sendTo(w.routeBuf, msg);
  }

  private sendTo(route: Buffer, msg: ManagerMessage): void {
    this.sendQueue.send([route, encodeWire(msg)]);
  }

  private onFrames(frames: Buffer[]): void {
    const [route, body, ...rest] = frames;
    if (!route || !body || rest.length > 0) return;
    const key = route.toString("hex");
    const w = this.byRoute.get(key);
    if (!w) {
      // Only a hello is expected here: refused unread past its size.
      const tooBig = helloSizeRefusal(body.length, this.opts.limits);
      if (tooBig !== undefined) return this.refuse(route, key, undefined, tooBig);
    }
    const r = decodeWire(body, agentMessageSchema, (v) => helloCountRefusal(v, this.opts.limits));
    if (!r.ok) {
      if (r.type === "hello") this.refuse(route, key, undefined, r.error);
      else this.complain(key, r.error);
      return;
    }
    const m = r.msg;
    if (m.type === "hello") {
      this.hello(route, key, m);
      return;
    }
    if (!w || w.route !== key || w.state === "lost" || w.state === "offline") {
      // A claim that waits on a live holder is answered when the holder speaks or is lost.
      if (this.pending.waiting(key)) return;
      // A connection it does not know (a restart, a worker given up): ask who it is.
      for (const r of m.type === "reports" ? m.reports : [m]) {
        if (r.type !== "task_done") continue;
        this.log.warn(
          `Dropped the result of task '${r.id}' from a worker the manager does not know (now): the task was given up`,
        );
      }
      if (m.type !== "bye") this.sendTo(route, { type: "who" });
      return;
    }
    w.lastSeen = Date.now();
    // It is live: a claim of its name that waited on it is refused.
    const claim = this.pending.take(w.name);
    if (claim) this.refuse(claim.routeBuf, claim.route, w.name, nameInUse(w.name, w));
    this.onMessage(w, m);
  }

  private complain(key: string, error: string): void {
    if (this.complained.has(key)) return;
    if (this.complained.size > 10_000) this.complained.clear();
    this.complained.add(key);
    this.log.warn(`Dropped a message from a worker connection: ${error}`);
  }

  /** Tell a connection why its hello is refused (logged once per connection). */
  private refuse(route: Buffer, key: string, name: string | undefined, reason: string): void {
    this.sendTo(route, { type: "refused", reason });
    if (this.complained.has(`refused:${key}`)) return;
    if (this.complained.size > 10_000) this.complained.clear();
    this.complained.add(`refused:${key}`);
    this.log.warn(`Refused a worker${name !== undefined ? ` named '${name}'` : ""}: ${reason}`);
  }

  /** With CURVE, the key a hello proves (worker-proof.ts); a refusal when it proves none. */
  private provenKey(m: HelloMsg): { key: string | undefined } | { refusal: string } {
    const secret = this.opts.curveSecretKey;
    if (!secret) return { key: undefined };
    if (m.key === undefined || m.proof === undefined) {
      return { refusal: "with CURVE, a hello names the worker's public key and proves it" };
    }
    if (!checkHelloProof(secret, m.key, m.name, m.instance, m.proof)) {
      return { refusal: `the hello does not prove that the worker holds the key ${m.key}` };
    }
    return { key: m.key };
  }

  private holder(w: RemoteWorker): NameHolder {
    const live =
      (w.state === "online" || w.state === "draining") && Date.now() - w.lastSeen <= this.lossMs(w);
    return { instance: w.instance, key: w.key, live, hostname: w.hostname, pid: w.pid };
  }

  private hello(route: Buffer, key: string, m: HelloMsg): void {
    const proven = this.provenKey(m);
    if ("refusal" in proven) return this.refuse(route, key, m.name, proven.refusal);
    const held = this.byName.get(m.name);
    const v = judgeClaim(held && this.holder(held), m, proven.key);
    if (v.verdict === "refuse") return this.refuse(route, key, m.name, v.reason);
    if (v.verdict === "wait" && held) {
      const replaced = this.pending.add({ route: key, routeBuf: route, hello: m, key: proven.key });
      if (replaced) {
        this.refuse(replaced.routeBuf, replaced.route, m.name, nameInUse(m.name, held));
      }
      return;
    }
    this.take(route, key, m, proven.key);
  }

  /** The hello's worker has the name (new, back, or on a new connection). */
  private take(route: Buffer, key: string, m: HelloMsg, curveKey: string | undefined): void {
    const now = Date.now();
    let w = this.byName.get(m.name);
    const back = w !== undefined;
    const claim = this.pending.take(m.name);
    if (claim && claim.route !== key) {
      this.refuse(claim.routeBuf, claim.route, m.name, nameInUse(m.name, m));
    }
    if (w && w.route !== key) {
      this.byRoute.delete(w.route);
      if ((w.state === "online" || w.state === "draining") && w.instance === m.instance) {
        // Its connection changed while it was known (a reconnect): it is a new session,
        // the tasks of the old one are given up.
        this.giveUp(w, `The worker '${w.name}' on ${w.hostname} reconnected while the task ran`);
      } else if (w.state === "online" || w.state === "draining") {
        // Another instance under the name of one silent past the timeout: that one is lost.
        this.offline(w, "lost", this.lostMessage(w));
      }
    }
    const wasOnline = w?.route === key && (w.state === "online" || w.state === "draining");
    if (!w) {
      const created: RemoteWorker = {
        name: m.name,
        instance: m.instance,
        key: curveKey,
        route: key,
        routeBuf: route,
        hostname: m.hostname,
        pid: m.pid,
        slots: m.slots,
        tags: new Set(m.tags),
        version: m.version,
        wire: m.wire ?? 1,
        functions: new Map(Object.entries(m.functions)),
        state: "online",
        connectedAt: now,
        lastSeen: now,
        lastSentAt: now,
        toldLossMs: 0,
        visitAt: now,
        heapIndex: -1,
        lastHeartbeatEvent: now,
        tasksDone: 0,
        tasksFailed: 0,
        assigned: new Map(),
        view: { id: m.name, main: false, remote: true },
        console: new ConsoleLimit(
          this.opts.consoleLimit ?? { rate: DEFAULT_CONSOLE_RATE, burst: DEFAULT_CONSOLE_BURST },
          (text) => this.printed(m.name, text),
        ),
      };
      w = created;
      this.byName.set(m.name, w);
    }
    w.route = key;
    w.routeBuf = route;
    w.instance = m.instance;
    w.key ??= curveKey;
    w.hostname = m.hostname;
    w.pid = m.pid;
    w.slots = m.slots;
    w.tags = new Set(m.tags);
    w.version = m.version;
    w.wire = m.wire ?? 1;
    w.functions = new Map(Object.entries(m.functions));
    w.lastSeen = now;
    w.state = m.draining ? "draining" : "online";
    this.version++;
    const fns = w.functions;
    const tags = w.tags;
    w.view = {
      id: w.name,
      main: false,
      remote: true,
      slots: w.slots,
      // Short tasks are dealt ahead to it: they wait in the agent (highest priority first).
      ahead: true,
      offers: (fn) => fns.has(fn),
      functions: new Set(fns.keys()),
      tags,
    };
    this.byRoute.set(key, w);
    if (m.running && this.opts.marks) this.takeBack(w, m.running, this.opts.marks);
    this.paceFor(now);
    const { intervalMs, lossMs } = this.pace.pace;
    this.send(w, { type: "welcome", heartbeat_ms: intervalMs, timeout_ms: lossMs });
    w.toldLossMs = lossMs;
    this.visits.schedule(w, now + intervalMs);
    if (wasOnline) return;
    w.connectedAt = now;
    w.lastHeartbeatEvent = now;
    this.log.info(
      `Worker '${w.name}' on ${w.hostname} (pid ${w.pid}) ${back ? "is back" : "joined"}: ${w.slots} slot(s), ${fns.size} function(s)` +
        (tags.size > 0 ? `, tags ${[...tags].join(",")}` : ""),
    );
    this.event("worker-online", w);
    this.emit("worker-joined");
  }

  /**
   * Its hello lists tasks it still runs (a restart or takeover of the
   * manager): those it may take back are assigned to it again (their reports
   * applied from now on); the tasks area ignores and logs the rest.
   */
  private takeBack(w: RemoteWorker, running: readonly string[], marks: RemoteTaskMarks): void {
    const claimed = running.filter((uid) => !w.assigned.has(uid));
    if (claimed.length === 0) return;
    for (const { uid, attempt } of marks.claim(w, claimed)) w.assigned.set(uid, attempt);
  }

  private onMessage(w: RemoteWorker, m: AgentMessage): void {
    switch (m.type) {
      case "hello":
        return;
      case "heartbeat":
        if (Date.now() - w.lastHeartbeatEvent >= HEARTBEAT_EVENT_MS) {
          w.lastHeartbeatEvent = Date.now();
          this.event("worker-heartbeat", w);
        }
        return;
      case "output":
        w.console.write(m.text);
        return;
      case "reports":
        for (const r of m.reports) this.onMessage(w, r);
        return;
      case "draining":
        if (w.state === "online") {
          w.state = "draining";
          this.version++;
          this.log.info(`Worker '${w.name}' on ${w.hostname} is draining: it takes no new task`);
        }
        return;
      case "bye":
        this.gone(w, "offline", `The worker '${w.name}' on ${w.hostname} left (${m.msg})`);
        return;
      case "task_started":
      case "task_progress":
      case "task_done":
      case "subtask":
        this.onTaskMessage(w, m);
        return;
    }
  }

  private onTaskMessage(w: RemoteWorker, m: TaskMessage): void {
    // The end of a task it ran for the manager before, ended before its hello could list
    // it: taken back if its start mark names this worker.
    if (m.type === "task_done" && this.opts.marks && !w.assigned.has(m.id)) {
      for (const t of this.opts.marks.claim(w, [m.id], true)) w.assigned.set(t.uid, t.attempt);
    }
    // A subtask is asked for by a task that runs there now.
    if (!w.assigned.has(m.type === "subtask" ? m.parent : m.id)) {
      if (m.type === "task_done") {
        this.log.warn(
          `Dropped the result of task '${m.id}' from worker '${w.name}': the task is not assigned to it (it was given up)`,
        );
      }
      return;
    }
    if (m.type === "task_done") {
      w.assigned.delete(m.id);
      if (m.success) w.tasksDone++;
      else w.tasksFailed++;
    }
    this.emit("task-message", w.name, m);
  }

  /** A worker silent this long is lost: the pace now, or the slower one it was told. */
  private lossMs(w: RemoteWorker): number {
    return Math.max(this.pace.pace.lossMs, w.toldLossMs);
  }

  /** The pace for the workers connected now; a new one goes out with the next heartbeats. */
  private paceFor(now: number): void {
    if (this.pace.update(this.byRoute.size, now)) this.heartbeatBody = this.encodeHeartbeat();
  }

  /**
   * The workers due: a heartbeat to one told nothing for half the loss time
   * (managerBeatMs; or not yet told the pace); one silent past its loss time is judged after this
   * turn's reads; one gone long enough is forgotten.
   */
  private tick(): void {
    const now = Date.now();
    this.paceFor(now);
    const { lossMs } = this.pace.pace;
    const beatMs = managerBeatMs(this.pace.pace);
    let w: RemoteWorker | undefined;
    while ((w = this.visits.popDue(now)) !== undefined) {
      if (w.state !== "online" && w.state !== "draining") {
        const forgetAt = w.lastSeen + this.opts.forgetAfterMs;
        if (now < forgetAt) this.visits.schedule(w, forgetAt);
        else if (this.byName.get(w.name) === w) this.byName.delete(w.name);
        continue;
      }
      const deadline = w.lastSeen + this.lossMs(w);
      if (now > deadline) {
        if (this.suspects.length === 0) setImmediate(() => this.judgeSuspects());
        this.suspects.push(w);
        continue;
      }
      if (now - w.lastSentAt >= beatMs || w.toldLossMs !== lossMs) {
        w.lastSentAt = now;
        this.sendQueue.send([w.routeBuf, this.heartbeatBody]);
        w.toldLossMs = lossMs;
      }
      this.visits.schedule(w, Math.min(w.lastSentAt + beatMs, deadline + 1));
    }
  }

  /**
   * Decide after this turn's reads (setImmediate runs after the poll phase): a
   * manager that was busy itself may have beats waiting unread.
   */
  private judgeSuspects(): void {
    const suspects = this.suspects;
    this.suspects = [];
    const now = Date.now();
    for (const w of suspects) {
      if (w.state !== "online" && w.state !== "draining") {
        this.visits.schedule(w, now);
        continue;
      }
      const deadline = w.lastSeen + this.lossMs(w);
      if (now > deadline) this.gone(w, "lost", this.lostMessage(w));
      else
        this.visits.schedule(
          w,
          Math.min(w.lastSentAt + managerBeatMs(this.pace.pace), deadline + 1),
        );
    }
  }

  /** A worker's output on QS_Console, each line after the worker's name. */
  private printed(name: string, raw: string): void {
    const text = raw.endsWith("\n") ? raw : `${raw}\n`;
    this.notices.emit(
      "console",
      text
        .slice(0, -1)
        .split("\n")
        .map((l) => `[${name}] ${l}\n`)
        .join(""),
    );
  }

  private lostMessage(w: RemoteWorker): string {
    return `The worker '${w.name}' on ${w.hostname} was lost (no heartbeat for ${this.lossMs(w) / 1000} s) while the task was running`;
  }

  /**
   * It left or was lost: a claim of its name that waited gets the name;
   * with --worker-forget-after 0 it is forgotten at once.
   */
  private gone(w: RemoteWorker, state: "lost" | "offline", msg: string): void {
    this.offline(w, state, msg);
    const claim = this.pending.take(w.name);
    if (claim) this.take(claim.routeBuf, claim.route, claim.hello, claim.key);
    else if (this.opts.forgetAfterMs === 0) {
      this.byName.delete(w.name);
      this.visits.remove(w);
    } else this.visits.schedule(w, w.lastSeen + this.opts.forgetAfterMs);
  }

  private offline(w: RemoteWorker, state: "lost" | "offline", msg: string): void {
    w.state = state;
    this.version++;
    w.console.close();
    this.byRoute.delete(w.route);
    if (state === "lost") this.log.error(msg.replace(/ while the task was running$/, ""));
    else this.log.info(msg);
    this.giveUp(w, msg);
    this.event("worker-offline", w, { reason: state === "lost" ? "lost" : "left" });
  }

  /** Its tasks are no longer its own: the scheduler retries or fails them. */
  private giveUp(w: RemoteWorker, msg: string): void {
    w.assigned.clear();
    this.emit("worker-lost", w.name, msg);
  }

  private event(name: string, w: RemoteWorker, extra: Record<string, unknown> = {}): void {
    this.notices.emit("worker-event", {
      event: name,
      worker: w.name,
      hostname: w.hostname,
      pid: w.pid,
      slots: w.slots,
      busy: w.assigned.size,
      tags: [...w.tags],
      state: w.state,
      last_seen: w.lastSeen / 1000,
      ...extra,
    });
  }
}

/** The local host name (a local worker's `hostname` in workers_list). */
export const LOCAL_HOSTNAME = os.hostname();
