/** Completed results are kept for the retention time, then purged by a timer. */
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
