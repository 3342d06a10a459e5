/**
 * Tasks that outlive their manager (issue 24): what one manager stores of a
 * task (its accepted mark with its call, the start mark of a worker on another
 * host) is what the next one restores from; a task found running waits for
 * the worker its start mark names, and a claim by any other is ignored.
 */
import { describe, expect, it } from "vitest";
import type { StoreOp, StoredResult } from "../../src/manager/store/types.js";
import type { TaskMessage } from "../../src/manager/workers/pool.js";
import { waitUntil } from "../helpers/wait.js";
import { makeTaskPath } from "./fake-task-path.js";

/** A manager's task path whose store writes are kept, in order. */
function storingPath() {
  const ops: StoreOp[] = [];
  const { tasks, pool, lifecycle } = makeTaskPath(1, 0, undefined, {
    background: (o) => void ops.push(...o),
    commit: (o) => {
      ops.push(...o);
      return Promise.resolve();
    },
  });
  return { tasks, pool, lifecycle, ops };
}

/** What the store holds after `ops` (the last put of each uid, without those deleted). */
function stored(ops: readonly StoreOp[]): StoredResult[] {
  const m = new Map<string, StoredResult>();
  for (const op of ops) {
    if (op.op === "result_put")
      m.set(op.uid, { uid: op.uid, result: op.result, expiresAt: op.expiresAt });
    else if (op.op === "result_delete") m.delete(op.uid);
  }
  return [...m.values()];
}

const W1 = { name: "w1", instance: "instance-1", key: undefined };

/** A manager that dealt task "t" (options `o`) to the remote worker w1 and stopped: what it stored. */
function storedAfterDeal(o: Record<string, unknown> = {}): StoredResult[] {
  const first = storingPath();
  first.pool.list = [{ id: "w1", main: true }];
  first.lifecycle.submit("t", { name: "f", args: [7], kwargs: { k: 1 } }, true, o);
  expect(first.pool.dealt()).toEqual(["t"]);
  first.tasks.startedRemotely("t", { worker: "w1", instance: "instance-1", attempt: 1 });
  return stored(first.ops);
}

function restarted(results: StoredResult[], waitMs = 60_000) {
  const path = makeTaskPath(1);
  path.tasks.restore(results);
  path.lifecycle.resumeRunning(path.tasks.takeHeld(), waitMs);
  return path;
}

const done = (id: string): Extract<TaskMessage, { type: "task_done" }> => ({
  type: "task_done",
  id,
  success: true,
  msg: "",
  traceback: "",
  return_value: 42,
  time_start: 1000,
  time_stop: 1001,
});

describe("tasks found running at start", () => {
  it("the accepted mark keeps the call and its options; the start mark names the worker", () => {
    const results = storedAfterDeal({ max_retries: 2 });
    const mark = results.find((r) => r.uid === "t")?.result as {
      accepted: Record<string, unknown>;
    };
    expect(mark.accepted.call).toEqual({
      args: [7],
      kwargs: { k: 1 },
      options: { max_retries: 2 },
    });
    expect(results.find((r) => r.uid === "t#start")?.result).toEqual({
      worker: "w1",
      instance: "instance-1",
      attempt: 1,
    });
  });

  it("wait as running; the worker its start mark names takes it back and its result is applied", () => {
    const { tasks, lifecycle, pool } = restarted(storedAfterDeal());
    expect(tasks.status("t")).toBe("running");
    expect(lifecycle.claim(W1, ["t"])).toEqual([{ uid: "t", attempt: 1 }]);
    expect(tasks.get("t")?.worker).toBe("w1");
    pool.say("w1", done("t"));
    expect(tasks.get("t")?.state).toBe("completed");
    expect(tasks.get("t")?.result?.return_value).toBe(42);
  });

  it("a claim by another worker, or the same name of another instance or key, is ignored", () => {
    const { tasks, lifecycle } = restarted(storedAfterDeal());
    expect(lifecycle.claim({ ...W1, name: "w2" }, ["t"])).toEqual([]);
    expect(lifecycle.claim({ ...W1, instance: "instance-2" }, ["t"])).toEqual([]);
    expect(lifecycle.claim({ ...W1, key: "k".repeat(40) }, ["t"])).toEqual([]);
    expect(lifecycle.claim(W1, ["guessed"])).toEqual([]);
    expect(tasks.get("t")?.worker).toBeNull();
    expect(tasks.status("t")).toBe("running");
    // Its own worker still may.
    expect(lifecycle.claim(W1, ["t"])).toEqual([{ uid: "t", attempt: 1 }]);
    // Taken back once: a second claim is ignored.
    expect(lifecycle.claim(W1, ["t"])).toEqual([]);
  });

  it("one not taken back within the wait is retried when its options allow, else cut off", async () => {
    const cut = restarted(storedAfterDeal(), 20);
    const retried = restarted(storedAfterDeal({ max_retries: 1 }), 20);
    await waitUntil(() => cut.tasks.get("t")?.state === "failed");
    await waitUntil(() => retried.tasks.get("t")?.state === "retrying");
    expect(cut.tasks.get("t")?.result?.msg).toMatch(/The manager stopped before the task ended/);
    expect(cut.lifecycle.claim(W1, ["t"])).toEqual([]);
  });

  it("one with no start mark (the old manager's own workers) is decided at once", () => {
    const results = storedAfterDeal().filter((r) => r.uid !== "t#start");
    const { tasks } = restarted(results);
    expect(tasks.get("t")?.state).toBe("failed");
    const again = storedAfterDeal({ max_retries: 1 }).filter((r) => r.uid !== "t#start");
    expect(restarted(again).tasks.get("t")?.state).toBe("retrying");
  });
});
