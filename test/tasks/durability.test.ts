/**
 * A reported outcome survives a crash: once a client has seen a task
 * `completed` (by task_status, or by its QS_Task final event), a kill -9 of
 * the manager at once — nothing made durable on purpose before it — and a
 * restart on the same store give the same result. Both stores (LMDB in a
 * temp dir; a real redis-server).
 *
 * The moment between a task's end and the durability of its result is short;
 * ZQS_TEST_STORE_DELAY_MS (the writer's fault injection) stretches every
 * store commit to DELAY_MS, so a manager that reported a result before it
 * was durable would lose it here every time, not by chance.
 *
 * `--store-sync os` keeps the same promise against a crash of the manager
 * (its writes are in the operating system's hands once committed), so it is
 * held to the same tests; what it gives up, a crash of the machine, cannot be
 * shown from here.
 */
import { describe, expect, it, type TestContext } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { LMDB_OS_SYNC, STORES, type StoreSetup } from "../helpers/stores.js";
import { execute, fn, openEnvironment, waitCompleted, waitEvent } from "../helpers/tasks.js";

const DELAY_MS = 1500;

const STARTUP = {
  "echo.mjs": `export function echo(x) { return { echoed: x, pid: process.pid }; }`,
};

/**
 * The store, managers and sockets of one test, removed when it ends. Each
 * test has its own: they run side by side (most of their time is the stretched
 * commits, waited for, not computed).
 */
async function useStore(
  makeStore: () => Promise<StoreSetup>,
  onTestFinished: TestContext["onTestFinished"],
) {
  const store = await makeStore();
  const managers: RunningManager[] = [];
  const closers: { close(): void }[] = [];
  onTestFinished(async () => {
    for (const c of closers.splice(0)) c.close();
    for (const m of managers.splice(0)) await m.stop();
    await store.cleanup();
  });
  async function start(): Promise<{ m: RunningManager; c: RawClient }> {
    const m = await startManager({
      infoInterval: BRISK_INFO_INTERVAL,
      startup: STARTUP,
      args: store.args,
      env: { ZQS_TEST_STORE_DELAY_MS: String(DELAY_MS) },
    });
    managers.push(m);
    const c = new RawClient(m.controlAddr);
    closers.push(c);
    return { m, c };
  }
  return {
    start,
    listen: async (m: RunningManager) => {
      const listener = new InfoListener(m.infoAddr, ["QS_Task"]);
      closers.push(listener);
      return listener.ready();
    },
    restartAndRead: async (uid: string): Promise<Record<string, unknown>> => {
      const { c } = await start();
      const r = await c.request("task_result", { task_uid: uid });
      expect(r.success, String(r.msg)).toBe(true);
      return r;
    },
  };
}

describe.concurrent.each([...STORES, LMDB_OS_SYNC])(
  "a reported result survives kill -9 (%s store)",
  (_label, makeStore) => {
    it("seen completed by task_status", async ({ onTestFinished }) => {
      const { start, restartAndRead } = await useStore(makeStore, onTestFinished);
      const { m, c } = await start();
      await openEnvironment(c);
      const uid = await execute(c, fn("echo", ["by-status"]));
      const result = await waitCompleted(c, uid);
      await m.kill9();
      expect(result).toMatchObject({ success: true, return_value: { echoed: "by-status" } });

      const after = await restartAndRead(uid);
      expect(after.status).toBe("completed");
      expect(after.result).toEqual(result);
    });

    it("acknowledged by function_execute: known after a kill -9 right after the reply", async ({
      onTestFinished,
    }) => {
      const { start, restartAndRead } = await useStore(makeStore, onTestFinished);
      const { m, c } = await start();
      await openEnvironment(c);
      const uid = await execute(c, fn("echo", ["acknowledged"]), { run_in_background: true });
      await m.kill9();

      // Not lost: its outcome is its result if that was durable too, else the failure
      // the restore gives a task accepted and not ended.
      const after = await restartAndRead(uid);
      expect(after.status).toBe("completed");
      expect(after.result).toMatchObject({ task_uid: uid });
    });

    it("seen completed by its QS_Task event", async ({ onTestFinished }) => {
      const { start, listen, restartAndRead } = await useStore(makeStore, onTestFinished);
      const { m, c } = await start();
      const listener = await listen(m);
      await openEnvironment(c);
      const uid = await execute(c, fn("echo", ["by-event"]));
      const ev = await waitEvent(listener, uid, "task-succeeded");
      await m.kill9();
      expect(ev.state).toBe("completed");

      const after = await restartAndRead(uid);
      expect(after.status).toBe("completed");
      expect(after.result).toMatchObject({
        task_uid: uid,
        success: true,
        return_value: { echoed: "by-event" },
      });
    });
  },
);
