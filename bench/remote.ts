/**
 * bench:remote — workers on other hosts, on loopback (BENCH_N tasks a row,
 * default 5,000):
 *   - `benchRemoteThroughput`: background no-op tasks (one request each, 16 in
 *     flight, after 1,000 of warm-up) over 1, 2 or 4 `zqs worker` processes
 *     (`--slots 2` each, the manager with `--workers 0`), beside a bare
 *     DEALER/ROUTER echo with the same requests in flight, and the manager's
 *     CPU time per task;
 *   - `benchRemoteScheduling`: the same tasks over simulated workers (one
 *     process holding N DEALER sockets, bench/sim-workers.mjs) that answer at
 *     once or after a sleep: the manager's cost of many connected workers
 *     (dealing, heartbeats), and how well it keeps many workers busy: the
 *     1-worker and 10,000-worker rows measured in turn, twice each, with the
 *     CPU of the manager and the simulators idle beside them.
 *
 * Run alone, it prints the rows of `npm run bench` about remote workers:
 * remote_bg_tasks_per_s over bg_tasks_per_s (local --workers 1, this run),
 * sim_10000_workers_ratio, sim_sleep_scaling and manager_cpu_us_per_task.
 */
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { CLI, freePort, ROOT, waitUntil } from "../test/helpers/manager.js";
import {
  fmt,
  pipelinedRate,
  processCpuUs,
  sleep,
  startEchoServer,
  startNoopManager,
  writeBenchJson,
  type NoopManager,
} from "./lib.js";
import { encode } from "../src/protocol/index.js";
import { noopExecute } from "./lib.js";
import { backgroundRate, benchThroughput, measuredBackgroundRate, runRate } from "./throughput.js";

/** Background tasks run before the measured ones, on the same manager. */
const WARMUP_TASKS = 1000;

async function remoteManager(): Promise<{ z: NoopManager; addr: string }> {
  const addr = `tcp://127.0.0.1:${await freePort()}`;
  const z = await startNoopManager({ workers: 0, args: ["--zmq-worker-addr", addr] });
  return { z, addr };
}

async function onlineWorkers(z: NoopManager): Promise<number> {
  const r = await z.c.request("workers_list");
  return (r.workers as { kind: string; state: string }[]).filter(
    (w) => w.kind === "remote" && w.state === "online",
  ).length;
}

function stopAll(procs: ChildProcess[]): Promise<unknown> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve(undefined);
          p.once("exit", resolve);
          p.kill("SIGKILL");
        }),
    ),
  );
}

export interface RemoteThroughput {
  workers: number;
  tasksPerSec: number;
  echoPerSec: number;
  managerCpuUsPerTask: number;
  /** The `zqs worker` processes' CPU time (agents and their slot processes), per task (µs). */
  workerCpuUsPerTask: number;
}

export async function benchRemoteThroughput(n = 5000, workers = 1): Promise<RemoteThroughput> {
  const { z, addr } = await remoteManager();
  const procs: ChildProcess[] = [];
  const router = await startEchoServer("router");
  try {
    for (let i = 0; i < workers; i++) {
      procs.push(
        spawn(
          process.execPath,
          [
            CLI,
            "worker",
            "--connect",
            addr,
            "--startup-dir",
            path.join(ROOT, "bench/startup"),
            "--name",
            `bench-${i}`,
            "--slots",
            "2",
          ],
          { stdio: "ignore" },
        ),
      );
    }
    await waitUntil(async () => (await onlineWorkers(z)) === workers, 120_000);
    const body = encode({ method: "function_execute", params: noopExecute(true) }, "json");
    const echoPerSec = await pipelinedRate(router.address, () => body, n, 16);
    await backgroundRate(z, WARMUP_TASKS, 16);
    const pids = procs.map((p) => p.pid as number);
    return { workers, echoPerSec, ...(await measuredBackgroundRate(z, n, 16, pids)) };
  } finally {
    router.stop();
    await stopAll(procs);
    await z.stop();
  }
}

