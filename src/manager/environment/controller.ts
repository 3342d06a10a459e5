/**
 * The worker environment: open (fork and load), close (ask to finish), destroy
 * (kill, also when hung), and what it found (plans, devices, functions).
 * Open/close/destroy only start the operation; status tells the rest.
 *
 * With `--workers N` the environment is a pool of N worker processes that all
 * load the same startup code. The first (main) one runs plans, foreground
 * tasks and script uploads, as the Python server's one worker does; the
 * scheduler spreads background tasks and runs over all of them.
 *  - Readiness: the environment is open when every worker is ready (they are
 *    forked together, so this costs about one fork's time), so that a client
 *    that sees `worker_environment_exists` gets the whole pool. A worker that
 *    fails to load fails the open.
 *  - Supervision: every process is watched (exit, heartbeats). The loss of the
 *    main worker ends the environment (as with one worker: the plan fails,
 *    the pool is stopped); the loss of another worker touches only its own
 *    tasks and a new process takes its place while the environment stays
 *    open. Either way the lost tasks follow the task lifecycle's one rule
 *    (tasks/lifecycle.ts: retried, waiting again, or failed saying why).
 *  - Scripts (script_upload, environment_update) run in the main worker and
 *    are also loaded into the others (and into a replacement when it joins),
 *    so that every worker has the same functions.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { EnvironmentContent, ManagerToWorker, WorkerToManager } from "../../protocol/ipc.js";

type PlanMessage = Extract<
  WorkerToManager,
  { type: "re_state" | "re_runs" | "plan_done" | "control_reply" }
>;
import type { TaskMessage, TaskWorker } from "../workers/pool.js";
import type { EnvironmentContext, EnvPhase } from "./context.js";
import type { StoreOp } from "../store/types.js";
import { ConsoleLimit, DEFAULT_CONSOLE_BURST, DEFAULT_CONSOLE_RATE } from "../console-limit.js";
import { WorkerProcess } from "../../worker-host/worker-process.js";

export interface EnvironmentOptions {
  startupDir: string | undefined;
  startupModule: string | undefined;
  heartbeatTimeoutMs: number;
  /** How long `close` waits for the worker to exit before killing it. */
  closeTimeoutMs: number;
  /** Worker processes (1: the main worker only). */
  workers: number;
  /** Function tasks one worker process runs at once (more wait in it); Infinity: no limit. */
  workerSlots?: number;
  /** The bound on each worker's console output (`--console-rate`, `--console-burst`). */
  consoleLimit?: { rate: number; burst: number };
}

/** A worker process of the pool other than the main one. */
interface PoolMember {
  proc: WorkerProcess;
  /** Loaded its startup code (and the scripts uploaded so far): it may take tasks. */
  ready: boolean;
  /** Set while it is being replaced: why (completes "replaced ..."). */
  replacing: string | undefined;
}

/**
 * What the environment tells its subscribers (any number; none replaces another).
 *  - opening: an environment starts opening (its lists will follow, or it fails);
 *  - content: the lists of plans/devices changed;
 *  - ready: the environment is open and ready (the main worker's run engine metadata);
 *  - plan-message: messages about plans (run engine state, runs, plan ends, control replies);
 *  - lost: the main worker is gone, with the reason running work failed;
 *  - task-message: messages about tasks (started, progress, done), with the id of the worker;
 *  - worker-gone: the main worker is gone, after its running tasks were ended
 *    (`reopening` when it was replaced and a new one is being opened);
 *  - pool-worker-lost: a pool worker (not the main one) is gone while the environment stays;
 *  - pool-worker-joined: a pool worker (a replacement) joined the open environment.
 */
export interface EnvironmentEvents {
  opening: [];
  content: [EnvironmentContent];
  ready: [Record<string, unknown>];
  "plan-message": [PlanMessage];
  lost: [string];
  "task-message": [string, TaskMessage];
  "worker-gone": [boolean, string];
  "pool-worker-lost": [string, string];
  "pool-worker-joined": [];
}

type ExitInfo = { code: number | null; signal: string | null; reason: string | undefined };

