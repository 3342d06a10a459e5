/**
 * REManagerAPI against a real manager: caching, waits (event-driven and
 * polling), monitors of the info socket, encodings, concurrency, closing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BFunc,
  ClientClosedError,
  REManagerAPI,
  RequestFailedError,
  RequestParameterError,
  WaitCancelError,
  WaitMonitor,
  WaitTimeoutError,
} from "../../src/client/index.js";
import type { WaitProgress } from "../../src/client/index.js";
import { STATUS_KEYS } from "../../src/protocol/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { newGate } from "../helpers/startup.js";
import { sleep, waitUntil } from "../helpers/wait.js";
import {
  clientOf,
  GUARDS,
  nowSec,
  openEnvironment,
  RecordingProxy,
  uploadGate,
  WAIT_S,
} from "./helpers.js";

let m: RunningManager;
let proxy: RecordingProxy;
/** Through the recording proxy (to count requests), with the info socket. */
let api: REManagerAPI;

beforeAll(async () => {
  m = await startManager();
  proxy = await RecordingProxy.start(m.controlAddr);
  api = clientOf({ controlAddr: proxy.address, infoAddr: m.infoAddr });
});
afterAll(async () => {
  await api.close();
  proxy.close();
  await m.stop();
});

const sent = (method: string) => proxy.requests(method).length;

describe("status and list caching", () => {
  it("reuses a status reply for statusExpiration, unless reload", async () => {
    const at = { controlAddr: proxy.address, infoAddr: m.infoAddr };
    // Within the expiration (a long one, so that nothing here outlives it).
    const keeps = clientOf(at, { statusExpiration: 3600 });
    // Past the expiration (a short one, let pass on purpose).
    const drops = clientOf(at, { statusExpiration: 0.05 });
    try {
      const n0 = sent("status");
      const a = await keeps.status({ reload: true });
      const b = await keeps.status();
      expect(sent("status")).toBe(n0 + 1);
      expect(b).toEqual(a);
      expect(Object.keys(b)).toEqual(STATUS_KEYS);
      await keeps.status({ reload: true });
      expect(sent("status")).toBe(n0 + 2);

      await drops.status();
      expect(sent("status")).toBe(n0 + 3);
      await sleep(100);
      await drops.status();
      expect(sent("status")).toBe(n0 + 4);
      // Concurrent callers share one request.
      await sleep(100);
      await Promise.all([drops.status(), drops.status(), drops.status()]);
      expect(sent("status")).toBe(n0 + 5);
    } finally {
      await keeps.close();
      await drops.close();
    }
  });

  it("downloads a list again only when its change marker moved", async () => {
    const n0 = sent("plans_existing");
    const first = await api.plansExisting();
    await api.plansExisting();
    await api.plansExisting();
    expect(sent("plans_existing")).toBe(n0 + 1);
    await api.plansExisting({ reload: true });
    expect(sent("plans_existing")).toBe(n0 + 2);

    // Opening the environment changes plans_existing_uid: the next call downloads.
    await openEnvironment(api);
    const after = await api.plansExisting();
    expect(sent("plans_existing")).toBe(n0 + 3);
    expect(after.plans_existing_uid).not.toBe(first.plans_existing_uid);
    expect(Object.keys(after.plans_existing)).toContain("count");
    await api.plansExisting();
    expect(sent("plans_existing")).toBe(n0 + 3);

    // Lists per user group are cached apart.
    const nA = sent("plans_allowed");
    await api.plansAllowed();
    await api.plansAllowed();
    await api.plansAllowed({ user_group: "test_user" });
    expect(sent("plans_allowed")).toBe(nA + 2);
  });

  it("a state-changing request drops the cached status", async () => {
    await api.status();
    const n0 = sent("status");
    await api.functionExecute(new BFunc("function_sleep", [0]), { run_in_background: true });
    await api.status();
    expect(sent("status")).toBe(n0 + 1);
  });
});

