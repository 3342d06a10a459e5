/** `npm run bench`: every benchmark, one table, each figure beside its raw baseline. */
import { benchStatus } from "./status.js";
import { benchTasks } from "./tasks.js";
import { fmt } from "./lib.js";

const rows: [string, string, string, string][] = [];
const s = await benchStatus();
rows.push([
  "sequential status (req/s)",
  fmt(s.statusPerSec, 0),
  `${fmt(s.echoPerSec, 0)} (REQ/REP echo)`,
  fmt(s.ratio, 2),
]);
const t = await benchTasks();
rows.push([
  "no-op task execute→completed median (ms)",
  fmt(t.taskMedianMs),
  `${fmt(t.echoMedianMs)} (REQ/REP echo RTT)`,
  fmt(t.ratio, 2),
]);

const head: [string, string, string, string] = [
  "benchmark",
  "zqs",
  "raw baseline (same run)",
  "ratio",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
console.log(line(head));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
