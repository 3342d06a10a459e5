/**
 * A worker that floods its stdout (a user function writing megabytes in a
 * tight loop for a few seconds) while the manager stays responsive: `status`
 * is asked every 20 ms throughout and each answer must come within 200 ms;
 * the p50/p99/max latencies are printed. The output reaches QS_Console (the
 * part a subscriber can take), and the manager's memory stays bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXAMPLES,
  InfoListener,
  RawClient,
  rssMb,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitCompleted } from "../tasks/helpers.js";
import path from "node:path";

const FLOOD_SECONDS = 3;

// A synchronous loop (the event loop of the worker never turns while it runs)
// and an asynchronous one (console.log between awaits), 64 KiB lines.
const SCRIPT = `
export function flood_sync(seconds) {
  const line = "x".repeat(65535) + "\\n";
  const end = Date.now() + seconds * 1000;
  let bytes = 0;
  while (Date.now() < end) {
    process.stdout.write(line);
    bytes += line.length;
  }
  return { bytes };
}

export async function flood_async(seconds) {
  const line = "y".repeat(65535);
  const end = Date.now() + seconds * 1000;
  let bytes = 0;
  while (Date.now() < end) {
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
  const info = new InfoListener(m.infoAddr, ["QS_Console"]);
  const probe = new RawClient(m.controlAddr, { timeoutMs: 2000 });
  try {
    await new Promise((r) => setTimeout(r, 200)); // the subscription is in place
    const rss0 = rssMb(m.proc.pid as number);
    let rssMax = rss0;
    const uid = await execute(c, fn(name, [FLOOD_SECONDS]));
    const latencies: number[] = [];
    const t0 = Date.now();
    // Probe for the flood and a little after it.
    while (Date.now() - t0 < FLOOD_SECONDS * 1000 + 500) {
      const s = performance.now();
      const st = await probe.request("status");
      latencies.push(performance.now() - s);
      expect(Object.keys(st)).toContain("manager_state");
      rssMax = Math.max(rssMax, rssMb(m.proc.pid as number));
      await new Promise((r) => setTimeout(r, 20));
    }
    const result = await waitCompleted(c, uid, 15_000);
    const sorted = [...latencies].sort((a, b) => a - b);
    const consoleBytes = info.messages.reduce((n, msg) => {
      const text = (msg.payload as { msg?: unknown }).msg;
      return n + (typeof text === "string" ? text.length : 0);
    }, 0);
    const stats = {
      function: name,
      written_mb: Number(((result.return_value as { bytes: number }).bytes / 2 ** 20).toFixed(1)),
      qs_console_mb: Number((consoleBytes / 2 ** 20).toFixed(1)),
      probes: latencies.length,
      p50_ms: Number(pct(sorted, 50).toFixed(2)),
      p99_ms: Number(pct(sorted, 99).toFixed(2)),
      max_ms: Number((sorted[sorted.length - 1] ?? NaN).toFixed(2)),
      manager_rss_mb: { before: Math.round(rss0), max: Math.round(rssMax) },
    };
    console.log(`stdout flood: ${JSON.stringify(stats)}`);
    return { result, latencies, sorted, stats };
  } finally {
    probe.close();
    info.close();
  }
}

describe("a worker flooding stdout", () => {
  it.each(["flood_sync", "flood_async"])(
    "%s: status answered within 200 ms throughout; the task completes",
    async (name) => {
      const { result, sorted, stats } = await floodWhileProbing(name);
      expect(result.success, String(result.msg)).toBe(true);
      // Megabytes were written (not a trickle), and some of it was published.
      expect(stats.written_mb).toBeGreaterThan(10);
      expect(stats.qs_console_mb).toBeGreaterThan(1);
      expect(stats.probes).toBeGreaterThan(FLOOD_SECONDS * 20);
      expect(sorted[sorted.length - 1]).toBeLessThan(200);
      // Output is not piled up in the manager without bound.
      expect(stats.manager_rss_mb.max - stats.manager_rss_mb.before).toBeLessThan(300);
      // The environment is still there and idle.
      const st = await c.request("status");
      expect(st).toMatchObject({ worker_environment_exists: true, manager_state: "idle" });
    },
  );
});