export interface SimOptions {
  /** Slots of each simulated worker (default 1). */
  slots?: number;
  /** How long each task takes in it (ms; default 0: answered at once). */
  sleepMs?: number;
  /**
   * The measured tasks come as one `run_create` rather than one request each:
   * for a row about keeping workers busy, so that it is not bounded by the
   * rate of one request per task (the no-op rows measure that).
   */
  asRun?: boolean;
}

/** Simulated workers a process: each takes two file descriptors (its socket, its mailbox). */
const SIM_PER_PROCESS = 5000;

/** Start `count` simulated workers, named from sim-`first`; resolves once every one is welcome. */
function startSim(
  addr: string,
  count: number,
  first: number,
  o: SimOptions,
): { proc: ChildProcess; ready: Promise<void> } {
  const proc = spawn(
    process.execPath,
    [
      path.join(ROOT, "bench/sim-workers.mjs"),
      addr,
      String(count),
      "--slots",
      String(o.slots ?? 1),
      "--sleep",
      String(o.sleepMs ?? 0),
      "--first",
      String(first),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
    proc.once("exit", (code) =>
      reject(new Error(`the simulated workers exited (${String(code)})`)),
    );
  });
  return { proc, ready };
}

export interface SimRate {
  tasksPerSec: number;
  /** Before the tasks, idle with the workers connected: the manager's CPU (% of a core). */
  idleManagerPct: number;
  /** The same of the simulator processes (their heartbeats): what they take from the manager on a small machine. */
  idleSimPct: number;
  /** The manager process's CPU time over the measured tasks, per task (µs). */
  managerCpuUsPerTask: number;
  /** The simulator processes' CPU time over them, per task (µs): what they take from the manager on a small machine. */
  simCpuUsPerTask: number;
}

/**
 * How long the idle CPU is measured, once every worker is online and told the
 * pace (a few of the manager's and the workers' heartbeat rounds at up to
 * 1,000 workers; at 10,000, with a beat every 24 s, a part of one: the workers
 * joined over some seconds, so their beats are spread over it).
 */
const IDLE_MS = 10_000;

/**
 * Background no-op tasks/s with `simulated` workers connected
 * (bench/sim-workers.mjs), the CPU time per task of the manager and of the
 * simulator beside it, and the CPU both take idle before the tasks.
 */
export async function benchRemoteSchedulingCpu(
  n = 5000,
  simulated = 1000,
  o: SimOptions = {},
): Promise<SimRate> {
  const { z, addr } = await remoteManager();
  const sims: ReturnType<typeof startSim>[] = [];
  for (let first = 0; first < simulated; first += SIM_PER_PROCESS) {
    sims.push(startSim(addr, Math.min(SIM_PER_PROCESS, simulated - first), first, o));
  }
  const simCpuUs = () => sims.reduce((sum, s) => sum + processCpuUs(s.proc.pid as number), 0);
  try {
    await Promise.all(sims.map((s) => s.ready));
    await waitUntil(async () => (await onlineWorkers(z)) === simulated, 300_000);
    await backgroundRate(z, Math.min(WARMUP_TASKS, n), 16);
    const pid = z.m.proc.pid as number;
    const idle0 = { manager: processCpuUs(pid), sim: simCpuUs(), at: performance.now() };
    await sleep(IDLE_MS);
    const idleUs = (performance.now() - idle0.at) * 1000;
    const idleManagerPct = ((processCpuUs(pid) - idle0.manager) / idleUs) * 100;
    const idleSimPct = ((simCpuUs() - idle0.sim) / idleUs) * 100;
    const sim0 = simCpuUs();
    const cpu0 = processCpuUs(pid);
    const tasksPerSec = o.asRun ? await runRate(z, n) : await backgroundRate(z, n, 16);
    return {
      tasksPerSec,
      idleManagerPct,
      idleSimPct,
      managerCpuUsPerTask: (processCpuUs(pid) - cpu0) / n,
      simCpuUsPerTask: (simCpuUs() - sim0) / n,
    };
  } finally {
    await stopAll(sims.map((s) => s.proc));
    await z.stop();
  }
}

