/**
 * bench:tasks — latency of one no-op task at a time, function_execute →
 * completed, beside the raw zeromq.js REQ/REP round trip measured in the same
 * run, and their ratio. Two ways of seeing the completion:
 *   - `benchTasks`: a raw REQ socket polling `task_result` back to back (the
 *     manager's own latency, with the info socket off);
 *   - `benchClientWait`: the zqs client as its users drive it,
 *     `functionExecute` then `waitForCompletedTask` (woken by the info socket).
 */
import { REManagerAPI } from "../src/client/index.js";
import { encode } from "../src/protocol/index.js";
import {
  fmt,
  noopExecute,
  NOOP,
  nowMs,
  sequentialTimes,
  spread,
  startEchoServer,
  startNoopManager,
  type Spread,
} from "./lib.js";

export interface TasksResult {
  taskMedianMs: number;
  taskP99Ms: number;
  echoMedianMs: number;
  ratio: number;
  n: number;
}

const WARMUP = 20;

export async function benchTasks(n = 500, args: string[] = []): Promise<TasksResult> {
  const z = await startNoopManager({ timeoutMs: 5000, args });
  try {
    const params = noopExecute(false);
    const times: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const t0 = nowMs();
      const r = await z.c.request("function_execute", params);
      const uid = r.task_uid as string;
      for (;;) {
        const res = await z.c.request("task_result", { task_uid: uid });
        if (res.status === "completed") break;
      }
      if (i >= WARMUP) times.push(nowMs() - t0);
      // The manager returns to idle with the completion: no wait is needed.
    }
    const rep = await startEchoServer("rep");
    const echo = await sequentialTimes(
      rep.address,
      encode({ method: "task_result", params: { task_uid: "x" } }, "json"),
      n,
    );
    rep.stop();
    const task = spread(times);
    const echoMedianMs = spread(echo).median;
    return {
      taskMedianMs: task.median,
      taskP99Ms: task.p99,
      echoMedianMs,
      ratio: task.median / echoMedianMs,
      n,
    };
  } finally {
    await z.stop();
  }
}

/**
 * One no-op task at a time through the zqs client: `functionExecute(item)`,
 * then `waitForCompletedTask(uid)`, timed as the producer sees it. The info
 * socket is on (`--zmq-publish-console ON`), so the wait is woken by QS_Info.
 */
export async function benchClientWait(
  n = 500,
  args: string[] = [],
): Promise<Spread & { n: number }> {
  const z = await startNoopManager({ info: true, args });
  const api = new REManagerAPI({
    zmqControlAddr: z.m.controlAddr,
    zmqInfoAddr: z.m.infoAddr,
    user: "bench",
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const t0 = nowMs();
      const { task_uid } = await api.functionExecute(NOOP);
      if (typeof task_uid !== "string") throw new Error("function_execute gave no task_uid");
      await api.waitForCompletedTask(task_uid, { timeout: 30 });
      if (i >= WARMUP) times.push(nowMs() - t0);
    }
    return { ...spread(times), n };
  } finally {
    await api.close();
    await z.stop();
  }
}

export interface PrintingResult {
  quietMedianMs: number;
  printingMedianMs: number;
  ratio: number;
  n: number;
}

/**
 * A function that prints three lines (as the example profile's
 * `function_sleep(0)`) beside the silent no-op, alternated in one manager with
 * the info socket on (so the lines are published on QS_Console): execute →
 * completed by raw `task_result` polling. Ratio printing/quiet (target ≤ 1.1).
 */
export async function benchPrinting(n = 400): Promise<PrintingResult> {
  const z = await startNoopManager({ info: true, timeoutMs: 5000 });
  try {
    const times: Record<"noop" | "noop_print", number[]> = { noop: [], noop_print: [] };
    for (let i = 0; i < 2 * (n + WARMUP); i++) {
      const name = i % 2 === 0 ? "noop" : "noop_print";
      const t0 = nowMs();
      const r = await z.c.request("function_execute", {
        ...noopExecute(false),
        item: { item_type: "function", name },
      });
      const uid = r.task_uid as string;
      for (;;) {
        const res = await z.c.request("task_result", { task_uid: uid });
        if (res.status === "completed") break;
      }
      if (i >= 2 * WARMUP) times[name].push(nowMs() - t0);
    }
    const quiet = spread(times.noop).median;
    const printing = spread(times.noop_print).median;
    return { quietMedianMs: quiet, printingMedianMs: printing, ratio: printing / quiet, n };
  } finally {
    await z.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 500);
  const r = await benchTasks(n);
  console.log(`no-op task: execute → completed, ${r.n} tasks`);
  console.log(
    `  median ${fmt(r.taskMedianMs)} ms (p99 ${fmt(r.taskP99Ms)} ms), raw task_result polling`,
  );
  console.log(`  raw zeromq.js REQ/REP round trip median ${fmt(r.echoMedianMs)} ms`);
  console.log(`  ratio task/echo ${fmt(r.ratio, 2)} (target of issue 12: ≤ 5)`);
  const p = await benchPrinting(n);
  console.log(
    `  printing 3 lines: median ${fmt(p.printingMedianMs)} ms vs ${fmt(p.quietMedianMs)} ms silent (ratio ${fmt(p.ratio, 2)})`,
  );
  const w = await benchClientWait(n);
  console.log(
    `  through the zqs client (functionExecute + waitForCompletedTask): median ${fmt(w.median)} ms, p99 ${fmt(w.p99)} ms`,
  );
}
