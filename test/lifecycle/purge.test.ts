/** A purged task answers `expired` in task_info (a never-seen one: not_found). */
import { afterEach, expect, it } from "vitest";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { execute, fn, info, openEnvironment, waitCompleted } from "../helpers/tasks.js";
import { STARTUP } from "./helpers.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
afterEach(async () => {
  c?.close();
  await m?.stop();
});

it("task_info of a purged UID is expired; task_status says not_found; cancel says already_completed", async () => {
  m = await startManager({ startup: STARTUP, args: ["--task-results-retention", "1"] });
  c = new RawClient(m.controlAddr);
  const client = c;
  await openEnvironment(c);
  const uid = await execute(c, fn("wait", [0]), { run_in_background: true });
  const done = await waitCompleted(c, uid);
  // Completed while its retention lasts (read against the server's own time_stop).
  const kept = await info(c, uid);
  if (Date.now() < (done.time_stop as number) * 1000 + 1000) expect(kept.state).toBe("completed");
  else expect(["completed", "expired"]).toContain(kept.state);
  await waitUntil(
    async () => (await client.request("task_status", { task_uid: uid })).status === "not_found",
    undefined,
    50,
  );
  const i = await info(c, uid);
  expect(i).toMatchObject({ task_uid: uid, state: "expired", attempts: 0, created_at: null });
  expect(i.message).toContain("purged");
  expect((await info(c, "never-seen")).state).toBe("not_found");
  expect((await c.request("task_result", { task_uid: uid })).status).toBe("not_found");
  expect((await c.request("task_cancel", { task_uid: uid })).result).toBe("already_completed");
  expect((await c.request("task_cancel", { task_uid: "never-seen" })).result).toBe("not_found");
  // A purged task cannot be waited for: its outcome is no longer known.
  const r = await c.request("function_execute", {
    item: fn("wait", [0]),
    user: "u",
    user_group: "primary",
    run_in_background: true,
    after: [uid],
  });
  expect(r.success).toBe(false);
  expect(r.msg).toContain("never seen, or its result was purged");
});
