/**
 * Faults of the worker, with a real manager and a real worker (the example
 * profile, plus fault functions uploaded as a script):
 *  - `kill -9` of the worker during a foreground task and during a plan: the
 *    task fails with a clear message, the plan goes to the history as failed
 *    and back to the front of the queue, the environment is reported gone, the
 *    manager keeps serving and a new environment runs the queue again;
 *  - return values a reply cannot carry: too large (over 8 MiB of JSON), NaN,
 *    Infinity, a BigInt outside the safe range, a cycle: each a clear failure
 *    in task_result, no crash, and the worker goes on serving.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES, RawClient, startManager, waitUntil } from "../helpers/manager.js";
import type { RunningManager } from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { execute, fn, openEnvironment, USER, waitCompleted } from "../helpers/tasks.js";

const SCRIPT = `
export function value_of_size(mib) { return "v".repeat(Math.round(mib * 1024 * 1024)); }
export function value_nan() { return { a: 1, b: NaN }; }
export function value_infinity() { return [1, -Infinity]; }
export function value_bigint_huge() { return { n: 2n ** 64n }; }
export function value_bigint_small() { return { n: 42n }; }
export function value_cycle() { const o = { name: "loop" }; o.self = o; return o; }
export function value_deep() { let v = []; for (let i = 0; i < 1e6; i++) v = [v]; return v; }
export function value_undefined() { return undefined; }
`;

let m: RunningManager;
let c: RawClient;

beforeAll(async () => {
  m = await startManager({
    examples: false,
    publishConsole: false,
    args: ["--startup-dir", path.join(EXAMPLES, "startup")],
  });
  c = new RawClient(m.controlAddr);
});

afterAll(async () => {
  c?.close();
  await m?.stop();
});

/** Open the environment unless it is open. */
async function ensureEnvironment(): Promise<void> {
  if ((await c.request("status")).worker_environment_exists !== true) await openEnvironment(c);
}

async function uploadFaults(): Promise<void> {
  const up = await c.request("script_upload", { script: SCRIPT });
  expect(up.success, String(up.msg)).toBe(true);
  expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
  await waitUntil(async () => (await c.request("status")).manager_state === "idle");
}

function workerPid(): number {
  const pids = childPids(m.proc.pid as number);
  expect(pids).toHaveLength(1);
  return pids[0] as number;
}

describe("kill -9 of the worker", () => {
  it("during a foreground task: the task fails clearly, the environment is gone, the manager serves on", async () => {
    await openEnvironment(c);
    const uid = await execute(c, fn("function_sleep", [3600]));
    expect((await c.request("status")).manager_state).toBe("executing_task");
    const killedAt = Date.now();
    process.kill(workerPid(), "SIGKILL");
    const r = await waitCompleted(c, uid);
    // Noticed from the exit and its signal (not from missing heartbeats); how
    // soon, by the manager's own time_stop, is printed for the record.
    console.log(
      `worker kill -9 during a task: failed by the manager ${Math.round((r.time_stop as number) * 1000 - killedAt)} ms after the kill`,
    );
    expect(r.success).toBe(false);
    expect(String(r.msg)).toMatch(
      /^The worker process was lost \(signal SIGKILL\) while the task was running$/,
    );
    expect(r.return_value).toBeNull();
    expect(await c.request("status")).toMatchObject({
      manager_state: "idle",
      worker_environment_exists: false,
      worker_environment_state: "closed",
    });
    // Refused clearly while there is no environment; a new one runs tasks.
    const refused = await c.request("function_execute", {
      item: fn("function_sleep", [0]),
      ...USER,
    });
    expect(refused.success).toBe(false);
    expect(String(refused.msg)).toMatch(/environment/i);
    await openEnvironment(c);
    const again = await waitCompleted(c, await execute(c, fn("function_sleep", [0.05])));
    expect(again.success).toBe(true);
  });

  it("during a plan: failed in the history, back at the front of the queue, the queue runs again", async () => {
    await ensureEnvironment();
    const item = {
      item_type: "plan",
      name: "count",
      args: [["det1"]],
      kwargs: { num: 10_000, delay: 0.1 },
    };
    const add = await c.request("queue_item_add", { item, ...USER });
    expect(add.success, String(add.msg)).toBe(true);
    const uid = (add.item as { item_uid: string }).item_uid;
    const short = await c.request("queue_item_add", {
      item: { ...item, kwargs: { num: 1 } },
      ...USER,
    });
    expect(short.success).toBe(true);
    expect((await c.request("queue_start")).success).toBe(true);
    // Running in the worker: its run engine reports the plan's state.
    await waitUntil(async () => {
      const s = await c.request("status");
      return s.running_item_uid === uid && s.re_state === "running";
    });

    process.kill(workerPid(), "SIGKILL");
    await waitUntil(async () => (await c.request("status")).running_item_uid === null);

    const s = await c.request("status");
    expect(s).toMatchObject({
      manager_state: "idle",
      worker_environment_exists: false,
      worker_environment_state: "closed",
      items_in_queue: 2,
    });
    const history = (await c.request("history_get")).items as Record<string, unknown>[];
    const last = history[history.length - 1] as {
      item_uid: string;
      result: { exit_status: string; msg: string };
    };
    expect(last.item_uid).toBe(uid);
    expect(last.result.exit_status).toBe("failed");
    expect(last.result.msg).toMatch(
      /The worker process was lost \(signal SIGKILL\) while the plan was running/,
    );
    const queue = (await c.request("queue_get")).items as Record<string, unknown>[];
    expect(queue[0]).toMatchObject({ name: "count", kwargs: { num: 10_000, delay: 0.1 } });
    expect(queue[0]?.item_uid).not.toBe(uid);
    expect(queue[1]?.kwargs).toEqual({ num: 1 });

    // A new environment runs the queue from where it was.
    await openEnvironment(c);
    expect((await c.request("queue_item_remove", { pos: "front" })).success).toBe(true);
    expect((await c.request("queue_start")).success).toBe(true);
    await waitUntil(async () => {
      const st = await c.request("status");
      return st.manager_state === "idle" && st.items_in_queue === 0;
    });
    const h2 = (await c.request("history_get")).items as { result: { exit_status: string } }[];
    expect(h2[h2.length - 1]?.result.exit_status).toBe("completed");
  });
});

