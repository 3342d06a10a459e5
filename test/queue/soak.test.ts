/**
 * Loop mode for 12,000 plan executions (where the Python server leaked): the
 * manager's and the worker's memory stay flat. The history grows by design
 * (one item per execution), so it is cleared every 2,000 executions; what is
 * measured is everything else.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  RawClient,
  rssMb,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { openEnvironment, USER } from "../helpers/tasks.js";

const TOTAL = 12_000;
const CLEAR_EVERY = 2_000;
/** Growth allowed between the warm-up reading and the end, per process. */
const BOUND_MB = 30;

let m: RunningManager;
let c: RawClient;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "zqs-loop-"));
  writeFileSync(path.join(dir, "plans.mjs"), "export async function* noop() {}\n");
  m = await startManager({ examples: false, publishConsole: false, args: ["--startup-dir", dir] });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
});
afterAll(async () => {
  c.close();
  await m.stop();
  rmSync(dir, { recursive: true, force: true });
});

it(`runs ${TOTAL} plans in loop mode with flat memory`, { timeout: 600_000 }, async () => {
  const add = await c.request("queue_item_add", {
    item: { item_type: "plan", name: "noop" },
    ...USER,
  });
  expect(add.success, String(add.msg)).toBe(true);
  expect((await c.request("queue_mode_set", { mode: { loop: true } })).success).toBe(true);
  expect((await c.request("queue_start")).success).toBe(true);

  const managerPid = m.proc.pid as number;
  const workerPid = childPids(managerPid)[0] as number;
  expect(workerPid).toBeGreaterThan(0);
  let done = 0;
  let warm: { manager: number; worker: number } | undefined;
  while (done < TOTAL) {
    await waitUntil(
      async () => ((await c.request("status")).items_in_history as number) >= CLEAR_EVERY,
      120_000,
      50,
    );
    const h = await c.request("history_get");
    const items = h.items as { result: { exit_status: string } }[];
    expect(items.every((i) => i.result.exit_status === "completed")).toBe(true);
    // Clear what was counted: history_clear keeps the newest `size` items.
    const counted = items.length;
    expect((await c.request("history_clear", { size: 0 })).success).toBe(true);
    done += counted;
    // The heap reaches its working size first (not a leak): measure from 4,000 on.
    if (!warm && done >= 2 * CLEAR_EVERY) {
      warm = { manager: rssMb(managerPid), worker: rssMb(workerPid) };
    }
  }
  expect((await c.request("queue_stop")).success).toBe(true);
  await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  const end = { manager: rssMb(managerPid), worker: rssMb(workerPid) };
  console.log(
    `loop soak: ${done} plans; RSS manager ${warm?.manager.toFixed(1)} → ${end.manager.toFixed(1)} MB, ` +
      `worker ${warm?.worker.toFixed(1)} → ${end.worker.toFixed(1)} MB (bound +${BOUND_MB} MB each)`,
  );
  expect(end.manager - (warm?.manager ?? 0)).toBeLessThan(BOUND_MB);
  expect(end.worker - (warm?.worker ?? 0)).toBeLessThan(BOUND_MB);
  // The queue still holds the one looping item, under a new uid each time.
  const q = (await c.request("queue_get")).items as { name: string }[];
  expect(q.map((i) => i.name)).toEqual(["noop"]);
});