export class EnvironmentController extends EventEmitter<EnvironmentEvents> {
  private readonly activity: EnvironmentContext["activity"];
  private readonly tasks: EnvironmentContext["tasks"];
  private readonly log: Logger;
  private readonly console: (text: string) => void;
  private readonly state: EnvironmentContext["state"];
  private readonly writeInBackground: EnvironmentContext["writeInBackground"];
  phase: EnvPhase = "closed";
  private worker: WorkerProcess | undefined;
  private mainReady: { content: EnvironmentContent; metadata: Record<string, unknown> } | undefined;
  private readonly pool = new Map<string, PoolMember>();
  /** Scripts loaded into the environment since it opened (replayed into a new pool worker). */
  private scripts: { script: string; updateLists: boolean }[] = [];
  /** The main worker is gone: what to do once the rest of the pool has exited too. */
  private afterPool: (() => void) | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  content: EnvironmentContent = { plans_existing: {}, devices_existing: {}, functions: [] };
  /** Bumped whenever `taskWorkers()` may answer otherwise. */
  private workersChanged = 0;
  /** Set while the worker is being replaced: why (completes "replaced ..."). */
  private replacing: string | undefined;

  constructor(
    private readonly opts: EnvironmentOptions,
    ctx: EnvironmentContext,
  ) {
    super();
    this.activity = ctx.activity;
    this.tasks = ctx.tasks;
    this.log = ctx.log;
    this.console = (text) => ctx.console(text);
    this.state = ctx.state;
    this.writeInBackground = (ops) => ctx.writeInBackground(ops);
  }

  /** The lists kept in the store (at start): the lists until a worker reports others. */
  restore(content: EnvironmentContent): void {
    this.content = content;
  }

  get exists(): boolean {
    return this.phase === "open" || this.phase === "closing" || this.phase === "destroying";
  }

  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  /** The id of the main worker process (a task record names the worker that ran it). */
  get workerId(): string | undefined {
    return this.worker?.opts.id;
  }

  /** Pids of every worker process alive (main first). */
  get workerPids(): number[] {
    const all = [this.worker, ...[...this.pool.values()].map((p) => p.proc)];
    return all.flatMap((w) => (w?.alive && w.pid !== undefined ? [w.pid] : []));
  }

  /** Every worker process alive (main first): its id and pid. */
  localWorkers(): { id: string; pid: number | undefined; main: boolean }[] {
    const out: { id: string; pid: number | undefined; main: boolean }[] = [];
    if (this.worker?.alive) out.push({ id: this.worker.opts.id, pid: this.worker.pid, main: true });
    for (const [id, p] of this.pool)
      if (p.proc.alive) out.push({ id, pid: p.proc.pid, main: false });
    return out;
  }

  /** The pid of the worker process with this id, while it is alive. */
  pidOf(id: string): number | undefined {
    if (this.worker?.opts.id === id) return this.worker.pid;
    return this.pool.get(id)?.proc.pid;
  }

  /** A number that changes whenever `taskWorkers()` may answer otherwise. */
  get taskWorkersVersion(): number {
    return this.workersChanged;
  }

  /** The workers that may take tasks now: none unless the environment is open. */
  taskWorkers(): TaskWorker[] {
    const id = this.worker?.opts.id;
    if (this.phase !== "open" || id === undefined) return [];
    const list: TaskWorker[] = [{ id, main: true }];
    for (const [pid, p] of this.pool)
      if (p.ready && p.replacing === undefined) list.push({ id: pid, main: false });
    return list;
  }

  /**
   * End a worker the hard way and start a new one, so that the user keeps a
   * working environment: used when a cancelled or timed-out task does not
   * stop. `why` completes "the worker process was replaced ...". The tasks
   * running in it fail with a message saying so. The main worker (also when
   * `workerId` is not given) takes the environment with it and is re-opened
   * with its pool; another worker of the pool is replaced alone.
   */
  replace(why: string, workerId?: string | null): void {
    if (!this.worker || this.phase !== "open") return;
    const member = workerId ? this.pool.get(workerId) : undefined;
    if (member) {
      if (member.replacing !== undefined) return;
      member.replacing = why;
      this.workersChanged++;
      this.log.warn(`Replacing the worker process ${member.proc.pid ?? "?"} ${why}`);
      member.proc.kill("SIGKILL", `the worker process was replaced ${why}`);
      return;
    }
    if (this.replacing !== undefined) return;
    this.replacing = why;
    this.log.warn(`Replacing the worker process ${why}`);
    this.worker.kill("SIGKILL", `the worker process was replaced ${why}`);
  }

