/**
 * The worker environment: open (fork and load), close (ask to finish), destroy
 * (kill, also when hung), and what it found (plans, devices, functions).
 * Open/close/destroy only start the operation; status tells the rest.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { EnvironmentContent, ManagerToWorker, WorkerToManager } from "../protocol/ipc.js";

type PlanMessage = Extract<
  WorkerToManager,
  { type: "re_state" | "re_runs" | "plan_done" | "control_reply" }
>;
export type TaskMessage = Extract<
  WorkerToManager,
  { type: "task_started" | "task_progress" | "task_done" }
>;
import type { StatusState } from "./state.js";
import { WorkerProcess } from "./supervisor.js";
import type { TaskRegistry } from "./tasks.js";

export type EnvPhase = "closed" | "opening" | "open" | "closing" | "destroying";

export interface EnvironmentOptions {
  startupDir: string | undefined;
  startupModule: string | undefined;
  heartbeatTimeoutMs: number;
  /** How long `close` waits for the worker to exit before killing it. */
  closeTimeoutMs: number;
}

export class EnvironmentController {
  phase: EnvPhase = "closed";
  private worker: WorkerProcess | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  content: EnvironmentContent = { plans_existing: {}, devices_existing: {}, functions: [] };
  /** Called when the lists of plans/devices change. */
  onContent: ((c: EnvironmentContent) => void) | undefined;
  /** Called when the environment is open and ready. */
  onReady: ((metadata: Record<string, unknown>) => void) | undefined;
  /** Messages about plans (run engine state, runs, plan ends, control replies). */
  onPlanMessage: ((m: PlanMessage) => void) | undefined;
  /** Called when the worker is gone, with the reason running work failed. */
  onLost: ((reason: string) => void) | undefined;
  /** Messages about tasks (started, progress, done), with the id of the worker that sent them. */
  onTaskMessage: ((workerId: string, m: TaskMessage) => void) | undefined;
  /**
   * Called when the worker is gone, after its running tasks were ended:
   * `reopening` when it was replaced and a new one is being opened.
   */
  onWorkerGone: ((reopening: boolean, reason: string) => void) | undefined;
  /** Set while the worker is being replaced: why (completes "replaced ..."). */
  private replacing: string | undefined;

  constructor(
    private readonly opts: EnvironmentOptions,
    private readonly state: StatusState,
    private readonly tasks: TaskRegistry,
    private readonly log: Logger,
    private readonly console: (text: string) => void,
  ) {}

  get exists(): boolean {
    return this.phase === "open" || this.phase === "closing" || this.phase === "destroying";
  }

  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  /** The id of the worker process (a task record names the worker that ran it). */
  get workerId(): string | undefined {
    return this.worker?.opts.id;
  }

  /**
   * End the worker the hard way and open a new one, so that the user keeps a
   * working environment: used when a cancelled or timed-out task does not
   * stop. `why` completes "the worker process was replaced ...". The tasks and
   * plan running in it fail with a message saying so.
   */
  replace(why: string): void {
    if (!this.worker || this.phase !== "open" || this.replacing !== undefined) return;
    this.replacing = why;
    this.log.warn(`Replacing the worker process ${why}`);
    this.worker.kill("SIGKILL", `the worker process was replaced ${why}`);
  }

  send(msg: ManagerToWorker): boolean {
    return this.worker?.send(msg) ?? false;
  }

  open(): void {
    this.phase = "opening";
    this.state.set({ manager_state: "creating_environment" });
    const w = new WorkerProcess({
      id: randomUUID(),
      startupDir: this.opts.startupDir,
      startupModule: this.opts.startupModule,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
    });
    this.worker = w;
    w.on("output", (t) => this.console(t));
    w.on("message", (m) => this.onMessage(w, m));
    w.on("exit", (e) => this.onExit(w, e));
    w.start();
    this.log.info(`Opening the worker environment (pid ${w.pid ?? "?"})`);
  }

