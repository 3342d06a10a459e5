/**
 * `npm run bench`: every benchmark, one table. Each figure stands beside a raw
 * baseline measured in the same run and their ratio (for rates: zqs/raw, higher
 * is better; for times: zqs/raw, lower is better).
 */
import os from "node:os";
import { fmt } from "./lib.js";
import { benchRequests } from "./requests.js";
import { benchStartup } from "./startup-times.js";
import { benchTasks } from "./tasks.js";
import { benchThroughput } from "./throughput.js";

type Row = [string, string, string, string, string];
const rows: Row[] = [];

const r = await benchRequests();
rows.push([
  "sequential `status` (req/s)",
  fmt(r.status, 0),
  `${fmt(r.echoSeq, 0)} REQ/REP echo`,
  fmt(r.status / r.echoSeq, 2),
  "≥ 0.9",
]);
rows.push([
  "sequential `task_status` (req/s)",
  fmt(r.taskStatus, 0),
  `${fmt(r.echoSeq, 0)} REQ/REP echo`,
  fmt(r.taskStatus / r.echoSeq, 2),
  "≥ 0.9",
]);
rows.push([
  `pipelined \`task_status\`, ${r.inFlight} in flight (req/s)`,
  fmt(r.pipelined, 0),
  `${fmt(r.echoPipelined, 0)} DEALER/ROUTER echo`,
  fmt(r.pipelined / r.echoPipelined, 2),
  "≥ 0.7",
]);
const t = await benchTasks();
rows.push([
  "no-op task, execute → completed, median (ms)",
  fmt(t.taskMedianMs),
  `${fmt(t.echoMedianMs)} REQ/REP echo round trip`,
  fmt(t.ratio, 2),
  "< 1 ms",
]);
for (const workers of [1, 2]) {
  const th = await benchThroughput(5000, workers);
  rows.push([
    `background no-op tasks, --workers ${workers} (tasks/s)`,
    fmt(th.tasksPerSec, 0),
    `${fmt(th.echoPerSec, 0)} DEALER/ROUTER echo, 16 in flight`,
    fmt(th.ratio, 2),
    "≥ 0.4",
  ]);
}
const s = await benchStartup();
rows.push([
  "`environment_open` until ready (ms)",
  fmt(s.envOpenMs, 1),
  `${fmt(s.bareForkMs, 1)} bare \`fork\` of Node`,
  fmt(s.envOpenMs / s.bareForkMs, 2),
  "",
]);
rows.push([
  "manager start until it answers (ms)",
  fmt(s.managerMs, 1),
  `${fmt(s.echoServerMs, 1)} bare echo server start`,
  fmt(s.managerMs / s.echoServerMs, 2),
  "",
]);

const head: Row = ["benchmark", "zqs", "raw baseline (same run)", "ratio", "target"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]?.length ?? 0)));
const line = (x: string[]) => `| ${x.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
console.log(
  `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
);
console.log(line(head));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const x of rows) console.log(line(x));