/** Background no-op tasks/s with `simulated` workers connected (bench/sim-workers.mjs). */
export async function benchRemoteScheduling(
  n = 5000,
  simulated = 1000,
  o: SimOptions = {},
): Promise<number> {
  return (await benchRemoteSchedulingCpu(n, simulated, o)).tasksPerSec;
}

/**
 * The no-op rate with 1 simulated worker and with 10,000, measured in turn
 * (1, 10,000, 1, 10,000: a slow moment of a loaded machine falls on both), the
 * better of the two of each.
 */
export async function benchSimPair(n = 5000): Promise<{ sim1: SimRate; sim10000: SimRate }> {
  const best = (a: SimRate, b: SimRate) => (b.tasksPerSec > a.tasksPerSec ? b : a);
  const one = await benchRemoteSchedulingCpu(n, 1);
  const many = await benchRemoteSchedulingCpu(n, 10_000);
  return {
    sim1: best(one, await benchRemoteSchedulingCpu(n, 1)),
    sim10000: best(many, await benchRemoteSchedulingCpu(n, 10_000)),
  };
}

/**
 * 20 simulated workers × 2 slots, tasks of 20 ms (one run): what they could
 * run at most (tasks/s).
 */
export const SIM_SLEEP = { workers: 20, slots: 2, sleepMs: 20, asRun: true } as const;
export const SIM_SLEEP_IDEAL = (SIM_SLEEP.workers * SIM_SLEEP.slots * 1000) / SIM_SLEEP.sleepMs;

export interface RemoteRows {
  /** Local `--workers 1` background no-ops (tasks/s), the manager's and its worker's CPU per task (µs). */
  local: { tasksPerSec: number; managerCpuUsPerTask: number; workerCpuUsPerTask: number };
  remote: RemoteThroughput;
  sim1: SimRate;
  sim10000: SimRate;
  simSleep: SimRate;
}

function simLine(r: SimRate): string {
  return `${fmt(r.tasksPerSec, 0)} tasks/s; CPU per task: manager ${fmt(r.managerCpuUsPerTask, 0)} µs, simulator ${fmt(r.simCpuUsPerTask, 0)} µs; idle: manager ${fmt(r.idleManagerPct, 1)} %, simulators ${fmt(r.idleSimPct, 1)} % of a core`;
}

