/**
 * `npm run bench`: every benchmark, one table. Each figure stands beside a raw
 * baseline measured in the same run and their ratio (for rates: zqs/raw, higher
 * is better; for times: zqs/raw, lower is better). `BENCH_JSON=FILE` also
 * writes the figures as one JSON object; `--profile` adds where the time of a
 * no-op task goes (bench/trace.ts).
 */
import { fmt, machine, printTable, rowsJson, writeBenchJson, type Row } from "./lib.js";
import { benchRequests } from "./requests.js";
import { benchScheduleCost } from "./schedules.js";
import { benchStartup } from "./startup-times.js";
import { lmdbDurablePutMedianMs } from "./store.js";
import { benchPrinting, benchTasks } from "./tasks.js";
import { benchRun, benchThroughput } from "./throughput.js";
import { benchTrace, printTrace, type TraceResult } from "./trace.js";
import { benchWaits } from "./waits.js";
import { benchFailover } from "./failover.js";
import {
  benchRemoteScheduling,
  benchSimPair,
  benchRemoteThroughput,
  SIM_SLEEP,
  SIM_SLEEP_IDEAL,
} from "./remote.js";

const profile = process.argv.includes("--profile");
const rows: Row[] = [];

const r = await benchRequests();
const echoSeq = { key: "echo_seq_per_s", value: r.echoSeq, digits: 0, label: "REQ/REP echo" };
const echoPipelined = {
  key: "dealer_echo_task_status_per_s",
  value: r.echoPipelined,
  digits: 0,
  label: "DEALER/ROUTER echo",
};
rows.push(
  {
    label: "sequential `status` (req/s)",
    key: "status_seq_per_s",
    value: r.status,
    digits: 0,
    base: echoSeq,
    target: "≥ 0.9",
  },
  {
    label: "sequential `task_status` (req/s)",
    key: "task_status_seq_per_s",
    value: r.taskStatus,
    digits: 0,
    base: echoSeq,
    target: "≥ 0.9",
  },
  {
    label: `pipelined \`task_status\`, ${r.inFlight} in flight (req/s)`,
    key: "task_status_pipelined_per_s",
    value: r.pipelined,
    digits: 0,
    base: echoPipelined,
    target: "≥ 0.7",
  },
  {
    label: `pipelined \`status\`, ${r.inFlight} in flight (req/s)`,
    key: "status_pipelined_per_s",
    value: r.statusPipelined,
    digits: 0,
    base: echoPipelined,
    target: "≥ 0.8 × task_status",
  },
);
const t = await benchTasks();
const taskEchoRtt = {
  key: "echo_rtt_ms",
  value: t.echoMedianMs,
  digits: 3,
  label: "REQ/REP echo round trip",
};
rows.push({
  label: "no-op task, execute → completed, median (ms)",
  key: "noop_latency_ms",
  value: t.taskMedianMs,
  digits: 3,
  base: taskEchoRtt,
  target: "≤ 5",
});
// The floor of the row above: a reply waits for its task's accepted mark on disk,
// and the end for its result's.
rows.push({
  label: "one durable write with the raw lmdb package (put, then flushed), median (ms)",
  key: "lmdb_durable_put_ms",
  value: await lmdbDurablePutMedianMs(),
  digits: 3,
  base: taskEchoRtt,
});
const OS_SYNC = ["--store-sync", "os"];
const tOs = await benchTasks(500, OS_SYNC);
rows.push({
  label: "the same with `--store-sync os` (ms)",
  key: "noop_latency_os_sync_ms",
  value: tOs.taskMedianMs,
  digits: 3,
  base: {
    key: "echo_rtt_os_sync_ms",
    value: tOs.echoMedianMs,
    digits: 3,
    label: "REQ/REP echo round trip",
  },
  target: "≤ 5",
});
const pr = await benchPrinting();
rows.push({
  label: "no-op printing 3 lines (QS_Console on), execute → completed, median (ms)",
  key: "print_latency_ms",
  value: pr.printingMedianMs,
  digits: 3,
  base: {
    key: "quiet_latency_ms",
    value: pr.quietMedianMs,
    digits: 3,
    label: "the silent no-op, same manager",
  },
  target: "≤ 1.1",
});
const w = await benchWaits();
const echoRtt = {
  key: "waits_echo_rtt_ms",
  value: w.echoMedianMs,
  digits: 3,
  label: "REQ/REP echo round trip",
};
rows.push(
  {
    label: "`waitForCompletedTask` return after the end, info socket, median (ms)",
    key: "wait_info_after_end_ms",
    value: w.infoMedianMs,
    digits: 3,
    base: echoRtt,
    target: "< 50 ms",
  },
  {
    label: "`waitForCompletedTask` return after the end, polling, median (ms)",
    key: "wait_poll_after_end_ms",
    value: w.pollMedianMs,
    digits: 3,
    base: echoRtt,
    target: "< 100 ms",
  },
);
const bg: number[] = [];
const managerCpu: number[] = [];
const workerCpu: number[] = [];
const echoCpu: number[] = [];
for (const [workers, sync] of [
  [1, "fsync"],
  [2, "fsync"],
  [1, "os"],
  [2, "os"],
] as const) {
  const th = await benchThroughput(5000, workers, 16, sync === "os" ? OS_SYNC : []);
  const suffix = (workers === 1 ? "" : `_workers${workers}`) + (sync === "os" ? "_os_sync" : "");
  if (sync === "fsync") bg.push(th.tasksPerSec);
  if (workers === 1 && sync === "fsync") {
    managerCpu.push(th.managerCpuUsPerTask);
    workerCpu.push(th.workerCpuUsPerTask);
    echoCpu.push(th.echoCpuUsPerRequest);
  }
  rows.push({
    label: `background no-op tasks, one request each, --workers ${workers}${sync === "os" ? " --store-sync os" : ""} (tasks/s)`,
    key: `bg_tasks_per_s${suffix}`,
    value: th.tasksPerSec,
    digits: 0,
    base: {
      key: `dealer_echo_per_s${suffix}`,
      value: th.echoPerSec,
      digits: 0,
      label: "DEALER/ROUTER echo, 16 in flight",
    },
    target: "≥ 0.4",
  });
}
const localBg = rows.find((x) => x.key === "bg_tasks_per_s");
const localBgBase = {
  key: "bg_tasks_per_s",
  value: localBg?.value ?? NaN,
  digits: 0,
  label: "local --workers 1, this run",
};
rows.push({
  label: "manager CPU per background no-op task, --workers 1 (µs)",
  key: "manager_cpu_us_per_task",
  value: managerCpu[0] ?? NaN,
  digits: 1,
  // The floor: a task has a request and its reply on the control socket, as this echo has.
  base: {
    key: "echo_server_cpu_us_per_request",
    value: echoCpu[0] ?? NaN,
    digits: 1,
    label: "bare ROUTER echo server, per request",
  },
  target: "≤ 50 µs",
});
for (const workers of [1, 2, 4]) {
  const rt = await benchRemoteThroughput(5000, workers);
  rows.push({
    label: `background no-op tasks over ${workers} remote worker(s), zqs worker --slots 2, loopback (tasks/s)`,
    key: workers === 1 ? "remote_bg_tasks_per_s" : `remote_bg_tasks_per_s_${workers}`,
    value: rt.tasksPerSec,
    digits: 0,
    base: localBgBase,
    ...(workers === 1 ? { target: "≥ 0.8" } : {}),
  });
  if (workers !== 1) continue;
  // Where a remote task's CPU goes, beside a local one's (the stages of the row above).
  rows.push({
    label: "manager CPU per background no-op task over 1 remote worker (µs)",
    key: "remote_manager_cpu_us_per_task",
    value: rt.managerCpuUsPerTask,
    digits: 1,
    base: {
      key: "manager_cpu_us_per_task",
      value: managerCpu[0] ?? NaN,
      digits: 1,
      label: "local --workers 1",
    },
  });
  rows.push({
    label: "its worker's CPU per task: the zqs worker's agent and slot processes (µs)",
    key: "remote_worker_cpu_us_per_task",
    value: rt.workerCpuUsPerTask,
    digits: 1,
    base: {
      key: "worker_cpu_us_per_task",
      value: workerCpu[0] ?? NaN,
      digits: 1,
      label: "the local worker process",
    },
  });
}
{
  const pair = await benchSimPair(5000);
  const one = pair.sim1.tasksPerSec;
  const many = pair.sim10000.tasksPerSec;
  rows.push({
    label: "background no-op tasks with 10,000 simulated remote workers connected (tasks/s)",
    key: "sim_10000_workers_tasks_per_s",
    value: many,
    digits: 0,
    base: {
      key: "sim_1_worker_tasks_per_s",
      value: one,
      digits: 0,
      label: "the same with 1 simulated worker",
    },
    ratioKey: "sim_10000_workers_ratio",
    target: "≥ 0.9",
  });
  const sleeping = await benchRemoteScheduling(
    Math.round(SIM_SLEEP_IDEAL * 2),
    SIM_SLEEP.workers,
    SIM_SLEEP,
  );
  rows.push({
    label: `${SIM_SLEEP.workers} simulated workers × ${SIM_SLEEP.slots} slots, a run of tasks of ${SIM_SLEEP.sleepMs} ms (tasks/s)`,
    key: "sim_sleep_tasks_per_s",
    value: sleeping,
    digits: 0,
    base: {
      key: "sim_sleep_ideal_per_s",
      value: SIM_SLEEP_IDEAL,
      digits: 0,
      label: "what they could run at most",
    },
    ratioKey: "sim_sleep_scaling",
    target: "≥ 0.8",
  });
}
{
  const sc = await benchScheduleCost();
  rows.push({
    label: `background no-op tasks with ${sc.schedules.toLocaleString("en")} active schedules (every 3600 s) (tasks/s)`,
    key: "schedules_10000_tasks_per_s",
    value: sc.withPerSec,
    digits: 0,
    base: {
      key: "schedules_none_tasks_per_s",
      value: sc.withoutPerSec,
      digits: 0,
      label: "the same manager without them",
    },
    ratioKey: "schedules_10000_ratio",
    target: "≥ 0.9",
  });
}
const run = await benchRun(20_000, 1);
const runOs = await benchRun(20_000, 1, OS_SYNC);
/** The runs' baseline: the DEALER/ROUTER echo of the one-worker background row. */
const runBase = {
  key: "dealer_echo_per_s",
  value: rows.find((x) => x.key === "bg_tasks_per_s")?.base?.value ?? NaN,
  digits: 0,
  label: "DEALER/ROUTER echo, 16 in flight",
};
rows.push({
  label: "a run of 20,000 no-op tasks, created → all completed (tasks/s)",
  key: "run_tasks_per_s",
  value: run.tasksPerSec,
  digits: 0,
  base: runBase,
});
rows.push({
  label: "the same with `--store-sync os` (tasks/s)",
  key: "run_tasks_os_sync_per_s",
  value: runOs.tasksPerSec,
  digits: 0,
  base: runBase,
});
{
  const f = await benchFailover(5);
  rows.push({
    label: `failover: kill -9 of the active manager → first request served by the standby, median of ${f.times.length} (ms; max ${fmt(f.maxMs, 0)})`,
    key: "failover_ms",
    value: f.medianMs,
    digits: 0,
    base: { key: "redis_lease_ms", value: f.leaseMs, digits: 0, label: "--redis-lease" },
    target: "≤ 1 (+1 s on another host)",
  });
}
const s = await benchStartup();
rows.push(
  {
    label: "`environment_open` until ready (ms)",
    key: "env_open_ms",
    value: s.envOpenMs,
    digits: 1,
    base: { key: "bare_fork_ms", value: s.bareForkMs, digits: 1, label: "bare `fork` of Node" },
  },
  {
    label: "manager start until it answers (ms)",
    key: "manager_start_ms",
    value: s.managerMs,
    digits: 1,
    base: {
      key: "echo_server_start_ms",
      value: s.echoServerMs,
      digits: 1,
      label: "bare echo server start",
    },
  },
);
let trace: TraceResult | undefined;
if (profile) trace = await benchTrace();

console.log(machine());
printTable(rows, ["benchmark", "zqs", "raw baseline (same run)", "ratio", "target"]);
const statusVsTaskStatus = r.statusPipelined / r.pipelined;
const poolVsOne = (bg[1] ?? NaN) / (bg[0] ?? NaN);
console.log(
  `pipelined status / pipelined task_status: ${fmt(statusVsTaskStatus, 2)} (target ≥ 0.8); ` +
    `background tasks, --workers 2 / --workers 1: ${fmt(poolVsOne, 2)} (target ≥ 1)`,
);
if (trace) printTrace(trace);
writeBenchJson({
  ...rowsJson(rows),
  noop_latency_p99_ms: t.taskP99Ms,
  status_vs_task_status_pipelined: statusVsTaskStatus,
  bg_workers2_vs_workers1: poolVsOne,
  ...(trace ? { trace } : {}),
});
