/**
 * Runs survive a restart of the manager (kill -9) on the same store: the run
 * is found with all its tasks, those the crash cut off failed, none waiting
 * or computing; run_restart completes it once the environment is open; the
 * outcomes outlive the task results' retention; run_delete forgets the run
 * for good. Run against both stores (LMDB in a temp dir; a real redis-server).
 *
 * What a crash keeps is what was durable when it came. A task's result is
 * written with the other quiet writes just after the task ends, so a client
 * may see a task done a moment before its result is durable; a crash in that
 * moment makes the task "cut off" after the restart. The tests therefore
 * make a reply that is durable (run_create, run_delete) before each kill: the
 * store writes in order, so what was saved before that reply is durable too.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RawClient, waitUntil, type RunningManager } from "../helpers/manager.js";
import { newGate } from "../helpers/startup.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { durable, fn, openEnvironment, USER } from "../helpers/tasks.js";
import { startPool } from "../pool/helpers.js";
import { runInfo, waitRun } from "./helpers.js";

const pools: RunningManager[] = [];
const clients: RawClient[] = [];

async function start(args: string[]): Promise<RawClient> {
  const pool = await startPool(2, args);
  pools.push(pool);
  const c = new RawClient(pool.controlAddr);
  clients.push(c);
  return c;
}

/** Make what was saved durable, then kill -9 the newest manager. */
async function crash(c: RawClient): Promise<void> {
  await durable(c, fn("noop"));
  await (pools[pools.length - 1] as RunningManager).kill9();
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
    // Indexes 0-3 return at once; the others wait for a gate that opens after the crash.
    const gate = newGate();
    const created = await c1.request("run_create", {
      ...USER,
      function: fn("gate"),
      items: Array.from({ length: 20 }, (_, i) => ({ args: i < 4 ? [] : [gate.path] })),
      concurrency: 2,
    });
    expect(created.success, String(created.msg)).toBe(true);
    const runUid = created.run_uid as string;
    const uids = created.task_uids as string[];
    await waitRun(c1, runUid, (i) => i.num_done === 4 && i.num_computing === 2);
    await crash(c1);

    const c2 = await start(store.args);
    const after = await runInfo(c2, runUid);
    // What was done before the crash is still done; the rest was cut off.
    expect(after).toMatchObject({
      num_tasks: 20,
      num_done: 4,
      num_failed: 16,
      num_waiting: 0,
      num_computing: 0,
      percent_done: 100,
      task_uids: uids,
    });
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
      name: "gate",
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
    gate.open();
    const restarted = await c2.request("run_restart", { run_uid: runUid });
    expect(restarted.success, String(restarted.msg)).toBe(true);
    const fresh = restarted.task_uids as string[];
    expect(fresh).toHaveLength(after.num_failed);
    const done = await waitRun(c2, runUid, (i) => i.num_done + i.num_failed === 20);
    expect(done.num_failed).toBe(0);
    // The restarted tasks replaced the cut ones, index for index.
    expect(done.task_uids.slice(0, 4)).toEqual(uids.slice(0, 4));
    expect(done.task_uids.slice(4)).toEqual(fresh);
    await crash(c2);

    // The restart was stored: the new task UIDs, all done.
    const c3 = await start(store.args);
    const again = await runInfo(c3, runUid);
    expect(again).toMatchObject({ num_tasks: 20, num_done: 20, num_failed: 0 });
    expect(again.task_uids).toEqual(done.task_uids);
  });

  it("keeps the outcomes past the results' retention; run_delete forgets the run", async () => {
    // Results purged as soon as they are seen: the outcomes must be written before that.
    const retention = ["--task-results-retention", "0"];
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
    const ended = await waitRun(c1, runUid, (i) => i.num_done + i.num_failed === 6);
    expect(ended).toMatchObject({ num_done: 4, num_failed: 2 });
    // The results are purged after their retention; the run's outcome string,
    // written at most once a second otherwise, is written before each purge.
    await waitUntil(async () => {
      const r = await c1.request("task_info", { task_uid: uids });
      const infos = Object.values(r.task_info as Record<string, { state: string }>);
      return infos.every((i) => i.state === "expired");
    });
    await crash(c1);

    const c2 = await start([...store.args, ...retention]);
    const info = await runInfo(c2, runUid);
    expect(info).toMatchObject({ num_tasks: 6, num_done: 4, num_failed: 2, task_uids: uids });
    // Purged results stay purged: no index is taken for cut off.
    for (const task_uid of uids) {
      expect((await c2.request("task_result", { task_uid })).status).toBe("not_found");
    }

    const del = await c2.request("run_delete", { run_uid: runUid });
    expect(del.success, String(del.msg)).toBe(true);
    await pools[pools.length - 1]?.kill9();

    const c3 = await start([...store.args, ...retention]);
    const gone = await c3.request("run_info", { run_uid: runUid });
    expect(gone.success).toBe(false);
    expect(String(gone.msg)).toMatch(/is not found/);
    expect(await runsList(c3)).toEqual([]);
  });
});
