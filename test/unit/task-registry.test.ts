/**
 * The task registry's own bookkeeping over the real lifecycle and scheduler
 * (a fake pool, a fake store that keeps its writes): the counts kept as
 * records move (task-counts.ts) and the purge of results whose retention
 * ended (its deletions written by task-store.ts).
 */
import { describe, expect, it } from "vitest";
import type { StoreOp } from "../../src/manager/store/types.js";
import { waitUntil } from "../helpers/wait.js";
import { call, makeTaskPath, taskDone } from "./fake-task-path.js";

const done = (id: string) => taskDone(id);

describe("TaskRegistry", () => {
  it("counts what waits, what has not ended and the background tasks running (in the status)", async () => {
    const { tasks, pool, lifecycle, state } = makeTaskPath(1);
    pool.list = [{ id: "w", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    lifecycle.submit("b", call("f"), true, {});
    expect(pool.dealt()).toEqual(["a"]);
    expect([tasks.waitingCount, tasks.runningCount]).toEqual([1, 2]);
    expect(state.status().worker_background_tasks).toBe(1);
    pool.say("w", done("a"));
    await waitUntil(() => pool.dealt().length === 2);
    expect(pool.dealt()).toEqual(["a", "b"]);
    expect([tasks.waitingCount, tasks.runningCount]).toEqual([0, 1]);
    expect(state.status().worker_background_tasks).toBe(1);
    pool.say("w", done("b"));
    expect([tasks.waitingCount, tasks.runningCount]).toEqual([0, 0]);
    expect(state.status().worker_background_tasks).toBe(0);
  });

  it("purges a result whose retention ended: from the records and the store, after `purging`", async () => {
    const ops: (StoreOp | "purging")[] = [];
    const { tasks, pool, lifecycle } = makeTaskPath(1, 0, undefined, {
      background: (o) => void ops.push(...o),
      commit: (o) => {
        ops.push(...o);
        return Promise.resolve();
      },
    });
    tasks.events.on("purging", () => ops.push("purging"));
    pool.list = [{ id: "w", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    pool.say("w", done("a"));
    await waitUntil(() => tasks.get("a")?.state === "completed");
    // The registry keeps results 60 s (makeTaskPath).
    tasks.purge(Date.now() + 59_000);
    expect(tasks.get("a")).toBeDefined();
    ops.length = 0;
    tasks.purge(Date.now() + 61_000);
    expect(tasks.get("a")).toBeUndefined();
    expect(tasks.wasPurged("a")).toBe(true);
    expect(ops).toEqual(["purging", { op: "result_delete", uid: "a" }]);
  });
});
