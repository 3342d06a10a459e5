/**
 * 1,000,000 no-op background tasks with a retention of 1 s (issue: load): all
 * complete, their results are purged, and the manager's memory stays under a
 * bound after the warm-up. Submitted pipelined (16 in flight on one DEALER),
 * with `--store-sync os`.
 * It keeps a core or more busy for about two minutes: it starts first, in a
 * worker of its own, beside the rest of the suite (test/sequencer.ts).
 */
import path from "node:path";
import { expect, it } from "vitest";
import { ROOT, rssMb, waitUntil } from "../helpers/manager.js";
import { pipelined } from "../helpers/pipeline.js";
import { useOpenManager } from "../helpers/tasks.js";

const TOTAL = Number(process.env.ZQS_SOAK_TASKS ?? 1_000_000);
const IN_FLIGHT = 16;
const SAMPLE_EVERY = TOTAL / 10;
/** Growth allowed after the first tenth (the heap's warm-up), in MB. */
const BOUND_MB = 80;

const open = useOpenManager({
  examples: false,
  publishConsole: false,
  args: [
    "--startup-dir",
    path.join(ROOT, "bench/startup"),
    "--task-results-retention",
    "1",
    // What is measured is memory: each change counts once committed to the OS, not
    // flushed to disk (a disk flush per group commit would only make the soak longer).
    "--store-sync",
    "os",
    "--quiet",
  ],
});

it(
  `runs ${TOTAL} no-op tasks with retention 1 s in bounded memory`,
  // A failure guard: about 2 minutes on an idle machine, 15 beside two CPU hogs.
  { timeout: 1_800_000 },
  async () => {
    const { m, c } = open;
    const pid = m.proc.pid as number;
    const samples: number[] = [];
    let first = "";
    let last = "";
    let refused = 0;
    const t0 = Date.now();
    const request = {
      method: "function_execute",
      params: {
        item: { item_type: "function", name: "noop" },
        user: "soak",
        user_group: "primary",
        run_in_background: true,
      },
    };
    await pipelined(
      m.controlAddr,
      request,
      TOTAL,
      (r, got) => {
        if (r.success !== true) refused++;
        first ||= r.task_uid as string;
        last = r.task_uid as string;
        if (got % SAMPLE_EVERY === 0) samples.push(rssMb(pid));
      },
      IN_FLIGHT,
    );
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: last })).status === "completed",
    );
    const seconds = (Date.now() - t0) / 1000;
    // The first results are past their retention: purged.
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: first })).status === "not_found",
    );
    const s = await c.request("status");
    const warm = samples[0] as number;
    const peak = Math.max(...samples);
    console.log(
      `soak: ${TOTAL} tasks in ${seconds.toFixed(0)} s (${(TOTAL / seconds).toFixed(0)}/s); ` +
        `manager RSS per tenth: ${samples.map((x) => x.toFixed(0)).join(" ")} MB ` +
        `(growth after the first tenth ${(peak - warm).toFixed(1)} MB, bound ${BOUND_MB} MB)`,
    );
    expect(refused).toBe(0);
    expect(s.worker_background_tasks).toBe(0);
    expect(peak - warm).toBeLessThan(BOUND_MB);
  },
);
