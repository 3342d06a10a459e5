/**
 * bench:waits — how soon `waitForCompletedTask` returns after a task ends (by
 * the task's own time_stop), woken by the info socket and polling without it,
 * beside the raw zeromq.js REQ/REP round trip measured in the same run. The
 * tests check that a wait returns after the end; how soon is measured here.
 */
import { BFunc, REManagerAPI } from "../src/client/index.js";
import { encode } from "../src/protocol/index.js";
import { startManager } from "../test/helpers/manager.js";
import { fmt, median, percentile, sequentialTimes, startEchoServer } from "./lib.js";

export interface WaitsResult {
  infoMedianMs: number;
  infoP99Ms: number;
  pollMedianMs: number;
  pollP99Ms: number;
  echoMedianMs: number;
  n: number;
}

/** Milliseconds from each task's time_stop to the return of the wait for it. */
async function lags(api: REManagerAPI, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const r = await api.functionExecute(new BFunc("function_sleep", [0.05]), {
      run_in_background: true,
    });
    const uid = r.task_uid as string;
    await api.waitForCompletedTask(uid, { timeout: 60 });
    const back = Date.now();
    const res = (await api.taskResult(uid)).result as { time_stop: number };
    if (i >= 5) out.push(back - res.time_stop * 1000);
  }
  return out;
}

export async function benchWaits(n = 100): Promise<WaitsResult> {
  const m = await startManager({ checkReplies: false });
  const timeouts = { timeoutSend: 60, timeoutRecv: 60 };
  const info = new REManagerAPI({
    zmqControlAddr: m.controlAddr,
    zmqInfoAddr: m.infoAddr,
    ...timeouts,
  });
  const poll = new REManagerAPI({ zmqControlAddr: m.controlAddr, zmqInfoAddr: null, ...timeouts });
  try {
    await info.environmentOpen();
    await info.waitForCondition((s) => s.worker_environment_exists, { timeout: 120 });
    const viaInfo = await lags(info, n);
    const viaPoll = await lags(poll, n);
    const rep = await startEchoServer("rep");
    const echo = await sequentialTimes(
      rep.address,
      encode({ method: "task_status", params: { task_uid: "x" } }, "json"),
      n,
    );
    rep.stop();
    return {
      infoMedianMs: median(viaInfo),
      infoP99Ms: percentile(viaInfo, 99),
      pollMedianMs: median(viaPoll),
      pollP99Ms: percentile(viaPoll, 99),
      echoMedianMs: median(echo),
      n,
    };
  } finally {
    await info.close();
    await poll.close();
    await m.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchWaits(Number(process.env.BENCH_N ?? 100));
  console.log(`waitForCompletedTask: from the task's time_stop to the wait's return, ${r.n} tasks`);
  console.log(`  info socket: median ${fmt(r.infoMedianMs)} ms (p99 ${fmt(r.infoP99Ms)} ms)`);
  console.log(`  polling:     median ${fmt(r.pollMedianMs)} ms (p99 ${fmt(r.pollP99Ms)} ms)`);
  console.log(`  raw zeromq.js REQ/REP round trip median ${fmt(r.echoMedianMs)} ms`);
}
