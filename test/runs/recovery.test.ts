/**
 * Runs survive a restart of the manager (kill -9) on the same store: the run
 * is found with all its tasks, those the crash cut off failed, none waiting
 * or computing; run_restart completes it once the environment is open; the
 * outcomes outlive the task results' retention; run_delete forgets the run
 * for good. Run against both stores (LMDB in a temp dir; a real redis-server).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RawClient, waitUntil } from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { runInfo, type RunInfo } from "./helpers.js";
import { fn, openEnvironment, USER } from "../tasks/helpers.js";
import type { PoolManager } from "../pool/helpers.js";
import { startPool } from "../pool/helpers.js";

const pools: PoolManager[] = [];
const clients: RawClient[] = [];

async function start(args: string[]): Promise<RawClient> {
  const pool = await startPool(2, args);
  pools.push(pool);
  const c = new RawClient(pool.m.controlAddr, { timeoutMs: 10_000 });
  clients.push(c);
  return c;
}

/** kill -9 of the newest manager. */
async function kill9(): Promise<void> {
  const pool = pools[pools.length - 1] as PoolManager;
  pool.m.proc.kill("SIGKILL");
  await pool.m.exited;
}

async function runsList(c: RawClient): Promise<Record<string, unknown>[]> {
  const r = await c.request("runs_list");
  expect(r.success, String(r.msg)).toBe(true);
  return r.runs as Record<string, unknown>[];
}

describe.each(STORES)("runs after kill -9 (%s store)", (_label, makeStore) => {
  // A fresh store for each test.
  let store: StoreSetup;
  beforeEach(async () => {
    store = await makeStore();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of pools.splice(0)) await p.stop();
    await store.cleanup();
  });

  it("restores a run cut off in the middle, and run_restart completes it", async () => {
    const c1 = await start(store.args);
    await openEnvironment(c1);
    const created = await c1.request("run_create", {
      ...USER,
      function: fn("hold", [0.2]),
      count: 20,
      concurrency: 2,
    });
    expect(created.success, String(created.msg)).toBe(true);
    const runUid = created.run_uid as string;
    const uids = created.task_uids as string[];
    const before = (await waitUntil(async () => {
      const i = await runInfo(c1, runUid);
      return i.num_done >= 4 ? i : undefined;
    }, 20_000)) as RunInfo;
    expect(before.num_done).toBeLessThan(20);
    await kill9();

    const c2 = await start(store.args);
    const after = await runInfo(c2, runUid);
    expect(after).toMatchObject({
      num_tasks: 20,
      num_waiting: 0,
      num_computing: 0,
      percent_done: 100,
      task_uids: uids,
    });
    expect(after.num_done + after.num_failed).toBe(20);
    // What was done before the crash is still done; the rest was cut off.
    expect(after.num_done).toBeGreaterThanOrEqual(before.num_done);
    expect(after.num_failed).toBeGreaterThan(0);
    const cut: string[] = [];
    for (const task_uid of uids) {
      const r = await c2.request("task_result", { task_uid });
      const result = r.result as { success: boolean; msg: string };
      if (!result.success) {
        expect(result.msg).toBe(
          "The manager stopped before the task ended: its outcome is unknown",
        );
        cut.push(task_uid);
      }
    }
    expect(cut).toHaveLength(after.num_failed);

    const listed = await runsList(c2);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      run_uid: runUid,
      name: "hold",
      user: USER.user,
      user_group: USER.user_group,
      concurrency: 2,
      num_tasks: 20,
      num_done: after.num_done,
      num_failed: after.num_failed,
    });

    // The environment is closed after the crash: a restart needs it open.
    expect((await c2.request("run_restart", { run_uid: runUid })).success).toBe(false);
    await openEnvironment(c2);
    const restarted = await c2.request("run_restart", { run_uid: runUid });
    expect(restarted.success, String(restarted.msg)).toBe(true);
    const fresh = restarted.task_uids as string[];
    expect(fresh).toHaveLength(after.num_failed);
    const done = (await waitUntil(async () => {
      const i = await runInfo(c2, runUid);
      return i.num_done === 20 ? i : undefined;
    }, 20_000)) as RunInfo;
    expect(done.num_failed).toBe(0);
    // The restarted tasks replaced the cut ones, index for index.
    expect(done.task_uids.filter((u) => !uids.includes(u)).sort()).toEqual([...fresh].sort());
    await kill9();

    // The restart was stored: the new task UIDs, all done.
    const c3 = await start(store.args);
    const again = await runInfo(c3, runUid);
    expect(again).toMatchObject({ num_tasks: 20, num_done: 20, num_failed: 0 });
    expect(again.task_uids).toEqual(done.task_uids);
  });

  it("keeps the outcomes past the results' retention; run_delete forgets the run", async () => {
    const retention = ["--task-results-retention", "1"];
    const c1 = await start([...store.args, ...retention]);
    await openEnvironment(c1);
    const created = await c1.request("run_create", {
      ...USER,
      function: fn("picky"),
      items: [0, 1, 2, 3, 4, 5].map(() => ({ args: [[1, 4], "/nonexistent/zqs-marker"] })),
      concurrency: 3,
    });
    expect(created.success, String(created.msg)).toBe(true);
    const runUid = created.run_uid as string;
    const uids = created.task_uids as string[];
    await waitUntil(async () => {
      const i = await runInfo(c1, runUid);
      return i.num_done + i.num_failed === 6;
    }, 20_000);
    expect(await runInfo(c1, runUid)).toMatchObject({ num_done: 4, num_failed: 2 });
    // The results are purged (1 s) and the outcomes written (at most 1 s later).
    await waitUntil(async () => {
      const r = await c1.request("task_info", { task_uid: uids[0] });
      return (r.task_info as { state: string }).state === "expired";
    }, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    await kill9();

    const c2 = await start([...store.args, ...retention]);
    const info = await runInfo(c2, runUid);
    expect(info).toMatchObject({ num_tasks: 6, num_done: 4, num_failed: 2, task_uids: uids });
    const r = await c2.request("task_result", { task_uid: uids[1] });
    expect(r.status).toBe("not_found");

    const del = await c2.request("run_delete", { run_uid: runUid });
    expect(del.success, String(del.msg)).toBe(true);
    await kill9();

    const c3 = await start([...store.args, ...retention]);
    const gone = await c3.request("run_info", { run_uid: runUid });
    expect(gone.success).toBe(false);
    expect(String(gone.msg)).toMatch(/is not found/);
    expect(await runsList(c3)).toEqual([]);
  });
});
