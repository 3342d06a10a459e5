/**
 * Tasks that outlive their manager (issue 24): what one manager stores of a
 * task (its accepted mark with its call, the start mark of a worker on another
 * host) is what the next one restores from; a task found running waits for
 * the worker its start mark names, and a claim by any other is ignored.
 */
import { describe, expect, it } from "vitest";
import type { StoreOp, StoredResult, StoredStart } from "../../src/manager/store/types.js";
import { waitUntil } from "../helpers/wait.js";
import { makeTaskPath, taskDone } from "./fake-task-path.js";

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

/** What the store holds after `ops`: results and start marks (the last put of each uid, without those deleted). */
interface Stored {
  results: StoredResult[];
  starts: StoredStart[];
}
function stored(ops: readonly StoreOp[]): Stored {
  const m = new Map<string, StoredResult>();
  const starts = new Map<string, StoredStart>();
  for (const op of ops) {
    if (op.op === "result_put")
      m.set(op.uid, { uid: op.uid, result: op.result, expiresAt: op.expiresAt });
    else if (op.op === "result_delete") m.delete(op.uid);
    else if (op.op === "start_put") for (const s of op.marks) starts.set(s.uid, s);
    else if (op.op === "start_delete") starts.delete(op.uid);
  }
  return { results: [...m.values()], starts: [...starts.values()] };
}

const W1 = { name: "w1", instance: "instance-1", key: undefined };

/** A manager that dealt task "t" (options `o`) to the remote worker w1 and stopped: what it stored. */
function storedAfterDeal(o: Record<string, unknown> = {}): Stored {
  const first = storingPath();
  first.pool.list = [{ id: "w1", main: true }];
  first.lifecycle.submit("t", { name: "f", args: [7], kwargs: { k: 1 } }, true, o);
  expect(first.pool.dealt()).toEqual(["t"]);
  first.tasks.startedRemotely({ worker: "w1", instance: "instance-1" }, [{ id: "t", attempt: 1 }]);
  return stored(first.ops);
}

function restarted({ results, starts }: Stored, waitMs = 60_000) {
  const path = makeTaskPath(1);
  path.tasks.restore(results, starts);
  path.lifecycle.resumeRunning(path.tasks.takeHeld(), waitMs);
  return path;
}

const done = (id: string) => taskDone(id, { return_value: 42 });

describe("tasks found running at start", () => {
  it("the accepted mark keeps the call and its options; the start mark names the worker", () => {
    const { results, starts } = storedAfterDeal({ max_retries: 2 });
    const mark = results.find((r) => r.uid === "t")?.result as {
      accepted: Record<string, unknown>;
    };
    expect(mark.accepted.call).toEqual({
      args: [7],
      kwargs: { k: 1 },
      options: { max_retries: 2 },
    });
    // The start mark is in a keyspace of its own, not among the results.
    expect(results.map((r) => r.uid)).toEqual(["t"]);
    expect(starts).toEqual([
      { uid: "t", mark: { worker: "w1", instance: "instance-1", attempt: 1 } },
    ]);
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
    const { tasks } = restarted({ ...storedAfterDeal(), starts: [] });
    expect(tasks.get("t")?.state).toBe("failed");
    const again = { ...storedAfterDeal({ max_retries: 1 }), starts: [] };
    expect(restarted(again).tasks.get("t")?.state).toBe("retrying");
  });

  it("a start mark kept among the results by an earlier version (`<uid>#start`) is read as one, and deleted", () => {
    const { results, starts } = storedAfterDeal();
    const legacy = starts.map((s) => ({ uid: `${s.uid}#start`, result: s.mark, expiresAt: 9e9 }));
    const path = storingPath();
    path.tasks.restore([...results, ...legacy], []);
    path.lifecycle.resumeRunning(path.tasks.takeHeld(), 60_000);
    expect(path.tasks.get("t#start")).toBeUndefined();
    expect(path.ops).toContainEqual({ op: "result_delete", uid: "t#start" });
    expect(path.lifecycle.claim(W1, ["t"])).toEqual([{ uid: "t", attempt: 1 }]);
  });
});

describe("start marks", () => {
  it("the tasks of one deal are one store op; each mark is deleted with its task's result", () => {
    const path = storingPath();
    path.pool.list = [{ id: "w1", main: true }];
    for (const uid of ["a", "b", "c"])
      path.lifecycle.submit(uid, { name: "f", args: [], kwargs: {} }, true, {});
    const before = path.ops.length;
    path.tasks.startedRemotely({ worker: "w1", instance: "i" }, [
      { id: "a", attempt: 1 },
      { id: "b", attempt: 1 },
      { id: "c", attempt: 1 },
    ]);
    expect(path.ops.slice(before)).toEqual([
      {
        op: "start_put",
        marks: ["a", "b", "c"].map((uid) => ({
          uid,
          mark: { worker: "w1", instance: "i", attempt: 1 },
        })),
      },
    ]);
    path.pool.say("w1", done("b"));
    expect(path.ops).toContainEqual({ op: "start_delete", uid: "b" });
    expect(stored(path.ops).starts.map((s) => s.uid)).toEqual(["a", "c"]);
  });
});
