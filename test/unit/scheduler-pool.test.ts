/** The scheduler dealing tasks to a fake TaskWorkerPool; the task handlers from a fake context. */
import { describe, expect, it } from "vitest";
import { taskHandlers } from "../../src/manager/tasks/handlers.js";
import { DEAL_CHUNK } from "../../src/manager/tasks/scheduler.js";
import { TaskTrees } from "../../src/manager/tasks/task-tree.js";
import type { TaskWorker } from "../../src/manager/workers/pool.js";
import { call, type FakePool, makeTaskPath as make } from "./fake-task-path.js";

/** The task uids dealt to worker `w` so far, in order. */
const dealtTo = (pool: FakePool, w: string) =>
  pool.sent.filter((b) => b.worker === w).flatMap((b) => b.ids);

/**
 * `worker` ends task `id` successfully: the call took `seconds` by its
 * time_start and time_stop (as an older worker says it), or `callMs` as timed.
 */
function endTask(
  pool: FakePool,
  worker: string,
  id: string,
  took: { seconds?: number; callMs?: number },
) {
  pool.emit("task-message", worker, {
    type: "task_done",
    id,
    success: true,
    msg: "",
    traceback: "",
    return_value: null,
    time_start: 100,
    time_stop: 100 + (took.seconds ?? 0),
    ...(took.callMs !== undefined ? { call_ms: took.callMs } : {}),
  });
}

