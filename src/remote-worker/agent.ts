/**
 * `zqs worker`: an agent on another host that joins a manager's worker socket
 * (`--zmq-worker-addr`) and runs the tasks it is dealt in its own forked
 * worker processes: the same worker main and `WorkerProcess` class the manager
 * uses, one process per slot (one task running in each), so that a CPU-bound
 * task holds one process and a task that does not stop after a cancel is ended
 * by replacing its process.
 *
 *  - It loads the startup code first (in every process), then says hello: its
 *    name, instance (a random token of this start: the manager knows it again
 *    by it on a new connection), host, pid, slots, tags and the functions it
 *    offers (with a hash of each one's source); with CURVE, its public key and
 *    the proof that it holds it. A `refused` answer (its name is taken, it
 *    announces more than the manager takes) ends it with the reason.
 *  - Heartbeats both ways. The manager silent past its timeout is lost: the
 *    agent takes no new task until the manager is back, and with
 *    `--orphan-policy abort` ends its running tasks (`finish`: they finish and
 *    their results are sent; the manager drops those it has given up); tasks
 *    dealt to it that had not started are dropped. When
 *    the manager no longer knows it (a restart), it answers `who` and the agent
 *    says hello again.
 *  - Several managers (`--connect a,b`: an active one and its standbys): when
 *    the one it is joined to is lost, or answers a hello with `who`, or sends
 *    no welcome within the timeout, the agent moves on to the next address.
 *  - Its running tasks survive a change of manager: every hello lists them
 *    (`running`), the manager that welcomes it takes them back, and their
 *    reports (those not yet sent too) go to it. Only when no manager has
 *    welcomed it within the timeout does the orphan policy apply to them.
 *  - Task ends name their attempt and are kept from when they are sent until
 *    the manager acknowledges them (kept-ends.ts; a manager that does not
 *    acknowledge: until it next shows it knows this connection). A `who` or a
 *    change of manager means they may not have been applied (an end in flight
 *    to a manager that died, a task that ended while the manager was down):
 *    they go again after the welcome, and the manager takes back a task whose
 *    end it was waiting for (one it applied already drops the copy).
 *  - Its processes and the tasks dealt to it are slot-processes.ts: tasks
 *    wait here highest priority first; a process of short calls is given
 *    several at once (dealt ahead: they wait in it, one runs at a time), one
 *    of longer calls one at a time. A cancel of a waiting task ends it unrun;
 *    a process that exits fails its running tasks and gives back those it
 *    held unstarted, which run on another. What its processes report in one
 *    turn goes to the manager as one message (wire 2; manager-outbox.ts).
 *  - SIGTERM drains: no new task is taken, running ones finish (up to the
 *    drain timeout), then it says bye and exits.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { Dealer } from "zeromq";
import { curveKeyPair } from "zeromq";
import { publicKeyFromPrivate } from "../client/keys.js";
import { addressList } from "../client/managers.js";
import { helloProof } from "../protocol/worker-proof.js";
import type { AgentReport, ManagerMessage } from "../protocol/worker-wire.js";
import {
  decodeWire,
  managerMessageSchema,
  WORKER_WIRE_MAX_BYTES,
  WORKER_WIRE_VERSION,
} from "../protocol/worker-wire.js";
import { TRACE_TASKS } from "../protocol/task-trace.js";
import { VERSION } from "../version.js";
import { WorkerProcess } from "../worker-host/worker-process.js";
import { DEFAULT_KEPT_END_BYTES, DEFAULT_KEPT_ENDS_PER_SLOT, KeptEnds } from "./kept-ends.js";
import { ManagerOutbox } from "./manager-outbox.js";
import { SlotProcesses } from "./slot-processes.js";

export type OrphanPolicy = "finish" | "abort";

export interface AgentOptions {
  /** The manager's worker address, or several separated by commas (an active manager and its standbys). */
  connect: string;
  startupDir?: string | undefined;
  startupModule?: string | undefined;
  name?: string | undefined;
  slots: number;
  tags: string[];
  /** The manager's CURVE public key; with it the connection is encrypted. */
  serverKey?: string | undefined;
  /** This worker's CURVE secret key (default: a new pair each start). */
  secretKey?: string | undefined;
  drainTimeoutMs: number;
  orphanPolicy: OrphanPolicy;
  /** Silence (of the manager, of a worker process) taken as loss, until the manager says its own. */
  timeoutMs: number;
  /** Task ends kept for a manager that may not have applied them: this many per slot at most. */
  keptEndsPerSlot?: number;
  /** Bytes the kept task ends may hold together. */
  keptEndsBytes?: number;
  log: (line: string) => void;
}

