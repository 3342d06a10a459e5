/**
 * Task trees that would grow without end (a function that submits itself),
 * against a real manager and real workers: the depth and tree limits stop a
 * recursion bomb and a fan-out bomb (the root fails naming the limit, the
 * tasks the manager knows stay bounded); a cancel of the root ends the whole
 * tree at once and nothing new appears after it; the manager answers `status`
 * all along, and environment_destroy after a bomb leaves it working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { WORKER_API } from "../helpers/paths.js";
import { gateModule, newGate } from "../helpers/startup.js";
import { execute, fn, info, msOf, openEnvironment, USER, waitFinal } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";

const BOMBS = `
import { context, sleep } from ${JSON.stringify(WORKER_API)};

export function double(x) {
  return 2 * x;
}

/** Awaits a subtask of itself: without limits, without end. */
export async function recurse(d) {
  return await context().subtask("recurse", [d + 1]);
}

/** Like recurse; the deepest returns what its refused subtask rejected with. */
export async function dig(d) {
  try {
    return await context().subtask("dig", [d + 1]);
  } catch (e) {
    if (e.taskUid !== null) throw e;
    return { name: e.name, message: e.message, depth: d };
  }
}

/** Awaits \`k\` subtasks of itself, each doing the same. */
export async function fan(d, k) {
  const ctx = context();
  await Promise.all(Array.from({ length: k }, () => ctx.subtask("fan", [d + 1, k])));
}

/**
 * \`k\` subtasks of \`name\` (the caller itself), each asked for again while the
 * manager refuses it (every half second), until this task is stopped: a tree
 * that keeps pushing at its limits.
 */
async function stubborn(name, d, k) {
  const ctx = context();
  const one = async () => {
    for (;;) {
      try {
        return await ctx.subtask(name, [d + 1]);
      } catch (e) {
        if (ctx.signal.aborted || e.taskUid !== null) throw e;
        await sleep(0.5);
      }
    }
  };
  return await Promise.all(Array.from({ length: k }, one));
}

export function stubborn_chain(d) {
  return stubborn("stubborn_chain", d, 1);
}

export function stubborn_fan(d) {
  return stubborn("stubborn_fan", d, 3);
}

