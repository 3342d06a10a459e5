/**
 * Rate limits on a real manager with a pool of 2 workers: at most N starts of
 * a function in any period, by the tasks' own starts; held tasks wait
 * `pending` with a message saying why; the manager's --rate-limit; bad input.
 *
 * A task's own start is task_info's `started_at`: the `time_start` its worker
 * reported, which is what the rate limit counts (rate-limits.ts: the start
 * heard, clamped between the dealing and the hearing, both on the same clock
 * here). task_result's `time_start` is when the task was dealt: earlier, by as
 * long as it waited in its worker, so not what the limit counts.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient, type RunningManager } from "../helpers/manager.js";
import { openEnvironment, USER } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";
import { startPool } from "../pool/helpers.js";

let m: RunningManager;
let c: RawClient;
beforeAll(async () => {
  m = await startPool(2, ["--rate-limit", "noop=2/h", "--max-rate-limits", "3"]);
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
});
afterAll(async () => {
  c?.close();
  await m?.stop();
});

const fn = (name: string, args: unknown[] = []) => ({ item_type: "function", name, args });
/** When the last `where` of the first test started (epoch ms), as the rate limit counts it. */
let lastWhereStart = 0;

async function execute(name: string, extra: Record<string, unknown> = {}, args: unknown[] = []) {
  return c.request("function_execute", {
    item: fn(name, args),
    run_in_background: true,
    ...USER,
    ...extra,
  });
}

async function info(uid: string): Promise<Record<string, unknown>> {
  const r = await c.request("task_info", { task_uid: uid });
  return r.task_info as Record<string, unknown>;
}

it("20/s over 2 workers: no second holds more than 20 starts (the tasks' own), and every task completes", async () => {
  const run = await c.request("run_create", {
    function: fn("where"),
    count: 40,
    rate_limit: "20/s",
    ...USER,
  });
  expect(run.success, String(run.msg)).toBe(true);
  const uids = [...(run.task_uids as string[])];
  // Tasks of the same function without the option share its limit.
  for (let i = 0; i < 20; i++) {
    const r = await execute("where");
    expect(r.success, String(r.msg)).toBe(true);
    uids.push(r.task_uid as string);
  }
  const starts: number[] = [];
  await waitUntil(async () => {
    const r = await c.request("tasks_counts");
    return (r.by_name as Record<string, Record<string, number>>).where?.completed === 60;
  });
  for (const uid of uids) {
    const r = await c.request("task_result", { task_uid: uid });
    expect(r.status).toBe("completed");
    const started = (await info(uid)).started_at;
    expect(typeof started, `started_at of ${uid}`).toBe("string");
    starts.push(Date.parse(started as string));
  }
  starts.sort((a, b) => a - b);
  lastWhereStart = starts[starts.length - 1] as number;
  // Any 21 starts in a row span a second or more: no one-second window holds 21.
  for (let i = 20; i < starts.length; i++) {
    expect((starts[i] as number) - (starts[i - 20] as number)).toBeGreaterThanOrEqual(1000);
  }
});

it("the manager's --rate-limit holds a task pending, saying so, in task_info and tasks_list", async () => {
  const first = [await execute("noop"), await execute("noop")];
  for (const r of first) expect(r.success, String(r.msg)).toBe(true);
  const held = await execute("noop");
  expect(held.success).toBe(true);
  const uid = held.task_uid as string;
  const message =
    "Waiting: the function 'noop' is at its rate limit of 2/h (--rate-limit); the task starts in its turn";
  await waitUntil(async () => (await info(uid)).message === message);
  expect(await info(uid)).toMatchObject({ state: "pending", message });
  const listed = await c.request("tasks_list", { state: "pending", name: "noop" });
  expect(listed.tasks).toEqual([expect.objectContaining({ task_uid: uid, message })]);
  expect((await c.request("metrics")).metrics).toMatchObject({ rate_limited: 1 });
  // The two before it ran.
  for (const r of first) {
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: r.task_uid })).status === "completed",
    );
  }
  expect((await c.request("task_cancel", { task_uid: uid })).result).toBe("cancelled");
  expect((await c.request("metrics")).metrics).toMatchObject({ rate_limited: 0 });
});

it("refuses bad rate limits, another limit for a function the manager limits, and one limit too many", async () => {
  for (const [bad, why] of [
    ["5 per s", "'5 per s' is not a rate limit: expected N/PERIOD"],
    ["0/s", "the count of starts must be from 1 to 1000000, got 0"],
    ["1/25h", "the period must be at least 1h and at most 24h"],
  ] as const) {
    const r = await execute("where", { rate_limit: bad });
    expect(r.success).toBe(false);
    expect(r.msg).toContain(why);
    const run = await c.request("run_create", { function: fn("where"), count: 1, rate_limit: bad });
    expect(run.success).toBe(false);
    expect(run.msg).toContain(why);
  }
  const other = await execute("noop", { rate_limit: "5/s" });
  expect(other).toMatchObject({ success: false, task_uid: null });
  expect(other.msg).toContain(
    "The function 'noop' has the manager's rate limit 2/h (--rate-limit): a task may not set another ('5/s')",
  );
  // Three functions have a limit (noop: the manager's; where: 20/s; hold: 1/h, a start counted).
  const counted = async (name: string, args: unknown[]) => {
    const r = await execute(name, { rate_limit: "1/h" }, args);
    expect(r.success, String(r.msg)).toBe(true);
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: r.task_uid })).status === "completed",
    );
  };
  await counted("hold", [0]);
  // Once where's starts have left its period (as counted: the tasks' own starts), its place
  // (set by tasks) may be taken.
  await waitUntil(() => Date.now() > lastWhereStart + 1000);
  await counted("halfway", [0]);
  // noop, hold and halfway count now: a fourth function is one too many.
  const fourth = await execute("busy", { rate_limit: "1/h" }, [0]);
  expect(fourth.success).toBe(false);
  expect(fourth.msg).toContain(
    "Too many rate limits: 3 functions have one, the limit is 3 (--max-rate-limits)",
  );
});
