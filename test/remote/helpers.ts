/**
 * Workers on other hosts, on loopback: a manager with a worker socket and
 * `zqs worker` processes, each in its own temporary folder with its own copy
 * of the startup code (as on another host).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { RunningManager } from "../helpers/manager.js";
import {
  BRISK_INFO_INTERVAL,
  CLI,
  freePort,
  InfoListener,
  RawClient,
  startManager,
  waitUntil,
} from "../helpers/manager.js";
import { WORKER_API } from "../helpers/paths.js";
import { gateModule, writeStartup } from "../helpers/startup.js";
import { openEnvironment } from "../helpers/tasks.js";

/** The startup code every test worker has. */
export const REMOTE_STARTUP = `
import { context, sleep } from ${JSON.stringify(WORKER_API)};

/** The pid of the agent (\`zqs worker\`) whose process ran it. */
export function agent_pid() {
  return process.ppid;
}

/** Reports progress 50 and an output, then returns its agent's pid. */
export async function report(x) {
  context().progress(50);
  context().output("x", x);
  console.log("report says " + x);
  return { agent: process.ppid, x };
}

/** CPU-bound and deaf to its signal: spins for \`seconds\`. */
export function spin(seconds) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    // busy
  }
  return process.ppid;
}
`;

export interface WorkerRow {
  name: string;
  kind: string;
  hostname: string;
  pid: number | null;
  slots: number;
  busy: number;
  tags: string[];
  state: string;
  connected_at: string | null;
  last_seen: string | null;
  tasks_done: number;
  tasks_failed: number;
}

