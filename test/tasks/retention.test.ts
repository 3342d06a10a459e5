/** Completed results are kept for the retention time, then purged by a timer. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitCompleted } from "./helpers.js";

let m: RunningManager;
let c: RawClient;
beforeAll(async () => {
  m = await startManager({ args: ["--task-results-retention", "1"] });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
});
afterAll(async () => {
  c.close();
  await m.stop();
});

it("finds a result before the retention ends and not_found after, with no other task", async () => {
  const uid = await execute(c, fn("function_sleep", [0]));
  const r = await waitCompleted(c, uid);
  expect(r.success).toBe(true);
  await new Promise((res) => setTimeout(res, 500));
  expect((await c.request("task_status", { task_uid: uid })).status).toBe("completed");
  await new Promise((res) => setTimeout(res, 1200));
  expect((await c.request("task_status", { task_uid: uid })).status).toBe("not_found");
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
    c1.close();
    m1.proc.kill("SIGKILL");
    await m1.exited;

    const m2 = await startManager({ args: [...store, "--task-results-retention", "1"] });
    const c2 = new RawClient(m2.controlAddr);
    try {
      expect((await c2.request("task_status", { task_uid: old })).status).toBe("completed");
      await openEnvironment(c2);
      const fresh = await execute(c2, fn("function_sleep", [0]));
      await waitCompleted(c2, fresh);
      await new Promise((res) => setTimeout(res, 2500));
      const status = await c2.request("task_status", { task_uid: [old, fresh] });
      expect(status.status).toEqual({ [old]: "not_found", [fresh]: "not_found" });
    } finally {
      c2.close();
      await m2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
