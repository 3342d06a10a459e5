/**
 * One worker process: fork, IPC, heartbeats (fd 3), output capture, exit.
 * The host side of a worker, shared by the manager (its environment) and the
 * agent of `zqs worker` (src/remote-worker/): neither owns it, both fork with it.
 * Death is noticed from the exit event at once; a process that stops beating
 * (stopped, wedged in native code) is killed after the heartbeat timeout.
 */
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";
import type { ManagerToWorker, WorkerToManager } from "../protocol/ipc.js";
import { HEARTBEAT_FD, IpcBatcher, unbatch, WORKER_ENV } from "../protocol/ipc.js";

const WORKER_MAIN = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "worker",
  "main.js",
);

/**
 * Loaded first in the worker: its stdout and stderr pipes block on write, as
 * a terminal or a file does. Node leaves pipes asynchronous on Linux, so user
 * code printing in a loop queued without bound in the worker (gigabytes "written"
 * in seconds, then minutes of backlog after the task had ended); blocking,
 * the writer goes at the pace the manager reads, and output stays in order
 * with the task's end. Heartbeats have their own thread and fd, so a blocked
 * write never looks like a hung worker.
 */
const BLOCKING_STDIO = `data:text/javascript,${encodeURIComponent(
  "for (const s of [process.stdout, process.stderr]) s._handle?.setBlocking?.(true);",
)}`;

/**
 * How long a new worker may take to send its first heartbeat. A process (and its
 * heartbeat thread) can take over a second to boot on a busy machine; the
 * heartbeat timeout counts from the first beat.
 */
const FIRST_HEARTBEAT_MS = 15_000;

/** Worker output (stdout and stderr together) the manager takes per second, at most. */
export const OUTPUT_BYTES_PER_SECOND = 8 * 1024 * 1024;
const OUTPUT_WINDOW_MS = 100;

/**
 * Reads a worker's output at a bounded rate: past the budget of a window the
 * pipes are paused until the window ends. The worker's writes block meanwhile
 * (BLOCKING_STDIO), so nothing is lost and nothing piles up: a worker that
 * prints in a tight loop is slowed down instead of taking the manager's time.
 */
export class OutputThrottle {
  private windowStart = Date.now();
  private used = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly streams: Readable[],
    private readonly bytesPerSecond: number,
  ) {}

  take(n: number): void {
    const now = Date.now();
    if (now - this.windowStart >= OUTPUT_WINDOW_MS) {
      this.windowStart = now;
      this.used = 0;
    }
    this.used += n;
    if (this.timer || this.used < (this.bytesPerSecond * OUTPUT_WINDOW_MS) / 1000) return;
    for (const s of this.streams) s.pause();
    this.timer = setTimeout(() => this.resume(), this.windowStart + OUTPUT_WINDOW_MS - now);
  }

  /** Read on (also at exit, so that the last output arrives). */
  resume(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.windowStart = Date.now();
    this.used = 0;
    for (const s of this.streams) s.resume();
  }
}

export interface WorkerProcessOptions {
  id: string;
  startupDir?: string | undefined;
  startupModule?: string | undefined;
  /** Milliseconds without a heartbeat before the worker counts as lost. */
  heartbeatTimeoutMs: number;
  /** Function tasks it runs at once; those beyond wait in it (Infinity: no limit). */
  slots?: number;
}

export interface WorkerProcessEvents {
  message: [WorkerToManager];
  output: [string];
  /** The process is gone: exit code or signal, or why it was killed. */
  exit: [{ code: number | null; signal: string | null; reason: string | undefined }];
}

