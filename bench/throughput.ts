/**
 * Task throughput, counted from the first request until the last task has
 * completed:
 *   - `benchThroughput`: no-op functions submitted one request each, pipelined
 *     (16 in flight) with run_in_background, after 1,000 of warm-up on the same
 *     manager, beside a bare ROUTER echo with the same number of requests in
 *     flight;
 *   - `benchRun`: one `run_create` of `count` no-op tasks.
 */
import { encode } from "../src/protocol/index.js";
import type { RawClient } from "../test/helpers/manager.js";
import { childPids } from "../test/helpers/process.js";
import {
  fmt,
  NOOP,
  noopExecute,
  nowMs,
  pipelinedRate,
  processCpuUs,
  sleep,
  startEchoServer,
  startNoopManager,
  treeCpuUs,
  type NoopManager,
} from "./lib.js";

/** Background tasks run before the measured ones, on the same manager. */
const WARMUP_TASKS = 1000;

export interface Throughput {
  workers: number;
  tasksPerSec: number;
  echoPerSec: number;
  ratio: number;
  n: number;
  /** The manager process's CPU time over the measured tasks, per task (µs). */
  managerCpuUsPerTask: number;
  /** Its worker processes' CPU time over them, per task (µs). */
  workerCpuUsPerTask: number;
  /** The bare echo server's CPU time over its run, per request (µs): one receive and one send. */
  echoCpuUsPerRequest: number;
}

export async function benchThroughput(
  n = 5000,
  workers = 1,
  inFlight = 16,
  extraArgs: string[] = [],
): Promise<Throughput> {
  const z = await startNoopManager({ workers, args: extraArgs });
  const router = await startEchoServer("router");
  try {
    const body = encode({ method: "function_execute", params: noopExecute(true) }, "json");
    const echoPid = router.proc.pid as number;
    const echoCpu0 = processCpuUs(echoPid);
    const echoPerSec = await pipelinedRate(router.address, () => body, n, inFlight);
    const echoCpuUsPerRequest = (processCpuUs(echoPid) - echoCpu0) / n;
    // Warm-up: the manager's and the workers' code compiled, the workers' call times known.
    await backgroundRate(z, WARMUP_TASKS, inFlight);
    const measured = await measuredBackgroundRate(z, n, inFlight);
    return {
      workers,
      echoPerSec,
      echoCpuUsPerRequest,
      ratio: measured.tasksPerSec / echoPerSec,
      n,
      ...measured,
    };
  } finally {
    router.stop();
    await z.stop();
  }
}

/**
 * `n` background no-op tasks, one request each, `inFlight` at a time, from the
 * first request until the last has completed (tasks/s).
 */
export async function backgroundRate(z: NoopManager, n: number, inFlight = 16): Promise<number> {
  const body = encode({ method: "function_execute", params: noopExecute(true) }, "json");
  let last = "";
  const t0 = nowMs();
  await pipelinedRate(
    z.m.controlAddr,
    () => body,
    n,
    inFlight,
    (reply) => {
      const r = JSON.parse(reply.toString()) as {
        success: boolean;
        task_uid: string;
        msg: string;
      };
      if (!r.success) throw new Error(`function_execute refused: ${r.msg}`);
      last = r.task_uid;
    },
  );
  for (;;) {
    const s = await z.c.request("task_status", { task_uid: last });
    if (s.status === "completed" && (await z.c.request("status")).worker_background_tasks === 0)
      break;
  }
  return n / ((nowMs() - t0) / 1000);
}

/**
 * `backgroundRate`, and the CPU time over it per task (µs) of the manager
 * process and of the workers' processes: `workers` (process ids, each with its
 * descendants), by default the manager's own children (its forked workers).
 */
export async function measuredBackgroundRate(
  z: NoopManager,
  n: number,
  inFlight = 16,
  workers?: readonly number[],
): Promise<{ tasksPerSec: number; managerCpuUsPerTask: number; workerCpuUsPerTask: number }> {
  const pid = z.m.proc.pid as number;
  const workerPids = workers ?? childPids(pid);
  const cpu0 = processCpuUs(pid);
  const workerCpu0 = treeCpuUs(workerPids);
  const tasksPerSec = await backgroundRate(z, n, inFlight);
  return {
    tasksPerSec,
    managerCpuUsPerTask: (processCpuUs(pid) - cpu0) / n,
    workerCpuUsPerTask: (treeCpuUs(workerPids) - workerCpu0) / n,
  };
}

/** Run info counts (the reply also lists every task UID: asked rarely). */
async function runCounts(c: RawClient, runUid: string): Promise<{ done: number; failed: number }> {
  const r = await c.request("run_info", { run_uid: runUid });
  if (r.success !== true) throw new Error(`run_info refused: ${String(r.msg)}`);
  return { done: r.num_done as number, failed: r.num_failed as number };
}

export interface RunThroughput {
  workers: number;
  count: number;
  tasksPerSec: number;
}

/**
 * One run of `count` no-op tasks, from sending `run_create` until all have
 * completed: the last task's status is polled every 2 ms (a small request),
 * then `run_info` confirms that every task is done and none failed.
 */
export async function benchRun(
  count = 20_000,
  workers = 1,
  args: string[] = [],
): Promise<RunThroughput> {
  const z = await startNoopManager({ workers, args });
  try {
    return { workers, count, tasksPerSec: await runRate(z, count) };
  } finally {
    await z.stop();
  }
}

/** `benchRun` on a manager already started (tasks/s). */
export async function runRate(z: NoopManager, count: number): Promise<number> {
  const t0 = nowMs();
  const r = await z.c.request("run_create", {
    function: NOOP,
    count,
    user: "bench",
    user_group: "primary",
  });
  if (r.success !== true) throw new Error(`run_create refused: ${String(r.msg)}`);
  const uids = r.task_uids as string[];
  const runUid = r.run_uid as string;
  const last = uids[uids.length - 1] as string;
  while ((await z.c.request("task_status", { task_uid: last })).status !== "completed") {
    await sleep(2);
  }
  let counts = await runCounts(z.c, runUid);
  while (counts.done + counts.failed < count) {
    await sleep(2);
    counts = await runCounts(z.c, runUid);
  }
  const tasksPerSec = count / ((nowMs() - t0) / 1000);
  if (counts.failed > 0) throw new Error(`${counts.failed} of the run's no-op tasks failed`);
  return tasksPerSec;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // A pool worker takes one task at a time by default (--worker-slots 1, for CPU-bound code):
  // no-op tasks then wait for a round trip each; more slots show what the pool moves at most.
  for (const [w, extra] of [
    [1, []],
    [2, []],
    [2, ["--worker-slots", "16"]],
  ] as const) {
    const r = await benchThroughput(Number(process.env.BENCH_N ?? 5000), w, 16, [...extra]);
    console.log(
      `--workers ${w}${extra.length ? ` ${extra.join(" ")}` : ""}: ${fmt(r.tasksPerSec, 0)} tasks/s; raw DEALER/ROUTER echo ${fmt(r.echoPerSec, 0)} req/s (16 in flight); ratio ${fmt(r.ratio, 2)}`,
    );
  }
  for (const w of [1, 2]) {
    const r = await benchRun(20_000, w);
    console.log(
      `run_create of ${r.count} no-op tasks, --workers ${w}: ${fmt(r.tasksPerSec, 0)} tasks/s`,
    );
  }
}
