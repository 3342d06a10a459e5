/**
 * bench:peers — zqs beside BullMQ (the pinned devDependency) in the same run,
 * with the same shapes of work, every server started here on loopback:
 *   - one no-op at a time, from submission to completion as the producer sees
 *     it: zqs `functionExecute` + `waitForCompletedTask` (and raw polling);
 *     BullMQ `queue.add` + the job's `completed` event from QueueEvents, with
 *     the default job options and with `removeOnComplete: true`;
 *   - many no-op jobs created at once, until all have completed: zqs
 *     `run_create` of 20,000 tasks; BullMQ `addBulk` of 20,000 jobs, worker
 *     concurrency 1, 8 and 32;
 *   - zqs's individually submitted background tasks (16 in flight).
 * Three processes a side: the producer (this process), the server (zqs
 * manager, with its defaults: the embedded LMDB store; redis-server without
 * persistence) and the worker (zqs's forked worker; a BullMQ Worker in a
 * process of its own, bench/bullmq-worker.mjs).
 */
import { fork, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { Queue, QueueEvents } from "bullmq";
import { ROOT } from "../test/helpers/manager.js";
import { startRedis } from "../test/helpers/redis.js";
import {
  fmt,
  machine,
  nowMs,
  printTable,
  ratioOf,
  rowsJson,
  spread,
  writeBenchJson,
  type Row,
  type Spread,
} from "./lib.js";
import { benchClientWait, benchTasks } from "./tasks.js";
import { benchRun, benchThroughput } from "./throughput.js";

const LATENCY_N = 500;
const BULK_N = 20_000;
const BG_N = 5000;

interface BullWorker {
  /** Resolves when `expect` jobs have completed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** A BullMQ Worker (no-op processor) in its own process, connected and ready. */
async function startBullWorker(
  port: number,
  queue: string,
  concurrency: number,
  expect = 0,
): Promise<BullWorker> {
  const proc = fork(
    path.join(ROOT, "bench/bullmq-worker.mjs"),
    [String(port), queue, String(concurrency), String(expect)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] },
  );
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  let failed: (err: Error) => void = () => undefined;
  const failure = new Promise<never>((_resolve, reject) => (failed = reject));
  failure.catch(() => undefined);
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const ready = new Promise<void>((resolve) => {
    proc.on("message", (m: { ready?: boolean; done?: number; failed?: string }) => {
      if (m.ready) resolve();
      if (m.done !== undefined) finished();
      if (m.failed !== undefined) failed(new Error(`BullMQ worker: ${m.failed}`));
    });
  });
  let stopping = false;
  void exited.then(() => {
    if (!stopping) failed(new Error("the BullMQ worker process exited"));
  });
  await Promise.race([ready, failure]);
  const allDone = Promise.race([done, failure]);
  allDone.catch(() => undefined); // awaited by the bulk benchmark only
  return {
    done: allDone,
    async stop() {
      stopping = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.send("close");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * One no-op job at a time: add → completed, as the producer hears it from
 * QueueEvents: its `completed` event, which `job.waitUntilFinished` waits for
 * (without that method's extra look at the job's state, which fails with
 * "Missing key" when removeOnComplete has already removed the job).
 */
async function bullLatency(port: number, n: number, removeOnComplete: boolean): Promise<Spread> {
  const name = `latency-${removeOnComplete ? "remove" : "keep"}`;
  const connection = { host: "127.0.0.1", port };
  const worker = await startBullWorker(port, name, 1);
  const queue = new Queue(name, { connection });
  // The queue is new: reading its events from the start misses none (from "$", the default,
  // the first job's completion can pass before the first read of the stream).
  const events = new QueueEvents(name, { connection, lastEventId: "0-0" });
  /** Jobs that ended before their wait began: id → undefined (completed) or the failure. */
  const ended = new Map<string, Error | undefined>();
  let waiting: { id: string; settle: (err?: Error) => void } | undefined;
  const end = (id: string, err?: Error) => {
    if (waiting?.id === id) waiting.settle(err);
    else ended.set(id, err);
  };
  events.on("completed", ({ jobId }) => end(jobId));
  events.on("failed", ({ jobId, failedReason }) =>
    end(jobId, new Error(`BullMQ job ${jobId} failed: ${failedReason}`)),
  );
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    const opts = removeOnComplete ? { removeOnComplete: true } : {};
    const times: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t0 = nowMs();
      const job = await queue.add("noop", {}, opts);
      const id = job.id as string;
      if (ended.has(id)) {
        const err = ended.get(id);
        ended.delete(id);
        if (err) throw err;
      } else {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => end(id, new Error(`BullMQ job ${id}: no end`)), 30_000);
          waiting = {
            id,
            settle: (err) => {
              clearTimeout(timer);
              waiting = undefined;
              if (err) reject(err);
              else resolve();
            },
          };
        });
      }
      if (i >= 20) times.push(nowMs() - t0);
    }
    return spread(times);
  } finally {
    await events.close();
    await queue.close();
    await worker.stop();
  }
}

