/**
 * kill -9 of a worker during a run: the tasks it held fail with a message
 * saying the worker was lost, the run's counts stay consistent at every read,
 * the pool is whole again, and run_restart finishes the run.
 */
import { afterEach, expect, it } from "vitest";
import { RawClient, waitUntil, type RunningManager } from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { newGate } from "../helpers/startup.js";
import { fn, openEnvironment, USER } from "../helpers/tasks.js";
import { startPool } from "../pool/helpers.js";
import { waitRun, waitRunEnded } from "../runs/helpers.js";

let pool: RunningManager | undefined;
let c: RawClient | undefined;
afterEach(async () => {
  c?.close();
  await pool?.stop();
});

it("a pool worker killed mid-run fails its tasks with a clear message; restart completes the run", async () => {
  // One task per worker, none dealt ahead: the kill lands on exactly one task.
  pool = await startPool(2, ["--worker-prefetch", "0"]);
  c = new RawClient(pool.controlAddr);
  await openEnvironment(c);
  const managerPid = pool.proc.pid as number;
  const before = childPids(managerPid);
  expect(before).toHaveLength(2);

  // Tasks that run until the gate opens: each worker holds one when the kill lands.
  const gate = newGate();
  const created = await c.request("run_create", {
    ...USER,
    function: fn("gate", [gate.path]),
    count: 8,
  });
  expect(created.success, String(created.msg)).toBe(true);
  const run_uid = created.run_uid as string;
  await waitRun(c, run_uid, (i) => i.num_computing === 2);
  // Both started (a task whose start the manager has not heard when its worker dies
  // is dealt again instead: it may not have begun).
  await waitUntil(async () => {
    const r = await c?.request("tasks_list", { run_uid, state: "running" });
    return (r?.tasks as { started_at: string | null }[]).filter((t) => t.started_at).length === 2;
  });
  // The pool worker (not the main one, which holds the environment).
  const victim = before[1] as number;
  process.kill(victim, "SIGKILL");
  // Its task fails; the others wait for the gate.
  await waitRun(c, run_uid, (i) => i.num_failed === 1);
  gate.open();

  const ended = await waitRunEnded(c, run_uid);
  expect(ended.num_failed).toBe(1);
  const failed: string[] = [];
  for (const task_uid of ended.task_uids) {
    const r = await c.request("task_result", { task_uid });
    const res = r.result as { success: boolean; msg: string };
    if (!res.success) {
      failed.push(task_uid);
      expect(res.msg).toMatch(
        /The worker process was lost \(.*SIGKILL.*\) while the task was running/,
      );
    }
  }
  expect(failed).toHaveLength(ended.num_failed);
  // The pool is whole again, with a new process in place of the killed one.
  await waitUntil(async () => {
    const now = childPids(managerPid);
    return now.length === 2 && !now.includes(victim);
  });
  expect((await c.request("status")).worker_environment_exists).toBe(true);

  const again = await c.request("run_restart", { run_uid });
  expect(again.success, String(again.msg)).toBe(true);
  const done = await waitRunEnded(c, run_uid);
  expect(done).toMatchObject({ num_done: 8, num_failed: 0 });
});
