/**
 * A CPU-bound task ignores its AbortSignal: after the cancel grace its worker
 * process is replaced, the task sharing it fails saying why, and the
 * environment is opened again by itself.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import {
  eventNames,
  execute,
  fn,
  info,
  openEnvironment,
  waitCompleted,
  waitFinal,
} from "../helpers/tasks.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";
import { STARTUP } from "./helpers.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
let events: InfoListener | undefined;
afterEach(async () => {
  events?.close();
  c?.close();
  await m?.stop();
});

it("cancel of a CPU-bound task replaces its worker; the other running task fails; the environment is open again", async () => {
  m = await startManager({
    infoInterval: BRISK_INFO_INTERVAL,
    startup: STARTUP,
    args: ["--cancel-grace", "0.5"],
  });
  c = new RawClient(m.controlAddr);
  events = await new InfoListener(m.infoAddr, ["QS_Task"]).ready();
  await openEnvironment(c);
  const managerPid = m.proc.pid as number;
  const [workerPid] = childPids(managerPid);
  expect(workerPid).toBeDefined();

  const other = await execute(c, fn("wait", [30]), { run_in_background: true });
  const looping = path.join(m.tmpDir, "looping");
  const spin = await execute(c, fn("spin", [looping]), { run_in_background: true });
  const client = c;
  // The file is written right before the endless loop.
  await waitUntil(() => existsSync(looping));

  const t0 = Date.now();
  const r = await c.request("task_cancel", { task_uid: spin });
  expect(r).toMatchObject({ success: true, task_uid: spin, result: "cancelling" });
  expect(r.msg).toContain("within 0.5 s");
  expect(r.msg).toContain("the environment is re-opened automatically");

  const si = await waitFinal(c, spin);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  expect(si.state).toBe("cancelled");
  expect(si.message).toContain("did not stop within 0.5 s, so its worker process was replaced");
  const oi = await waitFinal(c, other);
  expect(oi.state).toBe("failed");
  expect(oi.message).toContain(`replaced to end task '${spin}'`);
  expect(oi.message).toContain("re-opened automatically");
  const or = await c.request("task_result", { task_uid: other });
  expect(or).toMatchObject({ status: "completed", result: { success: false } });

  // The environment comes back by itself, in a new process.
  await waitUntil(async () => {
    const s = await client.request("status");
    return s.worker_environment_exists === true && s.manager_state === "idle";
  }, ENV_OPEN_MS);
  const pids = childPids(managerPid);
  expect(pids).toHaveLength(1);
  expect(pids[0]).not.toBe(workerPid);
  const next = await execute(c, fn("wait", [0]), { run_in_background: true });
  expect(await waitCompleted(c, next)).toMatchObject({ success: true, return_value: 0 });
  const ni = await info(c, next);
  expect(ni.worker).not.toBe(si.worker);

  expect(await eventNames(events, spin, "task-revoked")).toEqual([
    "task-sent",
    "task-received",
    "task-started",
    "task-revoked",
  ]);
  expect(await eventNames(events, other, "task-failed")).toEqual([
    "task-sent",
    "task-received",
    "task-started",
    "task-failed",
  ]);
  expect(m.output()).toContain("re-opening the environment");
});