/** `addBulk` of n no-op jobs, until the worker has completed them all (jobs per second). */
async function bullBulk(port: number, n: number, concurrency: number): Promise<number> {
  const name = `bulk-c${concurrency}`;
  const worker = await startBullWorker(port, name, concurrency, n);
  const queue = new Queue(name, { connection: { host: "127.0.0.1", port } });
  try {
    await queue.waitUntilReady();
    const jobs = Array.from({ length: n }, () => ({ name: "noop", data: {} }));
    const t0 = nowMs();
    await queue.addBulk(jobs);
    await worker.done;
    const perSec = n / ((nowMs() - t0) / 1000);
    const counts = await queue.getJobCounts("completed", "failed");
    if (counts.completed !== n || counts.failed !== 0) {
      throw new Error(`BullMQ bulk: ${JSON.stringify(counts)} of ${n} jobs`);
    }
    return perSec;
  } finally {
    await queue.close();
    await worker.stop();
  }
}

function bullmqVersion(): string {
  const pkg = createRequire(import.meta.url)("bullmq/package.json") as { version: string };
  return pkg.version;
}

function redisVersion(): string {
  const out = spawnSync(process.env.REDIS_SERVER ?? "redis-server", ["--version"]).stdout;
  return /v=(\S+)/.exec(String(out))?.[1] ?? "?";
}

export interface PeersResult {
  rows: Row[];
  json: Record<string, number>;
}

