/**
 * The full task lifecycle against a real manager and worker: every state and
 * what triggers it, with the QS_Task events of each task checked in order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { newGate } from "../helpers/startup.js";
import {
  eventIndex,
  eventNames,
  eventsOf,
  execute,
  fn,
  info,
  msOf,
  openEnvironment,
  waitCompleted,
  waitEvent,
  waitFinal,
  waitInfo,
} from "../helpers/tasks.js";
import { STARTUP } from "./helpers.js";

let m: RunningManager;
let c: RawClient;
let events: InfoListener;

beforeAll(async () => {
  m = await startManager({
    infoInterval: BRISK_INFO_INTERVAL,
    startup: STARTUP,
    args: ["--cancel-grace", "0.5"],
  });
  c = new RawClient(m.controlAddr);
  events = await new InfoListener(m.infoAddr, ["QS_Task"]).ready();
  await openEnvironment(c);
});

afterAll(async () => {
  events.close();
  c.close();
  await m.stop();
});

const RUN = ["task-sent", "task-received", "task-started"];

describe("states", () => {
  it("completed: a task that succeeds; progress, message and outputs are visible while it runs", async () => {
    const gate = newGate();
    const uid = await execute(c, fn("report", [gate.path]), { run_in_background: true });
    const running = await waitInfo(c, uid, (i) => i.message !== null);
    expect(running).toMatchObject({
      task_uid: uid,
      state: "running",
      name: "report",
      attempts: 1,
      progress: 40,
      message: "halfway there",
      outputs: { partial: [1, 2, 3] },
      after: [],
      run_uid: null,
      ended_at: null,
      stats: { active_workers: 1 },
    });
    expect(running.worker).toEqual(expect.any(String));
    expect(Date.parse(running.started_at ?? "")).toBeGreaterThanOrEqual(
      Date.parse(running.created_at ?? ""),
    );
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");

    gate.open();
    const done = await waitFinal(c, uid);
    expect(done).toMatchObject({
      state: "completed",
      progress: 100,
      message: "halfway there",
      outputs: { partial: [1, 2, 3] },
    });
    expect(Date.parse(done.ended_at ?? "")).toBeGreaterThanOrEqual(
      Date.parse(done.started_at ?? ""),
    );
    const r = await c.request("task_result", { task_uid: uid });
    expect(r).toMatchObject({
      status: "completed",
      result: { success: true, return_value: "done" },
    });

    const ev = eventsOf(events, uid);
    expect(await eventNames(events, uid, "task-succeeded")).toEqual([
      ...RUN,
      "task-progress",
      "task-progress",
      "task-progress",
      "task-succeeded",
    ]);
    expect(
      ev.filter((e) => e.event === "task-progress").map((e) => e.message ?? e.progress),
    ).toEqual([40, "halfway there", undefined]);
  });

  it("timed_out: the task ran longer than its timeout; its signal ends it (no worker replaced)", async () => {
    const pids = childPids(m.proc.pid as number);
    const uid = await execute(c, fn("wait", [3600]), { run_in_background: true, timeout: 0.3 });
    const i = await waitFinal(c, uid);
    expect(i.state).toBe("timed_out");
    // Cut short (by the server's own times): it ran its timeout, not its hour.
    const ran = msOf(i.ended_at) - msOf(i.started_at);
    expect(ran).toBeGreaterThanOrEqual(290);
    expect(ran).toBeLessThan(3_600_000);
    expect(i.message).toContain("ran longer than 0.3 s");
    const r = await c.request("task_result", { task_uid: uid });
    expect(r).toMatchObject({
      status: "completed",
      result: { success: false, return_value: null },
    });
    expect(await eventNames(events, uid, "task-timeout")).toEqual([...RUN, "task-timeout"]);
    expect(childPids(m.proc.pid as number)).toEqual(pids);
  });

  it("retrying: fails twice, succeeds on its third try; user code saw attempts 1, 2, 3", async () => {
    // Exactly enough retries: two failed tries, the third succeeds. The
    // backoff (1 s, so the waits last 0.5–1 s and 1–2 s) leaves time to look
    // at the task between its tries.
    const uid = await execute(c, fn("flaky", [2]), {
      run_in_background: true,
      max_retries: 2,
      retry_backoff: 1,
    });
    // Between tries the task is `retrying` (task_status keeps saying running).
    const firstRetry = await waitEvent(events, uid, "task-retried", (e) => e.attempt === 1);
    expect(firstRetry.state).toBe("retrying");
    const between = await waitInfo(c, uid, (i) => i.state === "retrying");
    expect(between.message).toContain("failure on attempt 1");
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");

    const i = await waitFinal(c, uid);
    expect(i).toMatchObject({
      state: "completed",
      attempts: 3,
      outputs: { attempt_1: 1, attempt_2: 2, attempt_3: 3 },
    });
    const r = await waitCompleted(c, uid);
    expect(r).toMatchObject({ success: true, return_value: { attempt: 3 } });
    const names = await eventNames(events, uid, "task-succeeded");
    const retried = ["task-received", "task-started", "task-progress", "task-retried"];
    expect(names).toEqual([
      "task-sent",
      ...retried,
      ...retried,
      "task-received",
      "task-started",
      "task-progress",
      "task-succeeded",
    ]);
    const ev = eventsOf(events, uid);
    expect(ev.filter((e) => e.event === "task-started").map((e) => e.attempt)).toEqual([1, 2, 3]);
    const waits = ev.filter((e) => e.event === "task-retried").map((e) => e.retry_in as number);
    // Exponential backoff with jitter: the 1st wait is in [0.5, 1], the 2nd in [1, 2].
    expect(waits[0]).toBeGreaterThanOrEqual(0.5);
    expect(waits[0]).toBeLessThanOrEqual(1);
    expect(waits[1]).toBeGreaterThanOrEqual(1);
    expect(waits[1]).toBeLessThanOrEqual(2);
  });

  it("failed: retries exhausted; the last error is the result", async () => {
    const uid = await execute(c, fn("flaky", [5]), {
      run_in_background: true,
      max_retries: 1,
      retry_backoff: 0.01,
    });
    const i = await waitFinal(c, uid);
    expect(i).toMatchObject({ state: "failed", attempts: 2 });
    expect(i.message).toContain("failure on attempt 2");
    const r = await waitCompleted(c, uid);
    expect(r).toMatchObject({ success: false });
    expect(String(r.msg)).toContain("failure on attempt 2");
    expect(String(r.traceback)).toContain("flaky");
    expect(await eventNames(events, uid, "task-failed")).toEqual([
      "task-sent",
      "task-received",
      "task-started",
      "task-progress",
      "task-retried",
      "task-received",
      "task-started",
      "task-progress",
      "task-failed",
    ]);
  });

  it("expired: a task waiting behind a long parent (`after`) was not started within `expires`", async () => {
    const pids = childPids(m.proc.pid as number);
    const parent = await execute(c, fn("gate", [newGate().path]), { run_in_background: true });
    // Two tasks wait behind the parent; the one without `expires` shows what
    // waiting looks like (the other may have expired by the time it is asked,
    // on a busy machine).
    const held = await execute(c, fn("wait", [0]), { run_in_background: true, after: [parent] });
    const uid = await execute(c, fn("wait", [0]), {
      run_in_background: true,
      after: [parent],
      expires: 0.3,
    });
    const waiting = await info(c, held);
    expect(waiting).toMatchObject({ state: "pending", attempts: 0, after: [parent] });
    expect(waiting.stats.queue_depth).toBeGreaterThanOrEqual(1);
    expect((await c.request("task_status", { task_uid: held })).status).toBe("running");

    const i = await waitFinal(c, uid);
    expect(i).toMatchObject({ state: "expired", attempts: 0, started_at: null, worker: null });
    expect(i.message).toContain("not started within 0.3 s");
    expect(i.message).toContain(parent);
    expect(await eventNames(events, uid, "task-expired")).toEqual(["task-sent", "task-expired"]);
    expect((await info(c, parent)).state).toBe("running");
    expect((await info(c, held)).state).toBe("pending");
    expect((await c.request("task_cancel", { task_uid: held })).result).toBe("cancelled");

    // Cancelled while running: its signal aborts the wait, no worker is replaced.
    const r = await c.request("task_cancel", { task_uid: parent });
    expect(r).toMatchObject({ success: true, task_uid: parent, result: "cancelling" });
    expect(String(r.msg)).toContain("re-opened automatically");
    const p = await waitFinal(c, parent);
    expect(p.state).toBe("cancelled");
    expect(p.message).not.toContain("replaced");
    expect(childPids(m.proc.pid as number)).toEqual(pids);
    expect(await eventNames(events, parent, "task-revoked")).toEqual([...RUN, "task-revoked"]);
  });

  it("cancelled: a pending task never runs; a list gets one outcome per task", async () => {
    const parent = await execute(c, fn("gate", [newGate().path]), { run_in_background: true });
    const child = await execute(c, fn("wait", [0]), { run_in_background: true, after: [parent] });
    const r = await c.request("task_cancel", { task_uid: [child, parent, "never-seen"] });
    expect(r).toMatchObject({
      success: true,
      result: { [child]: "cancelled", [parent]: "cancelling", "never-seen": "not_found" },
    });
    const ci = await info(c, child);
    expect(ci).toMatchObject({ state: "cancelled", attempts: 0, started_at: null });
    expect(ci.message).toContain("before it ran");
    await waitFinal(c, parent);
    const again = await c.request("task_cancel", { task_uid: child });
    expect(again.result).toBe("already_completed");
    expect(await eventNames(events, child, "task-revoked")).toEqual(["task-sent", "task-revoked"]);
  });

  it("a cancelled foreground task gives the manager back (idle)", async () => {
    const uid = await execute(c, fn("gate", [newGate().path]));
    expect((await c.request("status")).manager_state).toBe("executing_task");
    expect((await c.request("task_cancel", { task_uid: uid })).result).toBe("cancelling");
    const i = await waitFinal(c, uid);
    expect(i.state).toBe("cancelled");
    expect(i.message).not.toContain("replaced");
    const s = await c.request("status");
    expect(s).toMatchObject({ manager_state: "idle", worker_environment_exists: true });
  });
});

describe("dependencies", () => {
  it("a three-level chain completes in order", async () => {
    const gate = newGate();
    const a = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const b = await execute(c, fn("wait", [0.1]), { run_in_background: true, after: [a] });
    const cc = await execute(c, fn("wait", [0.05]), { run_in_background: true, after: [b] });
    expect((await info(c, b)).state).toBe("pending");
    expect((await info(c, cc)).state).toBe("pending");
    gate.open();
    const [ia, ib, ic] = [await waitFinal(c, a), await waitFinal(c, b), await waitFinal(c, cc)];
    for (const i of [ia, ib, ic]) expect(i.state).toBe("completed");
    expect(ib.after).toEqual([a]);
    expect(ic.after).toEqual([b]);
    expect(msOf(ib.started_at)).toBeGreaterThanOrEqual(msOf(ia.ended_at));
    expect(msOf(ic.started_at)).toBeGreaterThanOrEqual(msOf(ib.ended_at));
    for (const uid of [a, b, cc]) {
      expect(await eventNames(events, uid, "task-succeeded")).toEqual([...RUN, "task-succeeded"]);
    }
    expect(eventIndex(events, a, "task-succeeded")).toBeLessThan(
      eventIndex(events, b, "task-received"),
    );
    expect(eventIndex(events, b, "task-succeeded")).toBeLessThan(
      eventIndex(events, cc, "task-received"),
    );
  });

  it("a failed parent cancels its descendants, naming it; a later dependent is cancelled at once", async () => {
    const gate = newGate();
    const p = await execute(c, fn("gate", [gate.path, "parent broke"]), {
      run_in_background: true,
    });
    const child = await execute(c, fn("wait", [0]), { run_in_background: true, after: [p] });
    const grandchild = await execute(c, fn("wait", [0]), {
      run_in_background: true,
      after: [child],
    });
    gate.open();
    const pi = await waitFinal(c, p);
    expect(pi.state).toBe("failed");
    const ci = await waitFinal(c, child);
    const gi = await waitFinal(c, grandchild);
    expect(ci).toMatchObject({ state: "cancelled", attempts: 0 });
    expect(ci.message).toBe(`The task was cancelled: it depends on task '${p}', which failed`);
    expect(gi).toMatchObject({ state: "cancelled", attempts: 0 });
    expect(gi.message).toContain(`task '${child}'`);
    expect(gi.message).toContain(`because task '${p}' failed`);
    const gr = await c.request("task_result", { task_uid: grandchild });
    expect(gr).toMatchObject({ status: "completed", result: { success: false } });
    expect(await eventNames(events, p, "task-failed")).toEqual([...RUN, "task-failed"]);
    for (const uid of [child, grandchild]) {
      expect(await eventNames(events, uid, "task-revoked")).toEqual(["task-sent", "task-revoked"]);
    }

    // Cancelled at once, never run (visible once its outcome is durable, as every final state).
    const late = await execute(c, fn("wait", [0]), { run_in_background: true, after: [p] });
    const li = await waitFinal(c, late);
    expect(li).toMatchObject({ state: "cancelled", attempts: 0 });
    expect(li.message).toContain(p);
    expect(await eventNames(events, late, "task-revoked")).toEqual(["task-sent", "task-revoked"]);
  });

  it("tasks released together run highest priority first", async () => {
    const released = newGate();
    const gate = await execute(c, fn("gate", [released.path]), { run_in_background: true });
    const low = await execute(c, fn("wait", [0]), { run_in_background: true, after: [gate] });
    const high = await execute(c, fn("wait", [0]), {
      run_in_background: true,
      after: [gate],
      priority: 5,
    });
    const mid = await execute(c, fn("wait", [0]), {
      run_in_background: true,
      after: [gate],
      priority: 1,
    });
    released.open();
    for (const uid of [low, high, mid]) await waitFinal(c, uid);
    const order = [high, mid, low].map((u) => eventIndex(events, u, "task-received"));
    expect(order).toEqual([...order].sort((x, y) => x - y));
  });

  it("refuses an unknown task in `after`", async () => {
    const r = await c.request("function_execute", {
      item: fn("wait", [0]),
      user: "u",
      user_group: "primary",
      run_in_background: true,
      after: ["no-such-task"],
    });
    expect(r.success).toBe(false);
    expect(r.msg).toContain("Unknown task in 'after': 'no-such-task'");
  });
});

describe("task_info", () => {
  it("answers one record or a map; never-seen UIDs are not_found", async () => {
    const uid = await execute(c, fn("wait", [0]), { run_in_background: true });
    await waitFinal(c, uid);
    const r = await c.request("task_info", { task_uid: [uid, "never-seen"] });
    const map = r.task_info as Record<string, { state: string }>;
    expect(map[uid]?.state).toBe("completed");
    expect(map["never-seen"]?.state).toBe("not_found");
    expect((await info(c, "never-seen")).state).toBe("not_found");
  });
});