  /** Send to the main worker. */
  send(msg: ManagerToWorker): boolean {
    return this.worker?.send(msg) ?? false;
  }

  /** Send to the worker with this id (the main one when it is not found). */
  sendTo(workerId: string | null | undefined, msg: ManagerToWorker): boolean {
    const member = workerId ? this.pool.get(workerId) : undefined;
    return member ? member.proc.send(msg) : this.send(msg);
  }

  /** Send to the worker with this id only (false when it is gone). */
  sendToOnly(workerId: string, msg: ManagerToWorker): boolean {
    if (this.worker?.opts.id === workerId) return this.worker.send(msg);
    const member = this.pool.get(workerId);
    return member ? member.proc.send(msg) : false;
  }

  /** Load a script into the main worker (the task `id`) and into every other worker. */
  sendScript(id: string, script: string, updateLists: boolean, background: boolean): boolean {
    this.scripts.push({ script, updateLists });
    for (const [pid, p] of this.pool) {
      // The other workers' copies are not tasks: their reports carry an id no task has.
      p.proc.send({
        type: "script",
        id: `${id}/${pid}`,
        script,
        updateLists: false,
        background: true,
      });
    }
    return this.send({ type: "script", id, script, updateLists, background });
  }

  open(): void {
    this.phase = "opening";
    this.workersChanged++;
    this.activity.begin("creating_environment");
    this.mainReady = undefined;
    this.scripts = [];
    const w = this.fork();
    this.worker = w;
    this.workersChanged++;
    w.on("message", (m) => this.onMessage(w, m));
    w.on("exit", (e) => this.onExit(w, e));
    w.start();
    for (let i = 1; i < this.opts.workers; i++) this.startPoolMember();
    this.emit("opening");
    this.log.info(
      `Opening the worker environment (pid ${w.pid ?? "?"}` +
        (this.opts.workers > 1 ? `, ${this.opts.workers} worker processes` : "") +
        ")",
    );
  }

  private fork(): WorkerProcess {
    const w = new WorkerProcess({
      id: randomUUID(),
      startupDir: this.opts.startupDir,
      startupModule: this.opts.startupModule,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
      slots: this.opts.workerSlots ?? Infinity,
    });
    const limit = new ConsoleLimit(
      this.opts.consoleLimit ?? { rate: DEFAULT_CONSOLE_RATE, burst: DEFAULT_CONSOLE_BURST },
      (t) => this.console(t),
    );
    w.on("output", (t) => limit.write(t));
    w.on("exit", () => limit.close());
    return w;
  }

  private startPoolMember(): void {
    const w = this.fork();
    const member: PoolMember = { proc: w, ready: false, replacing: undefined };
    this.pool.set(w.opts.id, member);
    w.on("message", (m) => this.onPoolMessage(member, m));
    w.on("exit", (e) => this.onPoolExit(member, e));
    w.start();
  }

  close(): void {
    if (!this.worker) return;
    this.phase = "closing";
    this.workersChanged++;
    this.activity.begin("closing_environment", { worker_environment_state: "closing" });
    const all = [this.worker, ...[...this.pool.values()].map((p) => p.proc)];
    for (const w of all) w.send({ type: "close" });
    this.closeTimer = setTimeout(() => {
      for (const w of all) w.kill("SIGKILL", "the worker did not exit after it was asked to close");
    }, this.opts.closeTimeoutMs);
    this.closeTimer.unref();
  }

  destroy(): void {
    if (!this.worker) return;
    this.phase = "destroying";
    this.workersChanged++;
    this.activity.begin("destroying_environment");
    this.killPool("the environment was destroyed");
    this.worker.kill("SIGKILL", "the environment was destroyed");
  }

