/**
 * Background task throughput: no-op functions submitted pipelined (16 in
 * flight) with run_in_background, counted until the last one has completed,
 * beside a bare ROUTER echo with the same number of requests in flight.
 */
import path from "node:path";
import { encode } from "../src/protocol/index.js";
import { RawClient, ROOT, startManager, waitUntil } from "../test/helpers/manager.js";
import { fmt, nowMs, pipelinedRate, startEchoServer } from "./lib.js";

export interface Throughput {
  workers: number;
  tasksPerSec: number;
  echoPerSec: number;
  ratio: number;
  n: number;
}

export async function benchThroughput(
  n = 5000,
  workers = 1,
  inFlight = 16,
  extraArgs: string[] = [],
): Promise<Throughput> {
  const m = await startManager({
    checkReplies: false,
    examples: false,
    publishConsole: false,
    args: [
      "--startup-dir",
      path.join(ROOT, "bench/startup"),
      "--workers",
      String(workers),
      ...extraArgs,
    ],
  });
  const router = await startEchoServer("router");
  const c = new RawClient(m.controlAddr, { timeoutMs: 30_000 });
  try {
    await c.request("environment_open");
    await waitUntil(async () => (await c.request("status")).worker_environment_exists, 20_000);
    const body = encode(
      {
        method: "function_execute",
        params: {
          item: { item_type: "function", name: "noop" },
          user: "bench",
          user_group: "primary",
          run_in_background: true,
        },
      },
      "json",
    );
    const echoPerSec = await pipelinedRate(router.address, () => body, n, inFlight);
    let last = "";
    const t0 = nowMs();
    await pipelinedRate(
      m.controlAddr,
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
      const s = await c.request("task_status", { task_uid: last });
      if (s.status === "completed" && (await c.request("status")).worker_background_tasks === 0)
        break;
    }
    const tasksPerSec = n / ((nowMs() - t0) / 1000);
    return { workers, tasksPerSec, echoPerSec, ratio: tasksPerSec / echoPerSec, n };
  } finally {
    c.close();
    router.stop();
    await m.stop();
  }
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
}