export interface RunningWorker {
  name: string;
  proc: ChildProcess;
  dir: string;
  output(): string;
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export interface WorkerStart {
  name: string;
  slots?: number;
  tags?: string[];
  /** Extra startup files (name → source) beside REMOTE_STARTUP and the gate. */
  extra?: Record<string, string>;
  /** Leave out the common startup (only `extra`). */
  only?: boolean;
  args?: string[];
  /** Environment variables beside the test's own. */
  env?: Record<string, string>;
}

/** Start `zqs worker` in its own temp folder with its own copy of the startup code. */
export function startWorker(addr: string, o: WorkerStart): RunningWorker {
  const dir = mkdtempSync(path.join(os.tmpdir(), `zqs-worker-${o.name}-`));
  const files: Record<string, string> = o.only
    ? { ...o.extra }
    : { "10-remote.mjs": REMOTE_STARTUP, "20-gate.mjs": gateModule(), ...o.extra };
  const startup = writeStartup(path.join(dir, "startup"), files);
  const args = [
    CLI,
    "worker",
    "--connect",
    addr,
    "--startup-dir",
    startup,
    "--name",
    o.name,
    "--slots",
    String(o.slots ?? 1),
    ...(o.tags ? ["--tags", o.tags.join(",")] : []),
    ...(o.args ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    name: o.name,
    proc,
    dir,
    output: () => out,
    exited,
    async kill9() {
      if (alive()) proc.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (alive()) {
        // SIGCONT first: a stopped worker does not act on SIGKILL's cleanup otherwise.
        proc.kill("SIGCONT");
        proc.kill("SIGKILL");
      }
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A manager with a worker socket (and `--workers 0` unless `args` say otherwise). */
export async function startRemoteManager(
  opts: {
    args?: string[];
    workerPort?: number;
    storePath?: string;
    env?: Record<string, string>;
  } = {},
): Promise<{ m: RunningManager; workerAddr: string }> {
  const port = opts.workerPort ?? (await freePort());
  const workerAddr = `tcp://127.0.0.1:${port}`;
  const m = await startManager({
    infoInterval: BRISK_INFO_INTERVAL,
    ...(opts.env ? { env: opts.env } : {}),
    startup: { "10-remote.mjs": REMOTE_STARTUP, "20-gate.mjs": gateModule() },
    args: [
      "--zmq-worker-addr",
      workerAddr,
      "--workers",
      "0",
      ...(opts.storePath ? ["--store-path", opts.storePath] : []),
      ...(opts.args ?? []),
    ],
  });
  return { m, workerAddr };
}

export async function workersList(c: RawClient): Promise<WorkerRow[]> {
  const r = await c.request("workers_list");
  if (r.success !== true) throw new Error(`workers_list failed: ${String(r.msg)}`);
  return r.workers as WorkerRow[];
}

/** Wait until the named remote worker is in `state` (default online); returns its row. */
export async function waitWorker(
  c: RawClient,
  name: string,
  pred: (w: WorkerRow) => boolean = (w) => w.state === "online",
): Promise<WorkerRow> {
  return waitUntil(async () => (await workersList(c)).find((w) => w.name === name && pred(w)));
}

/** A manager with a worker socket, a client, a QS_Task listener and its environment open. */
export interface RemoteSetup {
  m: RunningManager;
  c: RawClient;
  addr: string;
  events: InfoListener;
}

/**
 * Start a RemoteSetup; `later` is handed what undoes it (run in reverse order
 * after the test, or after the tests that share it).
 */
export async function setupRemote(
  later: (undo: () => Promise<unknown> | void) => void,
  opts: { args?: string[]; storePath?: string; workerPort?: number; topics?: string[] } = {},
): Promise<RemoteSetup> {
  const { m, workerAddr } = await startRemoteManager(opts);
  later(() => m.stop());
  const c = new RawClient(m.controlAddr);
  later(() => c.close());
  const events = await new InfoListener(m.infoAddr, opts.topics ?? ["QS_Task"]).ready();
  later(() => events.close());
  await openEnvironment(c);
  return { m, c, addr: workerAddr, events };
}

/**
 * One RemoteSetup for the tests of a describe block (starting one per test
 * was most of their time). The workers a test starts with `worker()` leave
 * after it (SIGTERM: they drain and say goodbye), and the next test begins
 * once the manager no longer counts them online, so that no task of a later
 * test goes to them. Tests that share it give their workers names of their
 * own and read events by worker name or task.
 */
export function useRemoteManager(args: string[] = []): RemoteSetup & {
  /** A worker of the test, connected to the manager's worker socket or to `via` (a relay). */
  worker(o: WorkerStart, via?: string): RunningWorker;
} {
  let setup: RemoteSetup | undefined;
  const undo: (() => Promise<unknown> | void)[] = [];
  const workers: RunningWorker[] = [];
  beforeAll(async () => {
    setup = await setupRemote((f) => undo.push(f), { args });
  });
  afterEach(async () => {
    const gone = workers.splice(0);
    for (const w of gone) {
      if (w.proc.exitCode === null && w.proc.signalCode === null) {
        w.proc.kill("SIGCONT");
        w.proc.kill("SIGTERM");
      }
    }
    // A worker that does not leave (one stuck in a task) is killed, then found lost.
    await waitUntil(
      () => gone.every((w) => w.proc.exitCode !== null || w.proc.signalCode !== null),
      30_000,
    ).catch(() => undefined);
    for (const w of gone) await w.stop();
    const c = shared().c;
    const pids = new Set(gone.map((w) => w.proc.pid));
    await waitUntil(async () =>
      (await workersList(c)).every(
        (r) => !pids.has(r.pid ?? -1) || (r.state !== "online" && r.state !== "draining"),
      ),
    );
  });
  afterAll(async () => {
    for (const f of undo.splice(0).reverse()) await f();
  });
  const shared = (): RemoteSetup => {
    if (setup === undefined) throw new Error("useRemoteManager: read it inside the tests");
    return setup;
  };
  return {
    get m() {
      return shared().m;
    },
    get c() {
      return shared().c;
    },
    get addr() {
      return shared().addr;
    },
    get events() {
      return shared().events;
    },
    worker(o: WorkerStart, via?: string): RunningWorker {
      const w = startWorker(via ?? shared().addr, o);
      workers.push(w);
      return w;
    },
  };
}