/** The rows of the "Done when", measured in one run. */
export async function benchRemoteRows(
  n: number,
  progress: (line: string) => void = () => undefined,
): Promise<RemoteRows> {
  const local = await benchThroughput(n, 1);
  progress(`local --workers 1: ${fmt(local.tasksPerSec, 0)} tasks/s`);
  const remote = await benchRemoteThroughput(n, 1);
  progress(`1 remote worker, --slots 2: ${fmt(remote.tasksPerSec, 0)} tasks/s`);
  const simSleep = await benchRemoteSchedulingCpu(
    Math.round(SIM_SLEEP_IDEAL * 2),
    SIM_SLEEP.workers,
    SIM_SLEEP,
  );
  progress(`20 simulated workers × 2 slots, 20 ms tasks: ${simLine(simSleep)}`);
  const { sim1, sim10000 } = await benchSimPair(n);
  progress(`1 simulated worker (better of two): ${simLine(sim1)}`);
  progress(`10,000 simulated workers (better of two): ${simLine(sim10000)}`);
  return { local, remote, sim1, sim10000, simSleep };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 5000);
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
  console.log(`load average before: ${load()}; ${os.cpus().length} CPU(s); ${n} tasks a row`);
  const r = await benchRemoteRows(n, (line) => console.log(`  ${line}`));
  const json = {
    bg_tasks_per_s: r.local.tasksPerSec,
    remote_bg_tasks_per_s: r.remote.tasksPerSec,
    remote_vs_local: r.remote.tasksPerSec / r.local.tasksPerSec,
    sim_1_worker_tasks_per_s: r.sim1.tasksPerSec,
    sim_10000_workers_tasks_per_s: r.sim10000.tasksPerSec,
    sim_10000_workers_ratio: r.sim10000.tasksPerSec / r.sim1.tasksPerSec,
    // The manager's CPU per task with 1 simulated worker over with 10,000 (1: the same cost).
    sim_10000_workers_cpu_ratio: r.sim1.managerCpuUsPerTask / r.sim10000.managerCpuUsPerTask,
    sim_1_manager_cpu_us_per_task: r.sim1.managerCpuUsPerTask,
    sim_10000_manager_cpu_us_per_task: r.sim10000.managerCpuUsPerTask,
    sim_1_sim_cpu_us_per_task: r.sim1.simCpuUsPerTask,
    sim_10000_sim_cpu_us_per_task: r.sim10000.simCpuUsPerTask,
    sim_1_idle_manager_cpu_pct: r.sim1.idleManagerPct,
    sim_10000_idle_manager_cpu_pct: r.sim10000.idleManagerPct,
    sim_1_idle_sim_cpu_pct: r.sim1.idleSimPct,
    sim_10000_idle_sim_cpu_pct: r.sim10000.idleSimPct,
    sim_sleep_tasks_per_s: r.simSleep.tasksPerSec,
    sim_sleep_scaling: r.simSleep.tasksPerSec / SIM_SLEEP_IDEAL,
    manager_cpu_us_per_task: r.local.managerCpuUsPerTask,
    remote_manager_cpu_us_per_task: r.remote.managerCpuUsPerTask,
    worker_cpu_us_per_task: r.local.workerCpuUsPerTask,
    remote_worker_cpu_us_per_task: r.remote.workerCpuUsPerTask,
  };
  console.log(
    [
      `remote_bg_tasks_per_s ${fmt(r.remote.tasksPerSec, 0)} / bg_tasks_per_s ${fmt(r.local.tasksPerSec, 0)} (local --workers 1) = ${fmt(json.remote_vs_local, 2)} (target ≥ 0.8)`,
      `sim_10000_workers_ratio ${fmt(r.sim10000.tasksPerSec, 0)} / ${fmt(r.sim1.tasksPerSec, 0)} tasks/s = ${fmt(json.sim_10000_workers_ratio, 2)} (target ≥ 0.9); manager CPU per task with 1 over with 10,000 = ${fmt(json.sim_10000_workers_cpu_ratio, 2)}; idle with 10,000: manager ${fmt(r.sim10000.idleManagerPct, 1)} %, simulators ${fmt(r.sim10000.idleSimPct, 1)} % of a core`,
      `sim_sleep_scaling ${fmt(r.simSleep.tasksPerSec, 0)} / ${fmt(SIM_SLEEP_IDEAL, 0)} tasks/s = ${fmt(json.sim_sleep_scaling, 2)} (target ≥ 0.8)`,
      `manager_cpu_us_per_task ${fmt(r.local.managerCpuUsPerTask, 1)} (local --workers 1; target ≤ 50); over the remote worker ${fmt(r.remote.managerCpuUsPerTask, 1)}`,
      `worker_cpu_us_per_task ${fmt(r.local.workerCpuUsPerTask, 1)} (the local worker process); remote_worker_cpu_us_per_task ${fmt(r.remote.workerCpuUsPerTask, 1)} (the zqs worker: its agent and slot processes)`,
      `load average after: ${load()}`,
    ].join("\n"),
  );
  writeBenchJson(json);
}