  /** Kill the workers at shutdown. */
  shutdown(): void {
    this.killPool("the manager is stopping");
    this.worker?.kill("SIGKILL", "the manager is stopping");
  }

  private killPool(reason: string): void {
    for (const p of this.pool.values()) p.proc.kill("SIGKILL", reason);
  }

  private onMessage(w: WorkerProcess, m: WorkerToManager): void {
    if (w !== this.worker) return;
    switch (m.type) {
      case "ready":
        this.mainReady = { content: m.content, metadata: m.metadata };
        this.maybeOpen();
        break;
      case "re_state":
      case "re_runs":
      case "plan_done":
      case "control_reply":
        this.emit("plan-message", m);
        break;
      case "load_failed":
        this.log.error(`${m.msg}\n${m.traceback}`);
        w.kill("SIGKILL", m.msg);
        break;
      case "task_started":
      case "task_progress":
      case "subtask":
        this.emit("task-message", w.opts.id, m);
        break;
      case "task_done":
        if (m.content) this.setContent(m.content);
        this.emit("task-message", w.opts.id, m);
        break;
    }
  }

  private onPoolMessage(member: PoolMember, m: WorkerToManager): void {
    const id = member.proc.opts.id;
    if (this.pool.get(id) !== member) return;
    switch (m.type) {
      case "ready":
        // A replacement first loads the scripts uploaded since the environment opened.
        for (const [i, s] of this.scripts.entries()) {
          member.proc.send({
            type: "script",
            id: `replay-${i}/${id}`,
            script: s.script,
            updateLists: false,
            background: true,
          });
        }
        member.ready = true;
        this.workersChanged++;
        if (this.phase === "opening") this.maybeOpen();
        else if (this.phase === "open") {
          this.log.info(`Worker process ${member.proc.pid ?? "?"} joined the pool`);
          this.emit("pool-worker-joined");
        }
        break;
      case "load_failed":
        this.log.error(`${m.msg}\n${m.traceback}`);
        member.proc.kill("SIGKILL", m.msg);
        break;
      case "task_started":
      case "task_progress":
      case "task_done":
      case "subtask":
        this.emit("task-message", id, m);
        break;
      default:
        break;
    }
  }

  /** Open once the main worker and every other worker are ready. */
  private maybeOpen(): void {
    if (this.phase !== "opening" || !this.mainReady) return;
    for (const p of this.pool.values()) if (!p.ready) return;
    const { content, metadata } = this.mainReady;
    this.phase = "open";
    this.workersChanged++;
    this.setContent(content);
    this.activity.end({
      worker_environment_exists: true,
      worker_environment_state: "idle",
      re_state: "idle",
      ip_kernel_state: "disabled",
      ip_kernel_captured: true,
    });
    this.log.info(
      `The worker environment is open${this.opts.workers > 1 ? ` (${this.opts.workers} worker processes)` : ""}`,
    );
    // A manager taking the store over (--standby) opens the environment when it was open.
    this.writeInBackground([{ op: "set", key: "environment_open", value: true }]);
    this.emit("ready", metadata);
  }

