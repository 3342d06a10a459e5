/**
 * bench:tasks — median latency from function_execute to task_result
 * "completed" for a no-op function, beside the raw zeromq.js REQ/REP round
 * trip measured in the same run, and their ratio.
 */
import path from "node:path";
import { encode } from "../src/protocol/index.js";
import { RawClient, ROOT, startManager, waitUntil } from "../test/helpers/manager.js";
import { fmt, median, nowMs, percentile, sequentialTimes, startEchoServer } from "./lib.js";

export interface TasksResult {
  taskMedianMs: number;
  taskP99Ms: number;
  echoMedianMs: number;
  ratio: number;
  n: number;
}

export async function benchTasks(n = 500): Promise<TasksResult> {
  const m = await startManager({
    checkReplies: false,
    examples: false,
    publishConsole: false,
    args: ["--startup-dir", path.join(ROOT, "bench/startup")],
  });
  const c = new RawClient(m.controlAddr);
  try {
    await c.request("environment_open");
    await waitUntil(
      async () => (await c.request("status")).worker_environment_exists === true,
      20_000,
    );
    const params = {
      item: { item_type: "function", name: "noop" },
      user: "bench",
      user_group: "primary",
    };
    const times: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t0 = nowMs();
      const r = await c.request("function_execute", params);
      const uid = r.task_uid as string;
      for (;;) {
        const res = await c.request("task_result", { task_uid: uid });
        if (res.status === "completed") break;
      }
      if (i >= 20) times.push(nowMs() - t0);
      // The manager returns to idle with the completion: no wait is needed.
    }
    const rep = await startEchoServer("rep");
    const echo = await sequentialTimes(
      rep.address,
      encode({ method: "task_result", params: { task_uid: "x" } }, "json"),
      n,
    );
    rep.stop();
    const taskMedianMs = median(times);
    const echoMedianMs = median(echo);
    return {
      taskMedianMs,
      taskP99Ms: percentile(times, 99),
      echoMedianMs,
      ratio: taskMedianMs / echoMedianMs,
      n,
    };
  } finally {
    c.close();
    await m.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchTasks(Number(process.env.BENCH_N ?? 500));
  console.log(`no-op task: execute → completed, ${r.n} tasks`);
  console.log(`  median ${fmt(r.taskMedianMs)} ms (p99 ${fmt(r.taskP99Ms)} ms)`);
  console.log(`  raw zeromq.js REQ/REP round trip median ${fmt(r.echoMedianMs)} ms`);
  console.log(
    `  ratio task/echo ${fmt(r.ratio, 2)} (target: median < 1 ms; the Python server: ~500 ms)`,
  );
}
