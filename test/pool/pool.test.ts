/**
 * A pool of worker processes (--workers 2): CPU-bound tasks run side by side
 * in different processes, a lost pool worker fails (or retries) its tasks and
 * is replaced while the environment stays open, and close/destroy end every
 * worker process.
 */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RawClient, waitUntil, type RunningManager } from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { newGate } from "../helpers/startup.js";
import { execute, fn, openEnvironment, waitCompleted } from "../helpers/tasks.js";
import { startPool } from "./helpers.js";

let pool: RunningManager | undefined;
let c: RawClient | undefined;

afterEach(async () => {
  c?.close();
  c = undefined;
  await pool?.stop();
  pool = undefined;
});

async function setup(
  workers = 2,
  extra: string[] = [],
): Promise<{ c: RawClient; pid: number; dir: string }> {
  pool = await startPool(workers, extra);
  c = new RawClient(pool.controlAddr);
  await openEnvironment(c);
  return { c, pid: pool.proc.pid as number, dir: pool.tmpDir };
}

async function stats(c: RawClient): Promise<{ queue_depth: number; active_workers: number }> {
  const r = await c.request("task_info", { task_uid: "nothing" });
  return (r.task_info as { stats: { queue_depth: number; active_workers: number } }).stats;
}

describe("--workers 2", () => {
  it("opens with two worker processes and runs two CPU-bound tasks side by side", async () => {
    const { c, pid, dir } = await setup();
    expect(childPids(pid)).toHaveLength(2);
    expect((await stats(c)).active_workers).toBe(2);
    // Each spins (never yielding) until the other has started: both end only
    // if they run at the same time, in two processes.
    const [fa, fb] = [path.join(dir, "a"), path.join(dir, "b")];
    const a = await execute(c, fn("rendezvous", [fa, fb]), { run_in_background: true });
    const b = await execute(c, fn("rendezvous", [fb, fa]), { run_in_background: true });
    const ra = await waitCompleted(c, a);
    const rb = await waitCompleted(c, b);
    expect(ra.success, String(ra.msg)).toBe(true);
    expect(rb.success, String(rb.msg)).toBe(true);
    expect(ra.return_value).not.toBe(rb.return_value);
    expect(childPids(pid)).toEqual(expect.arrayContaining([ra.return_value, rb.return_value]));
    const info = (await c.request("task_info", { task_uid: [a, b] })).task_info as Record<
      string,
      { worker: string }
    >;
    expect(info[a]?.worker).not.toBe(info[b]?.worker);
    expect((await c.request("status")).worker_background_tasks).toBe(0);
  });

  it("holds tasks beyond the free slots and starts them as slots free up, highest priority first", async () => {
    // No task dealt ahead (test/pool/prefetch.test.ts has those): all wait here.
    const { c } = await setup(2, ["--worker-prefetch", "0"]);
    const gate = newGate();
    const first = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const second = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const low = await execute(c, fn("noop"), { run_in_background: true, priority: 0 });
    const high = await execute(c, fn("noop"), { run_in_background: true, priority: 5 });
    expect((await stats(c)).queue_depth).toBe(2);
    expect((await c.request("status")).worker_background_tasks).toBe(2);
    gate.open();
    const rl = await waitCompleted(c, low);
    const rh = await waitCompleted(c, high);
    expect(rh.time_start as number).toBeLessThanOrEqual(rl.time_start as number);
    await waitCompleted(c, first);
    await waitCompleted(c, second);
  });

  it("a killed pool worker fails its task, is replaced, and the environment stays open", async () => {
    const { c, pid } = await setup();
    const before = childPids(pid);
    const uid = await execute(c, fn("hold", [30]), { run_in_background: true });
    const victim = await waitUntil(async () => {
      const r = await c.request("task_info", { task_uid: uid });
      return (r.task_info as { outputs: { pid?: number } }).outputs.pid;
    });
    expect(before).toContain(victim);
    process.kill(victim, "SIGKILL");
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(false);
    expect(r.msg).toMatch(/^The worker process was lost \(.*\) while the task was running$/);
    const s = await c.request("status");
    expect(s.worker_environment_exists).toBe(true);
    await waitUntil(async () => (await stats(c)).active_workers === 2);
    const now = childPids(pid);
    expect(now).toHaveLength(2);
    expect(now).not.toContain(victim);
    // Both workers take tasks again.
    const a = await execute(c, fn("busy", [0.3]), { run_in_background: true });
    const b = await execute(c, fn("busy", [0.3]), { run_in_background: true });
    const pids = [
      (await waitCompleted(c, a)).return_value,
      (await waitCompleted(c, b)).return_value,
    ];
    expect(new Set(pids).size).toBe(2);
    expect(now).toEqual(expect.arrayContaining(pids));
  });

  it("a task with retries left is retried after its pool worker is lost", async () => {
    const { c, pid } = await setup();
    const uid = await execute(c, fn("flaky_hold", [1, 0]), {
      run_in_background: true,
      max_retries: 1,
      retry_backoff: 0.05,
    });
    const victim = await waitUntil(async () => {
      const r = await c.request("task_info", { task_uid: uid });
      return (r.task_info as { outputs: { pid?: number } }).outputs.pid;
    });
    process.kill(victim, "SIGKILL");
    const r = await waitCompleted(c, uid);
    expect(r.success, String(r.msg)).toBe(true);
    const info = (await c.request("task_info", { task_uid: uid })).task_info as {
      attempts: number;
    };
    expect(info.attempts).toBe(2);
    expect(childPids(pid)).not.toContain(victim);
  });

  it("a foreground task runs in the main worker beside background tasks in the pool", async () => {
    const { c } = await setup();
    const gate = newGate();
    const bg = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const fg = await execute(c, fn("gate", [gate.path]));
    expect((await c.request("status")).manager_state).toBe("executing_task");
    gate.open();
    const rf = await waitCompleted(c, fg);
    const rb = await waitCompleted(c, bg);
    expect(rf.success && rb.success).toBe(true);
    expect(rf.return_value).not.toBe(rb.return_value);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  });

  for (const how of ["environment_close", "environment_destroy"] as const) {
    it(`${how} ends every worker process`, async () => {
      const { c, pid } = await setup();
      expect(childPids(pid)).toHaveLength(2);
      const uid = await execute(c, fn("hold", [30]), { run_in_background: true });
      await waitUntil(async () => (await c.request("status")).worker_background_tasks === 1);
      expect(await c.request(how)).toEqual({ success: true, msg: "" });
      await waitUntil(async () => (await c.request("status")).worker_environment_exists === false);
      expect(childPids(pid)).toEqual([]);
      const r = await waitCompleted(c, uid);
      expect(r.success).toBe(false);
      expect(r.msg).toMatch(/environment was (closed|destroyed)/);
      expect((await stats(c)).active_workers).toBe(0);
      // And it opens again with the whole pool.
      await openEnvironment(c);
      expect(childPids(pid)).toHaveLength(2);
    });
  }

  it("the main worker's loss ends the environment and the whole pool", async () => {
    const { c, pid } = await setup();
    const fg = await execute(c, fn("hold", [30]));
    const main = await waitUntil(async () => {
      const r = await c.request("task_info", { task_uid: fg });
      return (r.task_info as { outputs: { pid?: number } }).outputs.pid;
    });
    process.kill(main, "SIGKILL");
    const r = await waitCompleted(c, fg);
    expect(r.msg).toMatch(/^The worker process was lost/);
    await waitUntil(async () => (await c.request("status")).worker_environment_exists === false);
    expect(childPids(pid)).toEqual([]);
  });
});

describe("--workers 1", () => {
  it("keeps one worker process that takes every background task at once", async () => {
    const { c, pid } = await setup(1);
    expect(childPids(pid)).toHaveLength(1);
    expect((await stats(c)).active_workers).toBe(1);
    const gate = newGate();
    const uids = [];
    for (let i = 0; i < 5; i++) {
      uids.push(await execute(c, fn("gate", [gate.path]), { run_in_background: true }));
    }
    expect((await c.request("status")).worker_background_tasks).toBe(5);
    gate.open();
    for (const u of uids) expect((await waitCompleted(c, u)).success).toBe(true);
  });
});

it("refuses a bad --workers value", async () => {
  await expect(startPool(1.5)).rejects.toThrow(/--workers: expected a non-negative integer/);
});