export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  private child: ChildProcess | undefined;
  private outbox: IpcBatcher<ManagerToWorker> | undefined;
  private lastBeat = Date.now();
  /** A first heartbeat came (the heartbeat thread runs; before it, the start-up allowance applies). */
  private beating = false;
  private watchdog: NodeJS.Timeout | undefined;
  private killReason: string | undefined;
  private exited = false;
  /** Bytes read from the worker's stdout and stderr together. */
  private outputRead = 0;
  /** Messages waiting for the output written before them (see receive). */
  private held: WorkerToManager[] = [];

  /** The worker's directory of uploaded scripts (while it runs). */
  private uploadDir: string | undefined;

  constructor(readonly opts: WorkerProcessOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.child !== undefined && !this.exited;
  }

  start(): void {
    // Where the worker writes uploaded scripts: made and removed here, so that
    // it goes with the worker however the worker ends (kill -9 included).
    this.uploadDir = mkdtempSync(path.join(os.tmpdir(), "zqs-scripts-"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [WORKER_ENV.workerId]: this.opts.id,
      [WORKER_ENV.uploadDir]: this.uploadDir,
    };
    if (this.opts.startupDir) env[WORKER_ENV.startupDir] = path.resolve(this.opts.startupDir);
    if (this.opts.startupModule) env[WORKER_ENV.startupModule] = this.opts.startupModule;
    const slots = this.opts.slots ?? Infinity;
    if (Number.isFinite(slots)) env[WORKER_ENV.slots] = String(slots);
    const child = fork(WORKER_MAIN, [], {
      env,
      stdio: ["ignore", "pipe", "pipe", "pipe", "ipc"],
      execArgv: [...process.execArgv, "--import", BLOCKING_STDIO],
      serialization: "advanced",
    });
    this.child = child;
    this.lastBeat = Date.now();
    child.on("message", (m) => unbatch<WorkerToManager>(m, (msg) => this.receive(msg)));
    this.outbox = new IpcBatcher<ManagerToWorker>((batch) => {
      if (child.connected)
        child.send(batch, (err) => err && this.emit("output", `IPC: ${err.message}\n`));
    });
    const outputs = [child.stdout, child.stderr].filter((x): x is Readable => x !== null);
    const throttle = new OutputThrottle(outputs, OUTPUT_BYTES_PER_SECOND);
    for (const stream of outputs) {
      // Bytes are counted as read (messages wait for them); text is decoded per stream.
      const decoder = new StringDecoder("utf8");
      stream.on("data", (b: Buffer) => {
        throttle.take(b.length);
        this.outputRead += b.length;
        const t = decoder.write(b);
        if (t !== "") this.emit("output", t);
        this.release();
      });
    }
    const beats = child.stdio[HEARTBEAT_FD] as Readable | null;
    beats?.on("data", () => {
      this.lastBeat = Date.now();
      this.beating = true;
    });
    beats?.on("error", () => undefined);
    child.on("error", (err) => this.emit("output", `Worker process error: ${err.message}\n`));
    child.on("exit", (code, signal) => {
      this.exited = true;
      this.removeUploads();
      // What it said last goes out before its exit, output read or not.
      this.release(true);
      if (this.watchdog) clearInterval(this.watchdog);
      throttle.resume();
      this.emit("exit", { code, signal, reason: this.killReason });
    });
    const check = Math.max(50, Math.floor(this.opts.heartbeatTimeoutMs / 4));
    /** Why the worker counts as lost now, or undefined while it beats in time. */
    const lost = (): string | undefined => {
      const since = Date.now() - this.lastBeat;
      if (this.beating) {
        return since > this.opts.heartbeatTimeoutMs
          ? `the worker stopped answering heartbeats for ${this.opts.heartbeatTimeoutMs} ms`
          : undefined;
      }
      return since > FIRST_HEARTBEAT_MS
        ? `the worker sent no heartbeat within ${FIRST_HEARTBEAT_MS} ms of its start`
        : undefined;
    };
    this.watchdog = setInterval(() => {
      // Timers run before the loop reads its pipes: when the manager itself was
      // busy, beats may be waiting unread. Decide after this turn's reads
      // (setImmediate runs after the poll phase), so only the worker's silence counts.
      if (lost() === undefined) return;
      setImmediate(() => {
        const reason = lost();
        if (reason !== undefined) this.kill("SIGKILL", reason);
      });
    }, check);
    this.watchdog.unref();
  }

  /**
   * A message from the worker. One that says how much output came before it
   * (`out`) waits until that much has been read from the pipes, and the
   * messages after it wait behind it: a task's lines are published before its end.
   */
  private receive(msg: WorkerToManager): void {
    if (this.held.length === 0 && !this.mustWait(msg)) {
      this.emit("message", msg);
      return;
    }
    this.held.push(msg);
  }

  private mustWait(msg: WorkerToManager): boolean {
    return "out" in msg && msg.out !== undefined && msg.out > this.outputRead;
  }

  /** Send on the held messages whose output has been read (all of them: `all`). */
  private release(all = false): void {
    while (this.held.length > 0) {
      const msg = this.held[0] as WorkerToManager;
      if (!all && this.mustWait(msg)) return;
      this.held.shift();
      this.emit("message", msg);
    }
  }

  send(msg: ManagerToWorker): boolean {
    if (!this.child || this.exited || !this.child.connected || !this.outbox) return false;
    this.outbox.push(msg);
    return true;
  }

  kill(signal: NodeJS.Signals, reason: string): void {
    if (!this.child || this.exited) return;
    this.killReason ??= reason;
    if (signal === "SIGKILL" && this.watchdog) clearInterval(this.watchdog);
    this.child.kill(signal);
    // Gone with the worker (the manager may exit before it hears the exit).
    if (signal === "SIGKILL") this.removeUploads();
  }

  private removeUploads(): void {
    if (this.uploadDir) rmSync(this.uploadDir, { recursive: true, force: true });
    this.uploadDir = undefined;
  }
}