export async function benchPeers(): Promise<PeersResult> {
  const redis = await startRedis({ persistence: "none" });
  let bull: {
    keep: Spread;
    remove: Spread;
    bulk: Record<number, number>;
  };
  try {
    const keep = await bullLatency(redis.port, LATENCY_N, false);
    const remove = await bullLatency(redis.port, LATENCY_N, true);
    const bulk: Record<number, number> = {};
    for (const c of [1, 8, 32]) bulk[c] = await bullBulk(redis.port, BULK_N, c);
    bull = { keep, remove, bulk };
  } finally {
    await redis.stop();
  }
  const wait = await benchClientWait(LATENCY_N);
  const poll = await benchTasks(LATENCY_N);
  const run1 = await benchRun(BULK_N, 1);
  const run2 = await benchRun(BULK_N, 2);
  const bg1 = await benchThroughput(BG_N, 1);
  const bg2 = await benchThroughput(BG_N, 2);
  // The same zqs with `--store-sync os`: a change counts once LMDB committed it to the OS
  // (survives kill -9 of the manager, not a power cut), still more than Redis without
  // persistence keeps.
  const OS = ["--store-sync", "os"];
  const waitOs = await benchClientWait(LATENCY_N, OS);
  const pollOs = await benchTasks(LATENCY_N, OS);
  const run1Os = await benchRun(BULK_N, 1, OS);
  const bg1Os = await benchThroughput(BG_N, 1, 16, OS);

  const best = Math.max(...Object.values(bull.bulk));
  const bestC = Number(Object.keys(bull.bulk).find((c) => bull.bulk[Number(c)] === best));
  const keepBase = (v: number, key: string) => ({
    key,
    value: v,
    digits: 3,
    label: "BullMQ, default job options",
  });
  const removeBase = (v: number, key: string) => ({
    key,
    value: v,
    digits: 3,
    label: "BullMQ, removeOnComplete",
  });
  const bestBase = {
    key: "bullmq_bulk_best_per_s",
    value: best,
    digits: 0,
    label: `BullMQ's best bulk (concurrency ${bestC})`,
  };
  const rows: Row[] = [
    {
      label: "one no-op at a time, median (ms); zqs client wait",
      key: "noop_client_wait_ms",
      ratioKey: "noop_client_wait_vs_bullmq_ratio",
      value: wait.median,
      digits: 3,
      base: keepBase(bull.keep.median, "bullmq_latency_ms"),
      target: "≤ 0.5",
    },
    {
      label: "one no-op at a time, p99 (ms); zqs client wait",
      key: "noop_client_wait_p99_ms",
      ratioKey: "noop_client_wait_p99_vs_bullmq_ratio",
      value: wait.p99,
      digits: 3,
      base: keepBase(bull.keep.p99, "bullmq_latency_p99_ms"),
    },
    {
      label: "one no-op at a time, median (ms); zqs client wait",
      key: "noop_client_wait_ms",
      ratioKey: "noop_client_wait_vs_bullmq_remove_on_complete_ratio",
      value: wait.median,
      digits: 3,
      base: removeBase(bull.remove.median, "bullmq_latency_remove_on_complete_ms"),
      target: "≤ 0.5",
    },
    {
      label: "one no-op at a time, p99 (ms); zqs client wait",
      key: "noop_client_wait_p99_ms",
      ratioKey: "noop_client_wait_p99_vs_bullmq_remove_on_complete_ratio",
      value: wait.p99,
      digits: 3,
      base: removeBase(bull.remove.p99, "bullmq_latency_remove_on_complete_p99_ms"),
    },
    {
      label: "one no-op at a time, median (ms); zqs raw task_result polling",
      key: "noop_latency_ms",
      ratioKey: "noop_latency_vs_bullmq_ratio",
      value: poll.taskMedianMs,
      digits: 3,
      base: keepBase(bull.keep.median, "bullmq_latency_ms"),
      target: "≤ 0.5",
    },
    ...[1, 8, 32].map((c): Row => ({
      label: "20,000 no-ops created at once → all completed (tasks/s); zqs run_create",
      key: "run_tasks_per_s",
      ratioKey: `run_tasks_vs_bullmq_c${c}_ratio`,
      value: run1.tasksPerSec,
      digits: 0,
      base: {
        key: `bullmq_bulk_c${c}_per_s`,
        value: bull.bulk[c] ?? NaN,
        digits: 0,
        label: `BullMQ addBulk, concurrency ${c}`,
      },
    })),
    {
      label: "20,000 no-ops, zqs run_create --workers 1 (tasks/s)",
      key: "run_tasks_per_s",
      ratioKey: "run_tasks_vs_bullmq_best_ratio",
      value: run1.tasksPerSec,
      digits: 0,
      base: bestBase,
      target: "≥ 2",
    },
    {
      label: "20,000 no-ops, zqs run_create --workers 2 (tasks/s)",
      key: "run_tasks_per_s_workers2",
      ratioKey: "run_tasks_workers2_vs_bullmq_best_ratio",
      value: run2.tasksPerSec,
      digits: 0,
      base: bestBase,
      target: "≥ 2",
    },
    {
      label: "zqs background no-ops, one request each, 16 in flight, --workers 1 (tasks/s)",
      key: "bg_tasks_per_s",
      ratioKey: "bg_tasks_vs_bullmq_best_ratio",
      value: bg1.tasksPerSec,
      digits: 0,
      base: bestBase,
    },
    {
      label: "zqs background no-ops, one request each, 16 in flight, --workers 2 (tasks/s)",
      key: "bg_tasks_per_s_workers2",
      ratioKey: "bg_tasks_workers2_vs_bullmq_best_ratio",
      value: bg2.tasksPerSec,
      digits: 0,
      base: bestBase,
    },
    {
      label: "one no-op at a time, median (ms); zqs client wait, --store-sync os",
      key: "noop_client_wait_os_sync_ms",
      ratioKey: "noop_client_wait_os_sync_vs_bullmq_ratio",
      value: waitOs.median,
      digits: 3,
      base: keepBase(bull.keep.median, "bullmq_latency_ms"),
      target: "≤ 0.5",
    },
    {
      label: "one no-op at a time, median (ms); zqs raw task_result polling, --store-sync os",
      key: "noop_latency_os_sync_ms",
      ratioKey: "noop_latency_os_sync_vs_bullmq_ratio",
      value: pollOs.taskMedianMs,
      digits: 3,
      base: keepBase(bull.keep.median, "bullmq_latency_ms"),
      target: "≤ 0.5",
    },
    {
      label: "20,000 no-ops, zqs run_create --workers 1 --store-sync os (tasks/s)",
      key: "run_tasks_os_sync_per_s",
      ratioKey: "run_tasks_os_sync_vs_bullmq_best_ratio",
      value: run1Os.tasksPerSec,
      digits: 0,
      base: bestBase,
      target: "≥ 2",
    },
    {
      label: "zqs background no-ops, one request each, 16 in flight, --store-sync os (tasks/s)",
      key: "bg_tasks_os_sync_per_s",
      ratioKey: "bg_tasks_os_sync_vs_bullmq_best_ratio",
      value: bg1Os.tasksPerSec,
      digits: 0,
      base: bestBase,
    },
  ];
  const json: Record<string, number> = {
    ...rowsJson(rows),
    noop_latency_p99_ms: poll.taskP99Ms,
    echo_rtt_ms: poll.echoMedianMs,
    dealer_echo_per_s: bg1.echoPerSec,
  };
  return { rows, json };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = nowMs();
  const { rows, json } = await benchPeers();
  console.log(machine());
  console.log(
    `zqs: manager with its defaults (embedded LMDB store, flushed to disk per commit; rows marked --store-sync os: committed to the OS only), one worker process (or --workers 2), JSON over ZeroMQ on loopback. BullMQ ${bullmqVersion()}: redis-server ${redisVersion()} on loopback without persistence (--save "" --appendonly no), a Worker in its own process.`,
  );
  printTable(rows, ["benchmark", "zqs", "BullMQ (same run)", "zqs/BullMQ", "target"]);
  const checks = rows.filter((r) => r.target);
  for (const r of checks) {
    const ratio = ratioOf(r) ?? NaN;
    const bound = Number(r.target?.replace(/[^\d.]/g, ""));
    const met = r.target?.startsWith("≤") ? ratio <= bound : ratio >= bound;
    console.log(
      `  ${met ? "met   " : "missed"} ${r.label} vs ${r.base?.label}: ${fmt(ratio, 2)} (${r.target})`,
    );
  }
  console.log(`(${fmt((nowMs() - t0) / 1000, 0)} s)`);
  writeBenchJson(json);
}