describe("TaskScheduler with a fake pool", () => {
  it("the local workers gone, a worker on another host keeps the slots its tasks hold", () => {
    const { pool, lifecycle, tasks } = make(1);
    const main: TaskWorker = { id: "main", main: true, background: false };
    const remote: TaskWorker = { id: "r1", main: false, remote: true };
    pool.list = [main, remote];
    lifecycle.submit("a", call("f"), true, {});
    expect(pool.dealt()).toEqual(["a"]);
    // The environment closes and opens again (the pool lists no worker meanwhile); "a" still runs.
    pool.list = [];
    pool.emit("all-gone", true, "the environment is re-opening");
    pool.list = [main, remote];
    pool.emit("worker-joined");
    lifecycle.submit("b", call("f"), true, {});
    expect(pool.dealt()).toEqual(["a"]);
    expect(tasks.get("b")?.state).toBe("pending");
  });

  it("waits for workers, then deals one batch per worker within the free slots", () => {
    const { pool, lifecycle, tasks } = make(1);
    for (const uid of ["a", "b", "c"]) lifecycle.submit(uid, call("f"), true, {});
    expect(pool.sent).toEqual([]);
    pool.list = [
      { id: "main", main: true },
      { id: "w2", main: false },
    ];
    pool.emit("worker-joined");
    // One slot each; the other worker before the main one; "c" waits for a slot.
    expect(pool.sent).toEqual([
      { worker: "w2", ids: ["a"] },
      { worker: "main", ids: ["b"] },
    ]);
    expect(tasks.get("c")?.state).toBe("pending");
  });

  it("with unlimited slots hands every ready task to the main worker as one batch", () => {
    const { pool, lifecycle } = make(Infinity);
    for (const uid of ["a", "b"]) lifecycle.submit(uid, call("f"), true, {});
    pool.list = [{ id: "main", main: true }];
    pool.emit("worker-joined");
    expect(pool.sent).toEqual([{ worker: "main", ids: ["a", "b"] }]);
  });

  it("with unlimited slots deals a burst a chunk per turn, all of it, in order", async () => {
    const { pool, lifecycle } = make(Infinity);
    const uids = Array.from({ length: 2 * DEAL_CHUNK + 3 }, (_, i) => `t${i}`);
    for (const uid of uids) lifecycle.submit(uid, call("f"), true, {});
    pool.list = [{ id: "main", main: true }];
    pool.emit("worker-joined");
    expect(pool.sent.map((b) => b.ids.length)).toEqual([DEAL_CHUNK]);
    while (pool.sent.flatMap((b) => b.ids).length < uids.length) await nextTurn();
    expect(pool.sent.map((b) => b.ids.length)).toEqual([DEAL_CHUNK, DEAL_CHUNK, 3]);
    expect(pool.sent.flatMap((b) => b.ids)).toEqual(uids);
  });

  it("with unlimited slots and one worker, tasks asking for tags it lacks wait; the others pass them", async () => {
    const { pool, lifecycle, tasks } = make(Infinity);
    // More tagged tasks than a chunk, ahead of an untagged one.
    const tagged = Array.from({ length: DEAL_CHUNK + 1 }, (_, i) => `g${i}`);
    for (const uid of tagged) lifecycle.submit(uid, call("f"), true, { worker_tags: ["gpu"] });
    lifecycle.submit("plain", call("f"), true, {});
    pool.list = [{ id: "main", main: true }];
    pool.emit("worker-joined");
    expect(pool.sent).toEqual([{ worker: "main", ids: ["plain"] }]);
    expect(tasks.get("g0")?.state).toBe("pending");
    expect(tasks.get("g0")?.message).toBe(
      "Waiting: no connected worker with the tags gpu offers the function 'f'",
    );
    await nextTurn();
    expect(pool.sent).toHaveLength(1);
    // A worker with the tag joins: they go to it.
    pool.list = [
      { id: "main", main: true },
      { id: "gpu", main: false, tags: new Set(["gpu"]) },
    ];
    pool.emit("worker-joined");
    expect(dealtTo(pool, "gpu")).toEqual(tagged);
    expect(dealtTo(pool, "main")).toEqual(["plain"]);
  });

  it("deals further ahead to a worker whose calls are short, not to one whose calls are long", async () => {
    const { pool, lifecycle } = make(1, 2);
    pool.list = [
      { id: "main", main: true },
      { id: "w2", main: false },
    ];
    const uids = Array.from({ length: 600 }, (_, i) => `t${i}`);
    for (const uid of uids) lifecycle.submit(uid, call("f"), true, {});
    // One slot and two ahead each, before anything is known of their calls.
    const dealt = (w: string) => dealtTo(pool, w);
    expect(dealt("w2")).toHaveLength(3);
    expect(dealt("main")).toHaveLength(3);
    endTask(pool, "w2", dealt("w2")[0] as string, { seconds: 0 }); // a call under a millisecond
    endTask(pool, "main", dealt("main")[0] as string, { seconds: 0.05 }); // a call of 50 ms
    await nextTurn();
    // w2 holds 2 and may hold 1 + 256 now; main holds 2 and may hold 3 still.
    expect(dealt("w2")).toHaveLength(3 + 255);
    expect(dealt("main")).toHaveLength(4);
  });

  it("keeps short tasks on the worker dealt to last while it holds little; then the least loaded", async () => {
    const { pool, lifecycle } = make(1, 4);
    pool.list = [
      { id: "main", main: true },
      { id: "w2", main: false },
    ];
    const dealt = (w: string) => dealtTo(pool, w);
    const end = (worker: string, id: string, callMs: number) =>
      endTask(pool, worker, id, { callMs });
    // Nothing known of either worker's calls: least loaded first.
    lifecycle.submit("a", call("f"), true, {});
    lifecycle.submit("b", call("f"), true, {});
    expect(dealt("w2")).toEqual(["a"]);
    expect(dealt("main")).toEqual(["b"]);
    end("w2", "a", 0.01);
    await nextTurn();
    // w2 is free and its calls are short: it takes the next ones, though main holds only one.
    for (const uid of ["c", "d", "e", "f"]) lifecycle.submit(uid, call("f"), true, {});
    expect(dealt("w2")).toEqual(["a", "c", "d", "e", "f"]);
    // One slow call alone (a hiccup: a busy machine preempted it) changes nothing.
    end("w2", "c", 5);
    await nextTurn();
    lifecycle.submit("g", call("f"), true, {});
    expect(dealt("w2")).toEqual(["a", "c", "d", "e", "f", "g"]);
    // Its calls grow long (a second slow call soon after): what it holds is too much to keep adding.
    end("w2", "d", 5);
    await nextTurn();
    lifecycle.submit("h", call("f"), true, {});
    expect(dealt("main")).toEqual(["b", "h"]);
  });

  it("passes over waiting tasks that ended (cancelled) and deals the others in order", async () => {
    const { pool, lifecycle, tasks } = make(1);
    pool.list = [{ id: "main", main: true }];
    const uids = Array.from({ length: 3001 }, (_, i) => `t${i}`);
    for (const uid of uids) lifecycle.submit(uid, call("f"), true, {});
    expect(dealtTo(pool, "main")).toEqual(["t0"]);
    // Two in three of the waiting ones are cancelled (more than the list keeps in place).
    const kept = uids.filter((_, i) => i === 0 || i % 3 === 0);
    for (const uid of uids) if (!kept.includes(uid)) lifecycle.cancel(uid);
    expect(tasks.countsByState().cancelled).toBe(uids.length - kept.length);
    for (let i = 0; i < kept.length; i++) {
      endTask(pool, "main", kept[i] as string, { seconds: 0 });
      await nextTurn();
    }
    expect(dealtTo(pool, "main")).toEqual(kept);
  });
});

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("task handlers from a fake context", () => {
  it("function_execute is refused while the environment is not open, naming the item", async () => {
    const { lifecycle, tasks, activity, setOpen } = make(1);
    setOpen(false);
    const h = taskHandlers({
      tasks,
      lifecycle,
      activity,
      access: { hasGroup: () => true, functionAllowed: () => true },
      trees: { liveRefusal: () => undefined },
      subtasks: { cancelDescendants: () => 0 },
      rateLimits: { refusal: () => undefined, set: () => {} },
      limits: { maxDelay: 60, maxDedupTtl: 60, maxDedupKey: 16 },
    });
    let err: unknown;
    try {
      await h.function_execute?.(
        {
          item: { item_type: "function", name: "f" },
          user: "u",
          user_group: "primary",
          run_in_background: true,
        },
        { encoding: "json" },
      );
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe("RE Worker environment is not open");
    expect((err as { extras?: { item?: { name?: string } } }).extras?.item?.name).toBe("f");
  });

  it("function_execute beyond --max-live-tasks is refused, naming the limit and the option", async () => {
    const { lifecycle, tasks, activity, pool } = make(1);
    pool.list = [{ id: "w0", main: true }];
    const trees = new TaskTrees(
      { maxSubtaskDepth: 32, maxTreeTasks: 1000, maxLiveTasks: 2 },
      () => tasks.runningCount,
    );
    const h = taskHandlers({
      tasks,
      lifecycle,
      activity,
      access: { hasGroup: () => true, functionAllowed: () => true },
      trees,
      subtasks: { cancelDescendants: () => 0 },
      rateLimits: { refusal: () => undefined, set: () => {} },
      limits: { maxDelay: 60, maxDedupTtl: 60, maxDedupKey: 16 },
    });
    const params = {
      item: { item_type: "function", name: "f" },
      user: "u",
      user_group: "primary",
      run_in_background: true,
    };
    for (let i = 0; i < 2; i++) {
      expect(await h.function_execute?.(params, { encoding: "json" })).toMatchObject({
        success: true,
      });
    }
    await expect(h.function_execute?.(params, { encoding: "json" })).rejects.toThrow(
      "The manager has 2 unfinished tasks: a task more would be over the limit of 2 (--max-live-tasks)",
    );
    expect(tasks.runningCount).toBe(2);
  });
});

describe("dealing ahead to workers with their own slots", () => {
  it("deals beyond `slots` by recent call times to a worker that asks for it (`ahead`), not to others", async () => {
    const { pool, lifecycle } = make(1, 2);
    pool.list = [
      { id: "main", main: true, background: false },
      { id: "r1", main: false, slots: 2, ahead: true },
      { id: "r2", main: false, slots: 2 },
    ];
    const uids = Array.from({ length: 400 }, (_, i) => `t${i}`);
    for (const uid of uids) lifecycle.submit(uid, call("f"), true, {});
    // Its 2 slots and 4 ahead (a remote worker's least, whatever the local pool's
    // --worker-prefetch) before anything is known of its calls.
    expect(dealtTo(pool, "r1")).toHaveLength(6);
    expect(dealtTo(pool, "r2")).toHaveLength(2);
    endTask(pool, "r1", dealtTo(pool, "r1")[0] as string, { callMs: 0.01 });
    endTask(pool, "r2", dealtTo(pool, "r2")[0] as string, { callMs: 0.01 });
    await nextTurn();
    // r1: 2 + 256 now (short calls); r2 keeps to its slots.
    expect(dealtTo(pool, "r1")).toHaveLength(1 + 2 + 256);
    expect(dealtTo(pool, "r2")).toHaveLength(3);
  });
});