type AgentState = "joining" | "online" | "lost" | "draining" | "closed";

export { DEFAULT_KEPT_END_BYTES, DEFAULT_KEPT_ENDS_PER_SLOT } from "./kept-ends.js";

export class WorkerAgent {
  readonly name: string;
  /** This start of the agent (hello): a new connection of it is the same worker. */
  readonly instance = randomBytes(12).toString("hex");
  /** Why the manager refused it, when it did (it then leaves). */
  refusal: string | undefined;
  /** With CURVE: its public key and the proof that it holds it (hello). */
  private keyProof: { key: string; proof: string } | undefined;
  private state: AgentState = "joining";
  /** Its worker processes and the tasks they hold or wait for (slot-processes.ts). */
  private readonly slots: SlotProcesses;
  private functions: Record<string, string> = {};
  private dealer: Dealer | undefined;
  /** What it says to the manager, in order (manager-outbox.ts). */
  private readonly outbox: ManagerOutbox;
  /** Task ends the manager may not have applied (sent and not acknowledged, or to send again). */
  private readonly kept: KeptEnds;
  /** The managers' worker addresses, and the one joined (or being joined) now. */
  private readonly addresses: string[];
  private current = 0;
  /** The CURVE options of every connection (one key pair for this start). */
  private curve: Record<string, string> = {};
  /** When the last hello went out, and whether a welcome answered it. */
  private helloAt = 0;
  private welcomed = false;
  /** Since when the running tasks wait for a manager to take them back (undefined: one has them). */
  private unclaimedSince: number | undefined;
  private lastFromManager = Date.now();
  private heartbeatMs: number;
  private timeoutMs: number;
  private beat: NodeJS.Timeout | undefined;
  private readonly exited: Promise<void>;
  private resolveExited!: () => void;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.name = opts.name ?? `${os.hostname()}:${process.pid}`;
    this.addresses = addressList(opts.connect, "--connect");
    this.timeoutMs = opts.timeoutMs;
    this.heartbeatMs = Math.max(20, Math.floor(opts.timeoutMs / 4));
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.kept = new KeptEnds(
      () => (opts.keptEndsPerSlot ?? DEFAULT_KEPT_ENDS_PER_SLOT) * opts.slots,
      opts.log,
      () => opts.keptEndsBytes ?? DEFAULT_KEPT_END_BYTES,
    );
    this.outbox = new ManagerOutbox({
      connection: () => this.dealer,
      kept: this.kept,
      ...(TRACE_TASKS ? { trace: opts.log } : {}),
    });
    this.slots = new SlotProcesses({
      name: this.name,
      fork: (id) =>
        new WorkerProcess({
          id,
          startupDir: opts.startupDir,
          startupModule: opts.startupModule,
          heartbeatTimeoutMs: opts.timeoutMs,
          slots: 1,
        }),
      mayDeal: () => this.state === "online" || this.state === "draining",
      closing: () => this.state === "closed",
      report: (m) => this.report(m),
      changed: () => this.maybeDrained(),
      log: opts.log,
    });
  }

  /** Resolves when the agent has left (drained, or closed). */
  get done(): Promise<void> {
    return this.exited;
  }

  /** Load the startup code in every process, then join the manager. */
  async start(): Promise<void> {
    this.functions = await this.slots.start(this.opts.slots);
    this.opts.log(
      `Worker '${this.name}': ${this.opts.slots} process(es) ready, ${Object.keys(this.functions).length} function(s); joining ${this.address}`,
    );
    this.curve = this.curveOptions();
    this.openConnection();
    this.hello();
    this.beat = setInterval(() => this.tick(), this.heartbeatMs);
  }

  /** The manager address joined (or being joined) now. */
  get address(): string {
    return this.addresses[this.current] as string;
  }

  /** A connection to the current address (the previous one closed). */
  private openConnection(): void {
    this.dealer?.close();
    const dealer = new Dealer({
      linger: 2000,
      immediate: true,
      reconnectInterval: 100,
      reconnectMaxInterval: 1000,
      maxMessageSize: WORKER_WIRE_MAX_BYTES,
      sendHighWaterMark: 100_000,
      receiveHighWaterMark: 100_000,
      ...this.curve,
    });
    this.dealer = dealer;
    dealer.connect(this.address);
    void this.receiveLoop(dealer);
  }

  /**
   * Move on to the next manager: a new connection, a hello listing the running
   * tasks, then their reports not yet sent (other messages are dropped: the
   * hello says the state). Tasks that never started (queued, or waiting in a
   * process) are left to the managers (the new one deals them again).
   */
  private switchManager(why: string): void {
    const from = this.address;
    this.current = (this.current + 1) % this.addresses.length;
    this.opts.log(`Leaving the manager at ${from} (${why}); joining ${this.address}`);
    if (this.state === "online" || this.state === "lost") this.state = "joining";
    this.slots.dropNotStarted(`the worker left the manager at ${from}`);
    if (this.unclaimedSince === undefined && this.running().length > 0) {
      this.unclaimedSince = Date.now();
    }
    this.outbox.changeManager(() => {
      this.endsAgain();
      this.openConnection();
      this.lastFromManager = Date.now();
      this.hello();
    });
  }

  /** The tasks its processes run for a manager (not given up). */
  private running(): string[] {
    return this.slots.running();
  }

  private curveOptions(): Record<string, string> {
    if (!this.opts.serverKey) return {};
    const pair = this.opts.secretKey
      ? { publicKey: publicKeyFromPrivate(this.opts.secretKey), secretKey: this.opts.secretKey }
      : curveKeyPair();
    this.keyProof = {
      key: pair.publicKey,
      proof: helloProof(pair.secretKey, this.opts.serverKey, this.name, this.instance),
    };
    return {
      curveServerKey: this.opts.serverKey,
      curvePublicKey: pair.publicKey,
      curveSecretKey: pair.secretKey,
    };
  }

  /** A report of a worker process for the manager. */
  private report(m: AgentReport): void {
    this.outbox.send(m);
    if (m.type === "task_done" && this.state === "lost") {
      this.opts.log(`Task '${m.id}' ended while the manager is lost: its end goes when it is back`);
    }
  }

  // ---- the manager ----------------------------------------------------------------

  private hello(): void {
    const running = this.running();
    this.helloAt = Date.now();
    this.welcomed = false;
    this.outbox.send({
      type: "hello",
      name: this.name,
      instance: this.instance,
      ...this.keyProof,
      hostname: os.hostname(),
      pid: process.pid,
      slots: this.opts.slots,
      tags: this.opts.tags,
      version: VERSION,
      functions: this.functions,
      wire: WORKER_WIRE_VERSION,
      ...(this.state === "draining" ? { draining: true } : {}),
      ...(running.length > 0 ? { running } : {}),
    });
  }

  private async receiveLoop(dealer: Dealer): Promise<void> {
    for (;;) {
      if (dealer !== this.dealer) return; // an earlier manager's connection
      let frames: Buffer[];
      try {
        frames = await dealer.receive();
      } catch {
        return; // closed
      }
      const body = frames[frames.length - 1];
      if (!body || dealer !== this.dealer) continue;
      const r = decodeWire(body, managerMessageSchema);
      if (!r.ok) {
        this.opts.log(`Dropped a message from the manager: ${r.error}`);
        continue;
      }
      this.lastFromManager = Date.now();
      // Ends it acknowledges (or, if it does not, all sent before: it knows this connection).
      this.kept.heard(r.msg);
      this.onManager(r.msg);
    }
  }

  private onManager(m: ManagerMessage): void {
    if (this.state === "closed") return;
    switch (m.type) {
      case "welcome": {
        if (this.state === "joining" || this.state === "lost") {
          this.state = "online";
          this.opts.log(`Worker '${this.name}' joined the manager at ${this.address}`);
        }
        this.welcomed = true;
        for (const end of this.kept.takeResend()) this.outbox.send(end);
        if (this.unclaimedSince !== undefined) {
          const n = this.running().length;
          if (n > 0)
            this.opts.log(`The manager at ${this.address} takes back ${n} running task(s)`);
          this.unclaimedSince = undefined;
        }
        this.adoptPace(m.heartbeat_ms, m.timeout_ms);
        this.slots.deal();
        return;
      }
      case "refused":
        this.refusal = m.reason;
        this.opts.log(`The manager refused worker '${this.name}': ${m.reason}`);
        this.orphanAll("the manager refused this worker");
        void this.leave(`refused: ${m.reason}`, false);
        return;
      case "who":
        // Another manager may take this worker (a standby answering a hello).
        if (this.addresses.length > 1 && !this.welcomed) {
          this.switchManager(`${this.address} does not take this worker (it answers 'who')`);
          return;
        }
        // The manager does not know this worker (now, a restart): a hello
        // again, listing what it runs, for the manager to take back.
        if (this.state === "online") this.state = "joining";
        if (this.unclaimedSince === undefined && this.running().length > 0) {
          this.unclaimedSince = Date.now();
        }
        this.endsAgain();
        this.hello();
        return;
      case "heartbeat":
        if (m.heartbeat_ms !== undefined && m.timeout_ms !== undefined) {
          this.adoptPace(m.heartbeat_ms, m.timeout_ms);
        }
        if (this.state === "lost") {
          this.state = "online";
          this.opts.log(`The manager answers again`);
          this.slots.deal();
        }
        return;
      case "execute":
        this.kept.dealtAgain(m.id);
        this.slots.add([m]);
        return;
      case "execute_batch":
        for (const t of m.tasks) this.kept.dealtAgain(t.id);
        this.slots.add(m.tasks);
        return;
      case "ack":
        return;
      case "cancel":
        this.slots.cancel(m.id, m.reason);
        return;
      case "subtask_reply":
      case "subtask_done":
        this.slots.subtaskAnswer(m);
        return;
      case "replace":
        this.slots.replace(m.why);
        return;
    }
  }

  /** How often to beat and when the manager is lost, as the manager says (welcome, heartbeat). */
  private adoptPace(heartbeatMs: number, timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    if (heartbeatMs === this.heartbeatMs) return;
    this.heartbeatMs = heartbeatMs;
    if (this.beat) clearInterval(this.beat);
    this.beat = setInterval(() => this.tick(), this.heartbeatMs);
  }

  /** The running and queued tasks are no longer the manager's: the orphan policy decides. */
  private orphanAll(why: string): void {
    this.slots.orphanAll(why, this.opts.orphanPolicy === "abort");
  }

  private tick(): void {
    if (this.state === "closed") return;
    this.checkUnclaimed();
    // Any message is a sign of life: a heartbeat only after a silence (of half
    // an interval: the last beat went a little after the last tick).
    const silent = Date.now() - this.outbox.lastSentAt >= this.heartbeatMs / 2;
    if (silent && this.outbox.empty) {
      this.outbox.send({ type: "heartbeat", busy: this.slots.busy(true) });
    }
    if (!this.welcomed && this.addresses.length > 1) {
      if (Date.now() - this.helloAt <= this.timeoutMs) return;
      setImmediate(() => {
        if (this.state === "closed" || this.welcomed) return;
        if (Date.now() - this.helloAt <= this.timeoutMs) return;
        this.switchManager(`no welcome within ${this.timeoutMs / 1000} s`);
      });
      return;
    }
    if (this.state !== "online" && this.state !== "draining") return;
    if (Date.now() - this.lastFromManager <= this.timeoutMs) return;
    // Decide after this turn's reads: the agent itself may have been busy (or stopped).
    setImmediate(() => {
      if (this.state !== "online" && this.state !== "draining") return;
      if (Date.now() - this.lastFromManager <= this.timeoutMs) return;
      this.managerLost();
    });
  }

  /** Running tasks no manager took back within the timeout: the orphan policy applies. */
  private checkUnclaimed(): void {
    if (this.unclaimedSince === undefined) return;
    if (Date.now() - this.unclaimedSince <= this.timeoutMs) return;
    this.unclaimedSince = undefined;
    this.orphanAll(`no manager took it back within ${this.timeoutMs / 1000} s`);
  }

  private managerLost(): void {
    if (this.addresses.length > 1) {
      this.switchManager(`nothing heard for ${this.timeoutMs / 1000} s`);
      return;
    }
    const draining = this.state === "draining";
    this.opts.log(
      `Lost the manager (nothing heard for ${this.timeoutMs / 1000} s): no new task until it is back` +
        (this.opts.orphanPolicy === "abort"
          ? "; running tasks are abandoned"
          : "; running tasks finish"),
    );
    if (!draining) this.state = "lost";
    if (this.opts.orphanPolicy === "abort") this.orphanAll("the manager was lost");
    else this.slots.dropNotStarted("the manager was lost");
    this.maybeDrained();
  }

  /**
   * The manager may not have applied the ends it has not acknowledged (it
   * answers `who`, or another one takes over): they go again after the next welcome.
   */
  private endsAgain(): void {
    const n = this.kept.again();
    if (n === 0) return;
    this.opts.log(
      `${n} task end(s) go to the manager at ${this.address} again once it welcomes this worker`,
    );
  }

  // ---- leaving --------------------------------------------------------------------

  /** SIGTERM: take no new task, let the running ones finish (up to the drain timeout), leave. */
  drain(): void {
    if (this.state === "closed" || this.state === "draining") return;
    const lost = this.state === "lost";
    this.state = "draining";
    this.opts.log(
      `Draining: no new task; waiting for ${this.busy()} task(s) (up to ${this.opts.drainTimeoutMs / 1000} s)`,
    );
    if (!lost) this.outbox.send({ type: "draining" });
    this.drainTimer = setTimeout(() => {
      void this.leave(`the drain timeout ended with ${this.busy()} task(s) running`);
    }, this.opts.drainTimeoutMs);
    this.maybeDrained();
  }

  private busy(): number {
    return this.slots.busy();
  }

  private maybeDrained(): void {
    if (this.state !== "draining") return;
    if (this.busy() > 0) return;
    void this.leave("drained");
  }

  private async leave(why: string, bye = true): Promise<void> {
    if (this.state === "closed") return;
    if (bye) this.outbox.send({ type: "bye", msg: why });
    this.state = "closed";
    if (this.drainTimer) clearTimeout(this.drainTimer);
    if (this.beat) clearInterval(this.beat);
    this.opts.log(`Worker '${this.name}' leaves (${why})`);
    // Let the bye go out (bounded), then close.
    const end = Date.now() + 2000;
    this.outbox.flushPending();
    while (!this.outbox.empty && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.slots.killAll("the worker agent is leaving");
    this.dealer?.close();
    this.resolveExited();
  }

  /** Stop at once (no drain). */
  async close(): Promise<void> {
    await this.leave("closed");
  }
}