describe("tasks and waits", () => {
  beforeAll(async () => {
    await openEnvironment(api);
    await uploadGate(api);
  });

  it("waitForCompletedTask returns once the task has completed (info socket)", async () => {
    for (const t of [0.2, 0.05, 0.3]) {
      const r = await api.functionExecute(new BFunc("function_sleep", [t]));
      const uid = r.task_uid as string;
      expect(await api.waitForCompletedTask(uid, { timeout: WAIT_S })).toEqual({
        [uid]: "completed",
      });
      const back = nowSec();
      const res = await api.taskResult(uid);
      const result = res.result as { success: boolean; time_stop: number; return_value: unknown };
      expect(result.success).toBe(true);
      expect(result.return_value).toEqual({ success: true, time: t });
      // After the end, by the worker's own time_stop (how soon after: a benchmark's matter).
      expect(back).toBeGreaterThanOrEqual(result.time_stop);
      await api.waitForIdle({ timeout: WAIT_S });
    }
  });

  it("polls task_status with the info socket off", async () => {
    const polling = clientOf({ controlAddr: proxy.address }, { zmqInfoAddr: null });
    try {
      const gate = newGate();
      const r = await polling.functionExecute(new BFunc("func_for_test_gate", [gate.path]));
      const uid = r.task_uid as string;
      const asked = () =>
        proxy.requests("task_status").filter((q) => JSON.stringify(q).includes(uid)).length;
      const wait = polling.waitForCompletedTask(uid, { timeout: WAIT_S });
      // Nothing else tells it: it asks again and again while the task runs.
      await waitUntil(() => asked() >= 3);
      gate.open();
      expect(await wait).toEqual({ [uid]: "completed" });
      const back = nowSec();
      const res = (await polling.taskResult(uid)).result as { time_stop: number };
      expect(back).toBeGreaterThanOrEqual(res.time_stop);
    } finally {
      await polling.close();
    }
    await api.waitForIdle({ timeout: WAIT_S });
  });

  it("a failing function is a completed task with success: false", async () => {
    const r = await api.functionExecute(new BFunc("function_sleep", ["not a number"]));
    const uid = r.task_uid as string;
    await api.waitForCompletedTask(uid, { timeout: WAIT_S });
    const res = await api.taskResult(uid);
    expect(res.status).toBe("completed");
    expect(res.result).toMatchObject({ success: false, return_value: null });
    expect((res.result as { msg: string }).msg).toContain("cannot be interpreted as a number");
    await api.waitForIdle({ timeout: WAIT_S });
  });

  it("waits for one of several tasks, or all of them, and reports progress", async () => {
    const [quickGate, slowGate] = [newGate(), newGate()];
    const gated = async (g: { path: string }) =>
      (
        await api.functionExecute(new BFunc("func_for_test_gate", [g.path]), {
          run_in_background: true,
        })
      ).task_uid as string;
    const quick = await gated(quickGate);
    const slow = await gated(slowGate);
    quickGate.open();
    const any = await api.waitForCompletedTask([quick, slow], { timeout: WAIT_S });
    expect(any).toEqual({ [quick]: "completed" });
    const monitor = new WaitMonitor();
    const reports: WaitProgress[] = [];
    // The slow one ends once the wait has reported the quick one alone.
    monitor.onProgress((p) => {
      reports.push(p);
      slowGate.open();
    });
    const all = await api.waitForCompletedTask([quick, slow], {
      timeout: WAIT_S,
      all: true,
      monitor,
    });
    expect(all).toEqual({ [quick]: "completed", [slow]: "completed" });
    expect(reports.length).toBeGreaterThan(1);
    expect(reports[0]).toMatchObject({ done: 1, total: 2 });
    expect(reports[reports.length - 1]).toMatchObject({ done: 2, total: 2 });
    expect(monitor.timeElapsed).toBeGreaterThan(0);
    expect(monitor.timeout).toBe(WAIT_S);
  });

  it("treats unknown tasks as completed unless told not to", async () => {
    expect(await api.waitForCompletedTask("no-such-task", { timeout: WAIT_S })).toEqual({
      "no-such-task": "not_found",
    });
    const t0 = Date.now();
    await expect(
      api.waitForCompletedTask("no-such-task", { timeout: 0.3, treatNotFoundAsCompleted: false }),
    ).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("a WaitMonitor or an AbortSignal cancels a wait (an hour long: only the cancel ends it)", async () => {
    const monitor = new WaitMonitor();
    let called = false;
    monitor.addCancelCallback(() => (called = true));
    const p = api.waitForCondition(() => false, { timeout: 3600, monitor });
    // Cancelled while it waits (it has looked at the status once).
    await waitUntil(() => monitor.progress !== undefined);
    monitor.cancel("enough");
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitCancelError);
    expect((err as WaitCancelError).code).toBe("ERR_WAIT_CANCELLED");
    expect((err as Error).message).toContain("enough");
    expect(called).toBe(true);
    expect(monitor.isCancelled).toBe(true);

    const ac = new AbortController();
    const watching = new WaitMonitor();
    const p2 = api.waitForCondition(() => false, {
      timeout: 3600,
      signal: ac.signal,
      monitor: watching,
    });
    await waitUntil(() => watching.progress !== undefined);
    ac.abort();
    await expect(p2).rejects.toBeInstanceOf(WaitCancelError);
  });

  it("status waits resolve with the status that met the condition, or time out", async () => {
    const s = await api.waitForIdle({ timeout: WAIT_S });
    expect(s.manager_state).toBe("idle");
    expect((await api.waitForIdleOrRunning({ timeout: WAIT_S })).manager_state).toBe("idle");
    const t0 = Date.now();
    const err = await api.waitForCondition(() => false, { timeout: 0.3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).code).toBe("ERR_WAIT_TIMEOUT");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("waitForIdle follows a foreground task to its end", async () => {
    const gate = newGate();
    const r = await api.functionExecute(new BFunc("func_for_test_gate", [gate.path]));
    expect((await api.status()).manager_state).toBe("executing_task");
    const idle = api.waitForIdle({ timeout: WAIT_S });
    gate.open();
    const s = await idle;
    expect(s.manager_state).toBe("idle");
    expect((await api.taskStatus(r.task_uid as string)).status).toBe("completed");
  });
});

describe("monitors of the info socket", () => {
  it("consoleMonitor yields what the worker prints", async () => {
    const mon = api.consoleMonitor();
    await mon.ready; // the first message came: nothing published from now on is missed
    const r = await api.functionExecute(new BFunc("function_sleep", [0.05]));
    await api.waitForCompletedTask(r.task_uid as string, { timeout: WAIT_S });
    const texts: string[] = [];
    for await (const msg of mon) {
      expect(typeof msg.time).toBe("number");
      texts.push(msg.msg);
      if (texts.join("").includes("Finished the function 'function_sleep'")) break;
    }
    expect(texts.join("")).toContain("Starting the function 'function_sleep'");
    expect(mon.isClosed).toBe(true);
  });

  it("systemInfoMonitor yields status messages; nextMessage times out", async () => {
    const mon = api.systemInfoMonitor();
    const first = await mon.nextMessage(WAIT_S);
    expect(first).toBeDefined();
    expect(Object.keys(first?.msg.status ?? {})).toEqual(STATUS_KEYS);
    mon.close();
    expect(await mon.nextMessage(0.05)).toBeUndefined();
    const quiet = api.consoleMonitor();
    expect(await quiet.nextMessage(0.1)).toBeUndefined();
    quiet.close();
  });

  describe("task events", () => {
    it("taskEvents yields the events of a task, filtered by UID", async () => {
      await api.waitForIdle({ timeout: WAIT_S });
      const all = api.taskEvents();
      await all.ready; // the first message came: nothing published from now on is missed
      const r = await api.functionExecute(new BFunc("function_sleep", [0.05]));
      const uid = r.task_uid as string;
      const mine = api.taskEvents({ filter: { taskUid: uid, events: ["task-succeeded"] } });
      const events: string[] = [];
      while (!events.includes("task-succeeded")) {
        const e = await all.nextMessage(WAIT_S);
        if (e === undefined) throw new Error(`no task-succeeded event; saw ${events.join(", ")}`);
        if (e.msg.task_uid === uid) events.push(e.msg.event);
      }
      all.close();
      expect(events).toContain("task-started");
      expect(events).toContain("task-succeeded");
      const only = await mine.nextMessage(WAIT_S);
      expect(only?.msg).toMatchObject({ event: "task-succeeded", task_uid: uid });
      mine.close();
    });
  });
});

describe("requests", () => {
  it("refuses bad params before sending: nothing reaches the manager", async () => {
    const n0 = proxy.exchanges.length;
    const err = await api.taskStatus(42 as unknown as string).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestParameterError);
    expect((err as Error).message).toBe(
      "Error: 'task_uid' must be a string or a list of strings: type(task_uid)=<class 'int'>",
    );
    await expect(api.itemGet({ bogus: 1 } as never)).rejects.toThrow(
      "Failed to get an item: API request contains unsupported parameters: 'bogus'. Supported parameters: ['pos', 'uid']",
    );
    expect(proxy.exchanges.length).toBe(n0);
  });

  it("with requestFailExceptions off, a refusal is returned as the reply", async () => {
    const lenient = clientOf(m, { requestFailExceptions: false });
    try {
      const r = await lenient.environmentOpen();
      expect(r).toEqual({ success: false, msg: "RE Worker environment already exists." });
    } finally {
      await lenient.close();
    }
    await expect(api.environmentOpen()).rejects.toBeInstanceOf(RequestFailedError);
  });

  it("many requests in flight on one connection each get their own reply", async () => {
    const uids = Array.from({ length: 200 }, (_, i) => `uid-${i}`);
    const replies = await Promise.all(uids.map((u) => api.taskStatus(u)));
    replies.forEach((r, i) =>
      expect(r).toEqual({ success: true, msg: "", task_uid: uids[i], status: "not_found" }),
    );
  });

  it("close() fails pending requests and later calls with ClientClosedError", async () => {
    const c = clientOf(m);
    await c.ping();
    const pending = c.taskStatus("x");
    await c.close();
    // The request may have been answered before close; if not, it failed as closed.
    await pending.catch((e: unknown) => expect(e).toBeInstanceOf(ClientClosedError));
    await expect(c.status({ reload: true })).rejects.toBeInstanceOf(ClientClosedError);
    expect(() => c.consoleMonitor()).toThrow();
    expect(c.isClosed).toBe(true);
  });
});

describe("msgpack", () => {
  it("speaks msgpack to a msgpack manager, info socket included", async () => {
    const mm = await startManager({ encoding: "msgpack" });
    const c = new REManagerAPI({
      zmqControlAddr: mm.controlAddr,
      zmqInfoAddr: mm.infoAddr,
      zmqEncoding: "msgpack",
      checkReplies: true,
      ...GUARDS,
    });
    try {
      expect((await c.status()).manager_state).toBe("idle");
      await openEnvironment(c);
      const r = await c.functionExecute(new BFunc("function_sleep", [0.1]));
      expect(r.item).toMatchObject({
        name: "function_sleep",
        user: "Queue Server API User",
        user_group: "primary",
      });
      await c.waitForCompletedTask(r.task_uid as string, { timeout: WAIT_S });
      const back = nowSec();
      expect(c.lateReplies).toBe(0);
      const res = (await c.taskResult(r.task_uid as string)).result as {
        time_stop: number;
        return_value: unknown;
      };
      expect(res.return_value).toEqual({ success: true, time: 0.1 });
      expect(back).toBeGreaterThanOrEqual(res.time_stop);
      const info = c.systemInfoMonitor();
      expect((await info.nextMessage(WAIT_S))?.msg.status.worker_environment_exists).toBe(true);
      info.close();
    } finally {
      await c.close();
      await mm.stop();
    }
  });
});
