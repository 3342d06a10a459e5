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
 *    never applied twice; an end that names another attempt of the task is
 *    dropped too. Every end received is acknowledged (remote-acks.ts: on the
 *    `execute_batch` of the turn, else one `ack`): the agent keeps it until then.
 *  - Every message is checked against its schema (worker-wire.ts): a broken
 *    or hostile peer gets its message dropped and logged once, never a crash.
 *  - Speed: a worker is dealt ahead beyond its slots by its recent call times
 *    (the tasks wait in its agent, highest priority first); to an agent that
 *    speaks wire 2 the tasks of one deal go as one `execute_batch`, and its
 *    reports of one turn come as one `reports` message.
 *
 * The pool keeps the workers by name and connection, the one receive loop
 * (rpc/router-loop.ts), their joining and their liveness; its parts each get
 * a narrow context: remote-worker.ts (a worker's record, row and event),
 * remote-hello.ts (hellos judged: proofs, names, claims, refusals),
 * remote-reports.ts (a known worker's messages, tasks taken back),
 * remote-acks.ts (task ends acknowledged, copies known) and
 * remote-send.ts (what goes out, the tasks of a deal batched).
 */
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { Router } from "zeromq";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { HelloMsg } from "../../protocol/worker-wire.js";
import { agentMessageSchema, decodeWire, encodeWire } from "../../protocol/worker-wire.js";
import { ConsoleLimit, DEFAULT_CONSOLE_BURST, DEFAULT_CONSOLE_RATE } from "../console-limit.js";
import { routerLoop } from "../rpc/router-loop.js";
import type { HelloLimits } from "./hello-limits.js";
import type { RemoteTaskMarks } from "./task-marks.js";
import { HeartbeatPace, managerBeatMs, VisitHeap } from "./liveness.js";
import { helloCountRefusal, helloSizeRefusal } from "./hello-limits.js";
import { EndAcks } from "./remote-acks.js";
import { RemoteHellos } from "./remote-hello.js";
import { RemoteReports } from "./remote-reports.js";
import { WorkerSender } from "./remote-send.js";
import type { RemoteWorker, WorkerRow } from "./remote-worker.js";
import {
  applyHello,
  consoleLines,
  newRemoteWorker,
  workerEvent,
  workerRow,
} from "./remote-worker.js";
import type { SubtaskNotice, TaskWorker, TaskWorkerPool, TaskWorkerPoolEvents } from "./pool.js";

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
  /** Resolves once the store's writes made so far are durable: task ends are acknowledged then. */
  durable?: () => Promise<void>;
  /** Start marks of the tasks dealt, and claims of running tasks after a restart or takeover. */
  marks?: RemoteTaskMarks | undefined;
}

/** After a message this large the receive loop lets the other sockets have a turn. */
const LARGE_MESSAGE_BYTES = 64 * 1024;

export class RemoteWorkerPool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  readonly notices = new EventEmitter<RemotePoolNotices>();
  readonly slotsPerWorker = 1;
  readonly mainWorkerId = undefined;
  private readonly router: Router;
  private readonly sender: WorkerSender;
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
  /** The hellos: names judged, claims waiting, refusals. */
  private readonly hellos: RemoteHellos;
  /** The messages of known workers. */
  private readonly reports: RemoteReports;
  /** The acknowledgements of task ends. */
  private readonly acks: EndAcks<RemoteWorker>;
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
    this.sender = new WorkerSender(this.router, (err) =>
      this.log.debug({ err }, "Failed to send to a worker"),
    );
    this.hellos = new RemoteHellos({
      curveSecretKey: opts.curveSecretKey,
      log,
      sendTo: (route, msg) => this.sender.sendTo(route, msg),
      known: (name) => this.byName.get(name),
      lossMs: (w) => this.lossMs(w),
      take: (route, key, m, curveKey) => this.take(route, key, m, curveKey),
    });
    this.acks = new EndAcks((w, uids) => {
      if (w.state === "online" || w.state === "draining") this.sender.ack(w, uids);
    }, opts.durable);
    this.reports = new RemoteReports({
      log,
      acks: this.acks,
      marks: opts.marks,
      event: (name, w) => this.event(name, w),
      changed: () => this.version++,
      left: (w, msg) => this.gone(w, "offline", msg),
      task: (worker, m) => this.emit("task-message", worker, m),
    });
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
    this.sender.close();
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
    for (const t of tasks) w.assigned.set(t.id, t.attempt);
    this.opts.marks?.dealt(w, tasks);
    this.sender.sendTasks(w, tasks);
  }

  notify(workerId: string, msg: SubtaskNotice): void {
    const w = this.byName.get(workerId);
    if (w && (w.state === "online" || w.state === "draining")) this.sender.send(w, msg);
  }

  cancel(workerId: string | null, taskUid: string, reason: string): void {
    const w = workerId ? this.byName.get(workerId) : undefined;
    if (w) this.sender.send(w, { type: "cancel", id: taskUid, reason });
  }

  replace(why: string, workerId: string | null): void {
    const w = workerId ? this.byName.get(workerId) : undefined;
    if (w) this.sender.send(w, { type: "replace", why });
  }

  // ---- views ----------------------------------------------------------------------

  /** Host and pid of a worker (for QS_Task events). */
  info(name: string): { hostname: string; pid: number } | undefined {
    const w = this.byName.get(name);
    return w ? { hostname: w.hostname, pid: w.pid } : undefined;
  }

  rows(): WorkerRow[] {
    return [...this.byName.values()].map(workerRow);
  }

  // ---- the socket -----------------------------------------------------------------

  private onFrames(frames: Buffer[]): void {
    const [route, body, ...rest] = frames;
    if (!route || !body || rest.length > 0) return;
    const key = route.toString("hex");
    const w = this.byRoute.get(key);
    if (!w) {
      // Only a hello is expected here: refused unread past its size.
      const tooBig = helloSizeRefusal(body.length, this.opts.limits);
      if (tooBig !== undefined) return this.hellos.refuse(route, key, undefined, tooBig);
    }
    const r = decodeWire(body, agentMessageSchema, (v) => helloCountRefusal(v, this.opts.limits));
    if (!r.ok) {
      if (r.type === "hello") this.hellos.refuse(route, key, undefined, r.error);
      else this.hellos.complain(key, r.error);
      return;
    }
    const m = r.msg;
    if (m.type === "hello") {
      this.hellos.hello(route, key, m);
      return;
    }
    if (!w || w.route !== key || w.state === "lost" || w.state === "offline") {
      // A claim that waits on a live holder is answered when the holder speaks or is lost.
      if (this.hellos.waiting(key)) return;
      // A connection it does not know (a restart, a worker given up): ask who it is.
      for (const r of m.type === "reports" ? m.reports : [m]) {
        if (r.type !== "task_done") continue;
        this.log.warn(
          `Dropped the result of task '${r.id}' from a worker the manager does not know (now): the task was given up`,
        );
      }
      if (m.type !== "bye") this.sender.sendTo(route, { type: "who" });
      return;
    }
    w.lastSeen = Date.now();
    // It is live: a claim of its name that waited on it is refused.
    this.hellos.spoke(w);
    this.reports.report(w, m);
  }

  /** The hello's worker has the name (new, back, or on a new connection). */
  private take(route: Buffer, key: string, m: HelloMsg, curveKey: string | undefined): void {
    const now = Date.now();
    let w = this.byName.get(m.name);
    const back = w !== undefined;
    this.hellos.taken(m.name, key, m);
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
      const name = m.name;
      const limit = new ConsoleLimit(
        this.opts.consoleLimit ?? { rate: DEFAULT_CONSOLE_RATE, burst: DEFAULT_CONSOLE_BURST },
        (text) => this.notices.emit("console", consoleLines(name, text)),
      );
      w = newRemoteWorker(route, key, m, curveKey, now, limit);
      this.byName.set(m.name, w);
    }
    applyHello(w, route, key, m, curveKey, now);
    this.version++;
    const fns = w.functions;
    const tags = w.tags;
    this.byRoute.set(key, w);
    if (m.running) this.reports.takeBack(w, m.running);
    this.paceFor(now);
    const { intervalMs, lossMs } = this.pace.pace;
    this.sender.send(w, {
      type: "welcome",
      heartbeat_ms: intervalMs,
      timeout_ms: lossMs,
      ...(w.wire >= 3 ? { acks: true } : {}),
    });
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
        this.sender.sendEncoded(w, this.heartbeatBody, now);
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

  private lostMessage(w: RemoteWorker): string {
    return `The worker '${w.name}' on ${w.hostname} was lost (no heartbeat for ${this.lossMs(w) / 1000} s) while the task was running`;
  }

  /**
   * It left or was lost: a claim of its name that waited gets the name;
   * with --worker-forget-after 0 it is forgotten at once.
   */
  private gone(w: RemoteWorker, state: "lost" | "offline", msg: string): void {
    this.offline(w, state, msg);
    const claim = this.hellos.claimOf(w.name);
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
    this.acks.forget(w);
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
    this.notices.emit("worker-event", workerEvent(name, w, extra));
  }
}
