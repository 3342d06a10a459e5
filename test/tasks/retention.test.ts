/** Completed results are kept for the retention time, then purged by a timer. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { RawClient, startManager } from "../helpers/manager.js";
import {
  durable,
  execute,
  fn,
  openEnvironment,
  useOpenManager,
  waitCompleted,
} from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";

const open = useOpenManager({ args: ["--task-results-retention", "1"] });

/**
 * Ask task_status until it says not_found; returns every answer with the
 * time it arrived (this machine's clock, the one the server stamps with).
 */
async function statusesUntilPurged(
  client: RawClient,
  uid: string,
): Promise<{ status: string; at: number }[]> {
  const seen: { status: string; at: number }[] = [];
  await waitUntil(
    async () => {
      const status = (await client.request("task_status", { task_uid: uid })).status as string;
      seen.push({ status, at: Date.now() });
      return status === "not_found";
    },
    undefined,
    50,
  );
  return seen;
}

it("finds a result before the retention ends and not_found after, with no other task", async () => {
  const { c } = open;
  const uid = await execute(c, fn("function_sleep", [0]));
  const r = await waitCompleted(c, uid);
  expect(r.success).toBe(true);
  const seen = await statusesUntilPurged(c, uid);
  // Every answer that arrived before time_stop + 1 s said completed (the result
  // expires 1 s after the manager recorded the end, which is after time_stop).
  const retentionEnd = (r.time_stop as number) * 1000 + 1000;
  for (const s of seen.filter((x) => x.at < retentionEnd)) expect(s.status).toBe("completed");
  // Then it was purged, by the timer: no other task came.
  expect(seen[seen.length - 1]?.status).toBe("not_found");
  expect(seen.every((x) => x.status === "completed" || x.status === "not_found")).toBe(true);
  expect(await c.request("task_result", { task_uid: uid })).toMatchObject({
    status: "not_found",
    result: {},
  });
});

it("after a restart with a shorter retention, old and new results are purged on the new time", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-retention-"));
  const store = ["--store-path", path.join(dir, "store")];
  try {
    const m1 = await startManager({ args: [...store, "--task-results-retention", "120"] });
    const c1 = new RawClient(m1.controlAddr);
    await openEnvironment(c1);
    const old = await execute(c1, fn("function_sleep", [0]));
    await waitCompleted(c1, old);
    await durable(c1);
    c1.close();
    await m1.kill9();
    await m1.stop();

    const m2 = await startManager({ args: [...store, "--task-results-retention", "1"] });
    const c2 = new RawClient(m2.controlAddr);
    try {
      expect((await c2.request("task_status", { task_uid: old })).status).toBe("completed");
      await openEnvironment(c2);
      const fresh = await execute(c2, fn("function_sleep", [0]));
      await waitCompleted(c2, fresh);
      // Both go on the new retention: 1 s, not the 120 s the old one was
      // stored with (the guard, 60 s, is shorter).
      await waitUntil(async () => {
        const status = await c2.request("task_status", { task_uid: [old, fresh] });
        return (
          JSON.stringify(status.status) ===
          JSON.stringify({ [old]: "not_found", [fresh]: "not_found" })
        );
      });
    } finally {
      c2.close();
      await m2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
