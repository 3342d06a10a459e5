/**
 * Runs of many tasks (run_create, run_info, run_restart, run_delete,
 * runs_list) over a pool of two workers.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RawClient, waitUntil, type RunningManager } from "../helpers/manager.js";
import { newGate } from "../helpers/startup.js";
import { fn, openEnvironment, USER } from "../helpers/tasks.js";
import { startPool } from "../pool/helpers.js";
import { runInfo, waitRun, waitRunEnded, type RunInfo } from "./helpers.js";

let pool: RunningManager | undefined;
let c: RawClient | undefined;
const dirs: string[] = [];

afterEach(async () => {
  c?.close();
  c = undefined;
  await pool?.stop();
  pool = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(workers = 2): Promise<RawClient> {
  pool = await startPool(workers);
  c = new RawClient(pool.controlAddr);
  await openEnvironment(c);
  return c;
}

async function create(c: RawClient, params: Record<string, unknown>) {
  const r = await c.request("run_create", { ...USER, ...params });
  expect(r.success, String(r.msg)).toBe(true);
  return r as { run_uid: string; task_uids: string[] };
}

interface Result {
  success: boolean;
  msg: string;
  return_value: unknown;
}

async function results(c: RawClient, uids: string[]): Promise<Result[]> {
  const out: Result[] = [];
  for (const task_uid of uids) {
    const r = await c.request("task_result", { task_uid });
    out.push(r.result as Result);
  }
  return out;
}

describe("runs over --workers 2", () => {
  it("1,000 no-op tasks: counts add up at every read and the run ends with 1,000 done", async () => {
    const c = await setup();
    // 999 return at once; the last one waits for the gate, so the run is seen part done.
    const gate = newGate();
    const items = Array.from({ length: 1000 }, (_, i) => ({ args: i === 999 ? [gate.path] : [] }));
    const { run_uid, task_uids } = await create(c, { function: fn("gate"), items });
    expect(task_uids).toHaveLength(1000);
    expect(new Set(task_uids).size).toBe(1000);
    let reads = 0;
    let sawProgress = false;
    let last: RunInfo;
    for (;;) {
      last = await runInfo(c, run_uid); // asserts waiting + computing + done + failed = total
      reads++;
      expect(last.num_tasks).toBe(1000);
      expect(last.task_uids).toEqual(task_uids);
      if (last.num_done > 0 && last.num_done < 1000) sawProgress = true;
      if (last.num_done === 999) gate.open();
      if (last.num_done + last.num_failed === 1000) break;
    }
    expect(last.num_done).toBe(1000);
    expect(last.num_failed).toBe(0);
    expect(last.percent_done).toBe(100);
    expect(reads).toBeGreaterThan(1);
    expect(sawProgress).toBe(true);
    // Spread over both workers; each task names its run.
    const info = (await c.request("task_info", { task_uid: task_uids })).task_info as Record<
      string,
      { worker: string; run_uid: string; state: string }
    >;
    const workers = new Set(Object.values(info).map((i) => i.worker));
    expect(workers.size).toBe(2);
    expect(Object.values(info).every((i) => i.run_uid === run_uid && i.state === "completed")).toBe(
      true,
    );
    const list = (await c.request("runs_list")).runs as Record<string, unknown>[];
    expect(list).toEqual([
      expect.objectContaining({ run_uid, name: "gate", num_tasks: 1000, num_done: 1000 }),
    ]);
  });

  it("items mode gives each task its index and its own arguments; concurrency bounds the tasks computing", async () => {
    const c = await setup();
    const items = [{ args: [1] }, { args: [2], kwargs: { b: 3 } }, {}, { kwargs: { a: 9 } }];
    const { run_uid, task_uids } = await create(c, {
      function: fn("where", ["base"], { a: 1 }),
      items,
    });
    const r = await waitRunEnded(c, run_uid);
    expect(r.num_done).toBe(4);
    const values = (await results(c, task_uids)).map((x) => x.return_value);
    // An item's args replace the function's, its kwargs are merged over the function's.
    expect(values).toEqual([
      { run: { uid: run_uid, index: 0 }, x: 1, a: 1, b: null },
      { run: { uid: run_uid, index: 1 }, x: 2, a: 1, b: 3 },
      { run: { uid: run_uid, index: 2 }, x: "base", a: 1, b: null },
      { run: { uid: run_uid, index: 3 }, x: "base", a: 9, b: null },
    ]);

    // concurrency 1: one task computing at a time, the rest waiting. Each
    // task waits for its own gate, so every step of the run can be seen.
    const gates = [newGate(), newGate(), newGate()];
    const slow = await create(c, {
      function: fn("halfway_gate"),
      items: gates.map((g) => ({ args: [g.path] })),
      concurrency: 1,
    });
    for (const [k, gate] of gates.entries()) {
      const mid = await waitRun(
        c,
        slow.run_uid,
        (i) => i.num_done === k && i.percent_done > (k * 100) / 3 + 1,
      );
      expect(mid).toMatchObject({ num_computing: 1, num_waiting: 2 - k });
      // The computing task reported 50 %: a sixth of the run on top of what is done.
      expect(mid.percent_done).toBeCloseTo((k * 100 + 50) / 3, 1);
      gate.open();
    }
    expect(await waitRunEnded(c, slow.run_uid)).toMatchObject({ num_done: 3, num_failed: 0 });
  });

  it("a failing subset, then run_restart re-runs only the failed tasks", async () => {
    const c = await setup();
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-run-"));
    dirs.push(dir);
    const marker = path.join(dir, "fixed");
    const bad = [1, 4, 7];
    const { run_uid, task_uids } = await create(c, {
      function: fn("picky", [bad, marker]),
      count: 10,
    });
    const r = await waitRunEnded(c, run_uid);
    expect(r.num_done).toBe(7);
    expect(r.num_failed).toBe(3);
    expect(r.percent_done).toBe(100);
    const failedUids = bad.map((i) => task_uids[i]);
    for (const res of await results(c, failedUids as string[])) {
      expect(res.success).toBe(false);
      expect(res.msg).toMatch(/bad index/);
    }
    // everything=false: the 3 failed ones get new tasks at the same indexes.
    writeFileSync(marker, "");
    const again = await c.request("run_restart", { run_uid });
    expect(again.success, String(again.msg)).toBe(true);
    const fresh = again.task_uids as string[];
    expect(fresh).toHaveLength(3);
    const r2 = await waitRunEnded(c, run_uid);
    expect(r2.num_done).toBe(10);
    expect(r2.num_failed).toBe(0);
    expect(bad.map((i) => r2.task_uids[i])).toEqual(fresh);
    expect(r2.task_uids.filter((u, i) => !bad.includes(i))).toEqual(
      task_uids.filter((u, i) => !bad.includes(i)),
    );
    expect((await results(c, fresh)).map((x) => x.return_value)).toEqual(bad);
    // Nothing failed now: nothing to restart.
    const none = await c.request("run_restart", { run_uid });
    expect(none).toMatchObject({ success: true, task_uids: [] });
    // everything=true: all 10 again.
    const all = await c.request("run_restart", { run_uid, everything: true });
    expect((all.task_uids as string[]).length).toBe(10);
    const r3 = await waitRunEnded(c, run_uid);
    expect(r3.num_done).toBe(10);
  });

  it("run_restart everything is refused while tasks still run", async () => {
    const c = await setup();
    const { run_uid } = await create(c, { function: fn("gate", [newGate().path]), count: 4 });
    const r = await c.request("run_restart", { run_uid, everything: true });
    expect(r.success).toBe(false);
    expect(r.msg).toMatch(/have not ended/);
    await c.request("run_delete", { run_uid });
  });

  it("run_delete mid-run cancels what is left and forgets the run", async () => {
    const c = await setup();
    // Two return at once; the other 18 wait for a gate that never opens.
    const gate = newGate();
    const items = Array.from({ length: 20 }, (_, i) => ({ args: i < 2 ? [] : [gate.path] }));
    const { run_uid, task_uids } = await create(c, {
      function: fn("gate"),
      items,
      concurrency: 2,
    });
    await waitRun(c, run_uid, (i) => i.num_done === 2 && i.num_computing === 2);
    expect(await c.request("run_delete", { run_uid })).toEqual({ success: true, msg: "" });
    const gone = await c.request("run_info", { run_uid });
    expect(gone.success).toBe(false);
    expect(gone.msg).toMatch(/not found/);
    expect((await c.request("runs_list")).runs).toEqual([]);
    // The tasks that had not started never run; those running are cancelled.
    await waitUntil(async () => (await c.request("status")).worker_background_tasks === 0);
    const info = (await c.request("task_info", { task_uid: task_uids })).task_info as Record<
      string,
      { state: string; started_at: string | null }
    >;
    const states = task_uids.map((u) => info[u]?.state);
    expect(states.slice(0, 2)).toEqual(["completed", "completed"]);
    expect(states.slice(2)).toEqual(Array<string>(18).fill("cancelled"));
    const started = task_uids.filter((u) => info[u]?.started_at !== null);
    expect(started).toHaveLength(4);
  });

  it("refuses bad requests with a message", async () => {
    const c = await setup();
    const both = await c.request("run_create", {
      ...USER,
      function: fn("noop"),
      count: 2,
      items: [{}],
    });
    expect(both).toMatchObject({ success: false, run_uid: null, task_uids: [] });
    expect(both.msg).toMatch(/either 'count' or 'items'/);
    const badItem = await c.request("run_create", {
      ...USER,
      function: fn("noop"),
      items: [{ x: 1 }],
    });
    expect(badItem.msg).toMatch(/items\[0\] has the key 'x'/);
    const unknown = await c.request("run_info", { run_uid: "nope" });
    expect(unknown).toMatchObject({ success: false, run_uid: "nope", num_tasks: 0 });
    await c.request("environment_close");
    await waitUntil(async () => (await c.request("status")).worker_environment_exists === false);
    const closed = await c.request("run_create", { ...USER, function: fn("noop"), count: 1 });
    expect(closed.msg).toMatch(/RE Worker environment is not open/);
  });
});
