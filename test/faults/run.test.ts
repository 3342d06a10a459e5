/**
 * kill -9 of a worker during a run: the tasks it held fail with a message
 * saying the worker was lost, the run's counts stay consistent at every read,
 * the pool is whole again, and run_restart finishes the run.
 */
import { afterEach, expect, it } from "vitest";
import { RawClient, waitUntil } from "../helpers/manager.js";
import type { PoolManager } from "../pool/helpers.js";
import { startPool } from "../pool/helpers.js";
import { runInfo, type RunInfo } from "../runs/helpers.js";
import { childPids, fn, openEnvironment, USER } from "../tasks/helpers.js";

let pool: PoolManager | undefined;
let c: RawClient | undefined;
afterEach(async () => {
  c?.close();
  await pool?.stop();
});

it("a pool worker killed mid-run fails its tasks with a clear message; restart completes the run", async () => {
  pool = await startPool(2);
  c = new RawClient(pool.m.controlAddr, { timeoutMs: 10_000 });
  await openEnvironment(c);
  const managerPid = pool.m.proc.pid as number;
  const before = childPids(managerPid);
  expect(before).toHaveLength(2);

  const created = await c.request("run_create", {
    ...USER,
    function: fn("hold", [0.4]),
    count: 8,
  });
  expect(created.success, String(created.msg)).toBe(true);
  const run_uid = created.run_uid as string;
  await waitUntil(async () => (await runInfo(c as RawClient, run_uid)).num_computing === 2);
  // The pool worker (not the main one, which holds the environment).
  const victim = before[1] as number;
  process.kill(victim, "SIGKILL");

  const ended = (await waitUntil(async () => {
    const i = await runInfo(c as RawClient, run_uid);
    return i.num_done + i.num_failed === i.num_tasks ? i : undefined;
  }, 20_000)) as RunInfo;
  expect(ended.num_failed).toBeGreaterThanOrEqual(1);
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
  }, 10_000);
  expect((await c.request("status")).worker_environment_exists).toBe(true);

  const again = await c.request("run_restart", { run_uid });
  expect(again.success, String(again.msg)).toBe(true);
  const done = (await waitUntil(async () => {
    const i = await runInfo(c as RawClient, run_uid);
    return i.num_done === i.num_tasks ? i : undefined;
  }, 20_000)) as RunInfo;
  expect(done.num_failed).toBe(0);
});