export function stubborn_doomed(d) {
  return stubborn("stubborn_doomed", d, 3);
}
`;

const UNFINISHED = ["pending", "running", "retrying"];

type Counts = Record<string, number>;

/** tasks_counts of the function `name`: by state, and in all. */
async function countsOf(c: RawClient, name: string): Promise<{ by: Counts; total: number }> {
  const r = await c.request("tasks_counts");
  expect(r.success, String(r.msg)).toBe(true);
  const by = (r.by_name as Record<string, Counts>)[name] ?? {};
  return { by, total: Object.values(by).reduce((a, b) => a + b, 0) };
}

const unfinished = (by: Counts): number => UNFINISHED.reduce((n, s) => n + (by[s] ?? 0), 0);

/**
 * Ask for `status` on a client of its own, one request after another, until
 * `stop` is called; resolves with the server's time of each answer (`status.time`,
 * ms since the epoch), each a full status map.
 */
function keepAsking(addr: string): { stop: () => Promise<number[]> } {
  const c = new RawClient(addr);
  let going = true;
  const loop = (async () => {
    const times: number[] = [];
    while (going) {
      const s = await c.request("status");
      expect(typeof s.manager_state).toBe("string");
      times.push(Date.parse(String(s.time)));
    }
    c.close();
    return times;
  })();
  return {
    stop: async () => {
      going = false;
      return await loop;
    },
  };
}

/** A task of the environment runs to its end (a round trip through a worker). */
async function roundTrip(c: RawClient): Promise<void> {
  const uid = await execute(c, fn("double", [21]), { run_in_background: true });
  expect((await waitFinal(c, uid)).state).toBe("completed");
}

describe.each([
  { label: "one worker, default limits", args: [], depth: 32, tree: 1000 },
  {
    label: "--workers 2, --max-subtask-depth 8, --max-tree-tasks 300",
    args: ["--workers", "2", "--max-subtask-depth", "8", "--max-tree-tasks", "300"],
    depth: 8,
    tree: 300,
  },
])("subtask bombs, $label", ({ args, depth, tree }) => {
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    m = await startManager({ startup: { "bombs.mjs": BOMBS }, args });
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("a recursion bomb is stopped by --max-subtask-depth", async () => {
    const asking = keepAsking(m.controlAddr);
    const root = await execute(c, fn("recurse", [0]), { run_in_background: true });
    const done = await waitFinal(c, root);
    expect(done.state).toBe("failed");
    expect(done.message).toContain(
      `The subtask was refused: depth ${depth + 1} is over the limit of ${depth} (--max-subtask-depth)`,
    );
    // Depths 0 to the limit: one task each, every one ended.
    const { by, total } = await waitUntil(async () => {
      const k = await countsOf(c, "recurse");
      return unfinished(k.by) === 0 ? k : undefined;
    });
    expect(total).toBe(depth + 1);
    expect(by.failed).toBe(depth + 1);
    // What the deepest one's promise rejects with.
    const dig = await execute(c, fn("dig", [0]), { run_in_background: true });
    expect((await waitFinal(c, dig)).state).toBe("completed");
    const r = await c.request("task_result", { task_uid: dig });
    expect((r.result as { return_value: unknown }).return_value).toEqual({
      name: "SubtaskError",
      message: `The subtask was refused: depth ${depth + 1} is over the limit of ${depth} (--max-subtask-depth)`,
      depth,
    });
    expect((await asking.stop()).length).toBeGreaterThan(0);
  });

  it("a fan-out bomb is stopped by --max-tree-tasks", async () => {
    const asking = keepAsking(m.controlAddr);
    const root = await execute(c, fn("fan", [0, 4]), { run_in_background: true });
    const done = await waitFinal(c, root);
    expect(done.state).toBe("failed");
    expect(done.message).toContain(`the limit of ${tree} (--max-tree-tasks)`);
    const { by, total } = await waitUntil(async () => {
      const k = await countsOf(c, "fan");
      return unfinished(k.by) === 0 ? k : undefined;
    });
    // Never more than the limit unfinished at once; a node that fails cancels the
    // children it awaited, so the tree folds up: what the manager knew of it stays near the limit.
    expect(total).toBeGreaterThanOrEqual(tree);
    expect(total).toBeLessThanOrEqual(2 * tree);
    expect((by.failed ?? 0) + (by.cancelled ?? 0)).toBe(total);
    await roundTrip(c);
    expect((await countsOf(c, "fan")).total).toBe(total);
    expect((await asking.stop()).length).toBeGreaterThan(0);
  });

  for (const name of ["stubborn_chain", "stubborn_fan"]) {
    it(`cancelling the root of a tree pushing at its limit (${name}) ends the whole tree`, async () => {
      // Full: the chain as deep as the limit allows, the fan as large (its refused
      // requests are asked for again, so nothing of it ends on its own).
      const size = name === "stubborn_chain" ? depth + 1 : tree;
      const asking = keepAsking(m.controlAddr);
      const root = await execute(c, fn(name, [0]), { run_in_background: true });
      await waitUntil(async () => unfinished((await countsOf(c, name)).by) === size);
      const r = await c.request("task_cancel", { task_uid: root });
      expect(r.result).toBe("cancelling");
      expect(r.msg).toContain(`${size - 1} unfinished subtask(s) of task '${root}' were cancelled`);
      expect((await waitFinal(c, root)).state).toBe("cancelled");
      const { by, total } = await waitUntil(async () => {
        const k = await countsOf(c, name);
        return unfinished(k.by) === 0 ? k : undefined;
      });
      // Every descendant was cancelled (none ended otherwise), and no new one appears.
      expect(by).toEqual({ cancelled: size });
      expect(total).toBe(size);
      await roundTrip(c);
      expect((await countsOf(c, name)).total).toBe(size);
      // By the manager's own clock: status was answered while the full tree ran
      // (between the root's start and its end) and after the cancel ended it.
      const times = await asking.stop();
      const ran = await info(c, root);
      const [from, to] = [msOf(ran.started_at), msOf(ran.ended_at)];
      expect(times.some((t) => t >= from && t <= to)).toBe(true);
      expect(times.some((t) => t > to)).toBe(true);
    });
  }

  it("environment_destroy while a bomb pushes at its limit leaves a working manager", async () => {
    const asking = keepAsking(m.controlAddr);
    const root = await execute(c, fn("stubborn_doomed", [0]), { run_in_background: true });
    await waitUntil(async () => unfinished((await countsOf(c, "stubborn_doomed")).by) === tree);
    const r = await c.request("environment_destroy");
    expect(r).toMatchObject({ success: true });
    await waitUntil(async () => {
      const s = await c.request("status");
      return s.worker_environment_exists === false && s.manager_state === "idle";
    });
    // Every task of the tree ended (its worker is gone), none is left unfinished.
    const { by, total } = await waitUntil(async () => {
      const k = await countsOf(c, "stubborn_doomed");
      return unfinished(k.by) === 0 ? k : undefined;
    });
    expect(total).toBe(tree);
    expect((by.failed ?? 0) + (by.cancelled ?? 0)).toBe(total);
    expect((await waitFinal(c, root)).state).toBe("failed");
    await openEnvironment(c);
    await roundTrip(c);
    expect((await asking.stop()).length).toBeGreaterThan(0);
  });
});

describe("--max-live-tasks 3", () => {
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    m = await startManager({
      startup: { "bombs.mjs": BOMBS, "gate.mjs": gateModule() },
      args: ["--max-live-tasks", "3"],
    });
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("refuses function_execute, run_create and subtasks past it, naming it", async () => {
    const gate = newGate();
    const held: string[] = [];
    for (let i = 0; i < 3; i++) {
      held.push(await execute(c, fn("gate", [gate.path]), { run_in_background: true }));
    }
    const limit = "a task more would be over the limit of 3 (--max-live-tasks)";
    const one = await c.request("function_execute", {
      item: fn("double", [1]),
      ...USER,
      run_in_background: true,
    });
    expect(one.success).toBe(false);
    expect(one.msg).toContain(`The manager has 3 unfinished tasks: ${limit}`);
    const run = await c.request("run_create", { ...USER, function: fn("double", [1]), count: 2 });
    expect(run.success).toBe(false);
    expect(run.msg).toContain("2 tasks more would be over the limit of 3 (--max-live-tasks)");
    gate.open();
    for (const uid of held) expect((await waitFinal(c, uid)).state).toBe("completed");
    // A root and two subtasks fit; the third level is refused by the same limit.
    const root = await execute(c, fn("dig", [0]), { run_in_background: true });
    expect((await waitFinal(c, root)).state).toBe("completed");
    const r = await c.request("task_result", { task_uid: root });
    expect((r.result as { return_value: unknown }).return_value).toMatchObject({
      name: "SubtaskError",
      message: expect.stringContaining(limit) as unknown,
      depth: 2,
    });
  });
});