  /** Resolves when the open under way ends: the environment is open, or it failed to open. */
  whenOpenEnds(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.off("ready", done);
        this.off("worker-gone", done);
        resolve();
      };
      this.on("ready", done);
      this.on("worker-gone", done);
    });
  }

  /**
   * Lists found without an environment (read from the startup code at start):
   * the lists until a worker of an environment reports its own.
   */
  adoptContent(c: EnvironmentContent, fingerprint: string): void {
    this.setContent(c, [{ op: "set", key: "startup_fingerprint", value: fingerprint }]);
  }

  /** New lists: kept, stored (with `also`), their markers bumped, and told. */
  private setContent(c: EnvironmentContent, also: StoreOp[] = []): void {
    this.content = c;
    this.writeInBackground([{ op: "set", key: "environment_content", value: c }, ...also]);
    this.state.bump("plans_existing_uid", "devices_existing_uid");
    this.emit("content", c);
  }

  private onPoolExit(member: PoolMember, e: ExitInfo): void {
    const id = member.proc.opts.id;
    if (this.pool.get(id) !== member) return;
    this.pool.delete(id);
    this.workersChanged++;
    const how = e.signal ? `signal ${e.signal}` : `exit code ${String(e.code)}`;
    if (this.afterPool) {
      // The main worker is gone already (its exit ended the tasks): wait for the last one.
      if (this.pool.size === 0) {
        const next = this.afterPool;
        this.afterPool = undefined;
        next();
      }
      return;
    }
    const phase = this.phase;
    if (phase === "opening") {
      // One worker of the pool could not start: the environment does not open.
      this.worker?.kill("SIGKILL", e.reason ?? `a worker process of the pool exited (${how})`);
      return;
    }
    const msg =
      member.replacing !== undefined
        ? `The task was lost: the worker process it ran in was replaced ${member.replacing} (a new worker process takes its place)`
        : phase === "destroying"
          ? "The task was stopped: the RE Worker environment was destroyed"
          : phase === "closing"
            ? "The task was stopped: the RE Worker environment was closed"
            : `The worker process was lost (${e.reason ?? how}) while the task was running`;
    this.emit("pool-worker-lost", id, msg);
    if (phase === "open") {
      if (member.replacing !== undefined) {
        this.log.warn(
          `The worker process ${member.proc.pid ?? "?"} was replaced ${member.replacing}`,
        );
      } else {
        this.log.error(
          `A worker process of the pool was lost (${e.reason ?? how}): starting a new one`,
        );
      }
      this.startPoolMember();
    }
  }

  private onExit(w: WorkerProcess, e: ExitInfo): void {
    if (w !== this.worker) return;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    const phase = this.phase;
    const replaced = phase === "open" ? this.replacing : undefined;
    this.replacing = undefined;
    this.worker = undefined;
    this.workersChanged++;
    this.mainReady = undefined;
    const how = e.signal ? `signal ${e.signal}` : `exit code ${String(e.code)}`;
    const ended = (what: "task" | "plan"): string =>
      replaced !== undefined
        ? `The ${what} was lost: the worker process it ran in was replaced ${replaced} (the environment is re-opened automatically)`
        : phase === "destroying"
          ? `The ${what} was stopped: the RE Worker environment was destroyed`
          : phase === "closing"
            ? `The ${what} was stopped: the RE Worker environment was closed`
            : `The worker process was lost (${e.reason ?? how}) while the ${what} was running`;
    // The pool goes with the main worker; the environment is closed once every process has exited.
    const pooled = this.pool.size > 0;
    if (pooled) {
      this.phase = phase === "closing" ? "closing" : "destroying";
      this.workersChanged++;
      this.killPool(
        phase === "closing" || phase === "destroying"
          ? (e.reason ?? "the environment was closed")
          : `the main worker process is gone (${e.reason ?? how})`,
      );
    }
    // Only the tasks of this host's processes: those of workers on other hosts go on.
    const local = new Set([w.opts.id, ...this.pool.keys()]);
    this.tasks.workersLost([...local], ended("task"));
    this.writeInBackground([{ op: "set", key: "environment_open", value: false }]);
    this.emit("lost", ended("plan"));
    this.emit(
      "worker-gone",
      replaced !== undefined,
      phase === "destroying"
        ? "the RE Worker environment was destroyed"
        : phase === "closing"
          ? "the RE Worker environment was closed"
          : `the worker process was lost (${e.reason ?? how})`,
    );
    const closed = (): void => {
      this.phase = "closed";
      this.workersChanged++;
      this.scripts = [];
      if (replaced !== undefined) {
        this.log.warn(`The worker process was replaced ${replaced}: re-opening the environment`);
      } else if (phase === "opening") {
        this.log.error(`The worker environment failed to open (${e.reason ?? how})`);
      } else if (phase === "open") {
        this.log.error(`The worker process was lost (${e.reason ?? how})`);
      } else {
        this.log.info(`The worker environment is closed (${how})`);
      }
      this.activity.end({
        worker_environment_exists: false,
        worker_environment_state: "closed",
        re_state: null,
        ip_kernel_state: null,
        ip_kernel_captured: null,
      });
      if (replaced !== undefined) this.open();
    };
    if (pooled) this.afterPool = closed;
    else closed();
  }
}
