/**
 * Restart recovery: after `kill -9` of a manager in the middle of the queue, a
 * new manager on the same store finds the queue, history, lock, queue mode
 * and completed task results as they were, and the plan that was running is
 * in the history with exit_status "unknown" and back at the front of the queue;
 * a task that was running is a failed result saying the manager stopped.
 * Run against both stores (LMDB in a temp dir; a real redis-server).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, waitUntil } from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { durable, execute, fn, openEnvironment, USER, waitCompleted } from "../helpers/tasks.js";

const plan = (name: string, args: unknown[], kwargs: Record<string, unknown>) => ({
  item_type: "plan",
  name,
  args,
  kwargs,
});

describe.each(STORES)("restart after kill -9 (%s store)", (_label, makeStore) => {
  let store: StoreSetup;
  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(async () => {
    await store.cleanup();
  });

  it("keeps queue, history, lock, mode and results; the running plan is 'unknown'", async () => {
    const m1 = await startManager({ args: store.args });
    const c1 = new RawClient(m1.controlAddr);
    let taskUid: string;
    let cutTaskUid: string;
    let longUid: string;
    try {
      await openEnvironment(c1);
      taskUid = await execute(c1, fn("function_sleep", [0.05]));
      const done = await waitCompleted(c1, taskUid);
      expect(done.success).toBe(true);
      // A background task still running when the manager dies.
      cutTaskUid = await execute(c1, fn("function_sleep", [60]), { run_in_background: true });

      // One plan completes (history), a long one runs, one waits.
      const add = async (item: Record<string, unknown>) => {
        const r = await c1.request("queue_item_add", { item, ...USER });
        expect(r.success, String(r.msg)).toBe(true);
        return (r.item as { item_uid: string }).item_uid;
      };
      await add(plan("count", [["det1"]], { num: 1 }));
      longUid = await add(plan("count", [["det1"]], { num: 10_000, delay: 0.1 }));
      await add(plan("count", [["det2"]], { num: 2 }));
      expect(
        (await c1.request("queue_mode_set", { mode: { ignore_failures: true } })).success,
      ).toBe(true);
      expect((await c1.request("queue_start")).success).toBe(true);
      await waitUntil(async () => (await c1.request("status")).running_item_uid === longUid);
      // The completed task's result, written just after it ended, is durable.
      await durable(c1);
      const lock = await c1.request("lock", {
        lock_key: "secret-key",
        queue: true,
        user: "Operator",
        note: "maintenance",
      });
      expect(lock.success, String(lock.msg)).toBe(true);
    } finally {
      c1.close();
    }
    await m1.kill9();
    await m1.stop();

    const m2 = await startManager({ args: store.args });
    const c2 = new RawClient(m2.controlAddr);
    try {
      const s = await c2.request("status");
      expect(s).toMatchObject({
        manager_state: "idle",
        worker_environment_exists: false,
        running_item_uid: null,
        items_in_queue: 2,
        items_in_history: 2,
        plan_queue_mode: { loop: false, ignore_failures: true },
        lock: { environment: false, queue: true },
      });

      const history = (await c2.request("history_get")).items as Record<string, unknown>[];
      expect(history.map((h) => (h.result as { exit_status: string }).exit_status)).toEqual([
        "completed",
        "unknown",
      ]);
      const cut = history[1] as { item_uid: string; kwargs: unknown; result: { msg: string } };
      expect(cut.item_uid).toBe(longUid);
      expect(cut.kwargs).toEqual({ num: 10_000, delay: 0.1 });
      expect(cut.result.msg).toMatch(/manager stopped while the plan was running/);

      const queue = (await c2.request("queue_get")).items as Record<string, unknown>[];
      expect(queue.map((q) => q.kwargs)).toEqual([{ num: 10_000, delay: 0.1 }, { num: 2 }]);
      expect(queue[0]?.item_uid).not.toBe(longUid);

      const info = await c2.request("lock_info");
      expect(info.lock_info).toMatchObject({ queue: true, user: "Operator", note: "maintenance" });
      // The lock still needs its key; the key itself was never stored.
      expect((await c2.request("queue_clear")).success).toBe(false);
      expect((await c2.request("queue_clear", { lock_key: "wrong" })).success).toBe(false);

      const r = await c2.request("task_result", { task_uid: taskUid });
      expect(r.status).toBe("completed");
      expect(r.result).toMatchObject({ task_uid: taskUid, success: true });
      // The task the crash cut off is not lost: it ended, failed, saying why.
      const cutResult = await c2.request("task_result", { task_uid: cutTaskUid });
      expect(cutResult.status).toBe("completed");
      expect(cutResult.result).toMatchObject({
        task_uid: cutTaskUid,
        success: false,
        msg: "The manager stopped before the task ended: its outcome is unknown",
      });
      const cutInfo = await c2.request("task_info", { task_uid: cutTaskUid });
      expect(cutInfo.task_info).toMatchObject({ state: "failed", name: "function_sleep" });

      // The restored queue runs.
      expect((await c2.request("unlock", { lock_key: "secret-key" })).success).toBe(true);
      expect((await c2.request("queue_item_remove", { pos: "front" })).success).toBe(true);
      await openEnvironment(c2);
      expect((await c2.request("queue_start")).success).toBe(true);
      await waitUntil(async () => {
        const st = await c2.request("status");
        return st.manager_state === "idle" && st.items_in_history === 3;
      });
      const h2 = (await c2.request("history_get")).items as { result: { exit_status: string } }[];
      expect(h2[2]?.result.exit_status).toBe("completed");
    } finally {
      c2.close();
      await m2.stop();
    }
  });
});