  close(): void {
    if (!this.worker) return;
    this.phase = "closing";
    this.state.set({ manager_state: "closing_environment", worker_environment_state: "closing" });
    this.worker.send({ type: "close" });
    const w = this.worker;
    this.closeTimer = setTimeout(
      () => w.kill("SIGKILL", "the worker did not exit after it was asked to close"),
      this.opts.closeTimeoutMs,
    );
    this.closeTimer.unref();
  }

  destroy(): void {
    if (!this.worker) return;
    this.phase = "destroying";
    this.state.set({ manager_state: "destroying_environment" });
    this.worker.kill("SIGKILL", "the environment was destroyed");
  }

  /** Kill the worker at shutdown. */
  shutdown(): void {
    this.worker?.kill("SIGKILL", "the manager is stopping");
  }

  private onMessage(w: WorkerProcess, m: WorkerToManager): void {
    if (w !== this.worker) return;
    switch (m.type) {
      case "ready":
        this.phase = "open";
        this.setContent(m.content);
        this.state.set({
          manager_state: "idle",
          worker_environment_exists: true,
          worker_environment_state: "idle",
          re_state: "idle",
          ip_kernel_state: "disabled",
          ip_kernel_captured: true,
        });
        this.log.info("The worker environment is open");
        this.onReady?.(m.metadata);
        break;
      case "re_state":
      case "re_runs":
      case "plan_done":
      case "control_reply":
        this.onPlanMessage?.(m);
        break;
      case "load_failed":
        this.log.error(`${m.msg}\n${m.traceback}`);
        w.kill("SIGKILL", m.msg);
        break;
      case "task_started":
      case "task_progress":
        this.onTaskMessage?.(w.opts.id, m);
        break;
      case "task_done":
        if (m.content) this.setContent(m.content);
        this.onTaskMessage?.(w.opts.id, m);
        break;
    }
  }

  private setContent(c: EnvironmentContent): void {
    this.content = c;
    this.onContent?.(c);
  }

  private onExit(
    w: WorkerProcess,
    e: { code: number | null; signal: string | null; reason: string | undefined },
  ): void {
    if (w !== this.worker) return;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    const phase = this.phase;
    const replaced = phase === "open" ? this.replacing : undefined;
    this.replacing = undefined;
    this.worker = undefined;
    this.phase = "closed";
    const how = e.signal ? `signal ${e.signal}` : `exit code ${String(e.code)}`;
    const ended = (what: "task" | "plan"): string =>
      replaced !== undefined
        ? `The ${what} was lost: the worker process it ran in was replaced ${replaced} (the environment is re-opened automatically)`
        : phase === "destroying"
          ? `The ${what} was stopped: the RE Worker environment was destroyed`
          : phase === "closing"
            ? `The ${what} was stopped: the RE Worker environment was closed`
            : `The worker process was lost (${e.reason ?? how}) while the ${what} was running`;
    this.tasks.failRunning(ended("task"));
    this.onLost?.(ended("plan"));
    this.onWorkerGone?.(
      replaced !== undefined,
      phase === "destroying"
        ? "the RE Worker environment was destroyed"
        : phase === "closing"
          ? "the RE Worker environment was closed"
          : `the worker process was lost (${e.reason ?? how})`,
    );
    if (replaced !== undefined) {
      this.log.warn(`The worker process was replaced ${replaced}: re-opening the environment`);
    } else if (phase === "opening") {
      this.log.error(`The worker environment failed to open (${e.reason ?? how})`);
    } else if (phase === "open") {
      this.log.error(`The worker process was lost (${e.reason ?? how})`);
    } else {
      this.log.info(`The worker environment is closed (${how})`);
    }
    this.state.set({
      manager_state: "idle",
      worker_environment_exists: false,
      worker_environment_state: "closed",
      re_state: null,
      ip_kernel_state: null,
      ip_kernel_captured: null,
    });
    if (replaced !== undefined) this.open();
  }
}