describe("return values a reply cannot carry", () => {
  beforeAll(async () => {
    await ensureEnvironment();
    await uploadFaults();
  });

  async function run(name: string, args: unknown[] = []) {
    const uid = await execute(c, fn(name, args));
    const r = await waitCompleted(c, uid);
    // The manager answered throughout and the environment is still there.
    expect(await c.request("status")).toMatchObject({
      worker_environment_exists: true,
      manager_state: "idle",
    });
    return r;
  }

  it("a value up to the limit is returned whole; a larger one is a clear failure", async () => {
    const ok = await run("value_of_size", [7.5]);
    expect(ok.success, String(ok.msg)).toBe(true);
    expect((ok.return_value as string).length).toBe(7.5 * 1024 * 1024);
    const big = await run("value_of_size", [9]);
    expect(big.success).toBe(false);
    expect(big.return_value).toBeNull();
    expect(String(big.msg)).toMatch(
      /the return value is too large for a reply: 9437186 bytes of JSON \(the limit is 8388608\)/,
    );
    // Multi-byte characters count as bytes, not as UTF-16 units.
    const up = await c.request("script_upload", {
      script: `export function value_wide() { return "€".repeat(3 * 1024 * 1024); }`,
    });
    expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
    const wide = await run("value_wide");
    expect(wide.success).toBe(false);
    expect(String(wide.msg)).toMatch(/too large for a reply/);
  });

  it.each([
    ["value_nan", /the return value: NaN at b cannot be carried by JSON/],
    ["value_infinity", /the return value: -Infinity at \[1\] cannot be carried by JSON/],
    [
      "value_bigint_huge",
      /the return value: a BigInt \(18446744073709551616\) at n is outside the range a reply can carry exactly/,
    ],
    ["value_cycle", /the return value cannot be encoded: .*circular/i],
    [
      "value_deep",
      /the return value nests lists and maps more than 256 levels deep \(at \[0\]\[0\]\[0\]\.\.\.\); the limit is 256 levels/,
    ],
  ])("%s: a clear failure, no crash", async (name, msg) => {
    const r = await run(name);
    expect(r.success).toBe(false);
    expect(r.return_value).toBeNull();
    expect(String(r.msg)).toMatch(msg);
  });

  it("values JSON can carry after conversion come back converted", async () => {
    expect((await run("value_bigint_small")).return_value).toEqual({ n: 42 });
    const u = await run("value_undefined");
    expect(u.success).toBe(true);
    expect(u.return_value).toBeNull();
  });
});
