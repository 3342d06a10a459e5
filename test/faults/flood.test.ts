/**
 * A worker that floods its stdout (a user function writing megabytes in a
 * tight loop) while the manager stays responsive: `status` is asked over and
 * over while the flood lasts and must be answered during it (by the server's
 * own times), not only after; the p50/p99/max latencies are printed (how fast
 * is a benchmark's matter). The output reaches QS_Console (the part a
 * subscriber can take), and the manager's memory stays bounded.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  EXAMPLES,
  InfoListener,
  RawClient,
  rssMb,
  sleep,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitCompleted } from "../helpers/tasks.js";

/** MiB each flood writes (the manager reads output at up to 8 MiB/s: a few seconds). */
const FLOOD_MIB = 24;

// A synchronous loop (the event loop of the worker never turns while it runs)
// and an asynchronous one (console.log between awaits), 64 KiB lines.
const SCRIPT = `
export function flood_sync(mib) {
  const line = "x".repeat(65535) + "\\n";
  let bytes = 0;
  while (bytes < mib * 2 ** 20) {
    process.stdout.write(line);
    bytes += line.length;
  }
  return { bytes };
}

export async function flood_async(mib) {
  const line = "y".repeat(65535);
  let bytes = 0;
  while (bytes < mib * 2 ** 20) {
    for (let i = 0; i < 16; i++) console.log(line);
    bytes += 16 * 65536;
    await new Promise((r) => setImmediate(r));
  }
  return { bytes };
}
`;

let m: RunningManager;
let c: RawClient;

beforeAll(async () => {
  m = await startManager({
    infoInterval: BRISK_INFO_INTERVAL,
    examples: false,
    args: ["--startup-dir", path.join(EXAMPLES, "startup")],
  });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  const up = await c.request("script_upload", { script: SCRIPT });
  expect(up.success, String(up.msg)).toBe(true);
  const r = await waitCompleted(c, up.task_uid as string);
  expect(r.success, String(r.msg)).toBe(true);
});

afterAll(async () => {
  c?.close();
  await m?.stop();
});

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function floodWhileProbing(name: string) {
  const info = await new InfoListener(m.infoAddr, ["QS_Console"]).ready();
  const probe = new RawClient(m.controlAddr);
  try {
    const rss0 = rssMb(m.proc.pid as number);
    let rssMax = rss0;
    const uid = await execute(c, fn(name, [FLOOD_MIB]));
    const latencies: number[] = [];
    /** The server's time of each answer (status.time: local time, renewed every 100 ms). */
    const answeredAt: number[] = [];
    // Probe while the flood (a foreground task) runs, and once after.
    for (;;) {
      const s = performance.now();
      const st = await probe.request("status");
      latencies.push(performance.now() - s);
      answeredAt.push(new Date(String(st.time)).getTime());
      rssMax = Math.max(rssMax, rssMb(m.proc.pid as number));
      if (st.manager_state !== "executing_task") break;
      await sleep(10); // a pace, so that the probes leave the machine to the flood
    }
    const result = await waitCompleted(c, uid);
    const start = (result.time_start as number) * 1000;
    const stop = (result.time_stop as number) * 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    const consoleBytes = info.messages.reduce((n, msg) => {
      const text = (msg.payload as { msg?: unknown }).msg;
      return n + (typeof text === "string" ? text.length : 0);
    }, 0);
    const stats = {
      function: name,
      flood_ms: Math.round(stop - start),
      written_mb: Number(((result.return_value as { bytes: number }).bytes / 2 ** 20).toFixed(1)),
      qs_console_mb: Number((consoleBytes / 2 ** 20).toFixed(1)),
      probes: latencies.length,
      // Answered while the task ran: between its start and its end, by the server's times.
      probes_during: answeredAt.filter((t) => t > start + 100 && t < stop - 100).length,
      p50_ms: Number(pct(sorted, 50).toFixed(2)),
      p99_ms: Number(pct(sorted, 99).toFixed(2)),
      max_ms: Number((sorted[sorted.length - 1] ?? NaN).toFixed(2)),
      manager_rss_mb: { before: Math.round(rss0), max: Math.round(rssMax) },
    };
    console.log(`stdout flood: ${JSON.stringify(stats)}`);
    return { result, stats };
  } finally {
    probe.close();
    info.close();
  }
}

describe("a worker flooding stdout", () => {
  it.each(["flood_sync", "flood_async"])(
    "%s: status answered during the flood, not after it; the task completes",
    async (name) => {
      const { result, stats } = await floodWhileProbing(name);
      expect(result.success, String(result.msg)).toBe(true);
      // Megabytes were written (not a trickle), and some of it was published.
      expect(stats.written_mb).toBeGreaterThanOrEqual(FLOOD_MIB);
      expect(stats.qs_console_mb).toBeGreaterThan(1);
      // The manager answered while the flood went on: a manager that stopped
      // reading requests until the output was drained answers none of them.
      expect(stats.probes_during, JSON.stringify(stats)).toBeGreaterThanOrEqual(5);
      // Output is not piled up in the manager without bound.
      expect(stats.manager_rss_mb.max - stats.manager_rss_mb.before).toBeLessThan(300);
      // The environment is still there and idle.
      const st = await c.request("status");
      expect(st).toMatchObject({ worker_environment_exists: true, manager_state: "idle" });
    },
  );
});
