/**
 * Tasks dealt ahead (--worker-prefetch): once every slot of the pool is
 * taken, each worker process is dealt a few more, which wait in it and start
 * the moment a slot frees. Cancel, priorities and timeouts hold for them: a
 * cancel takes one out unrun, the highest priority waiting in a worker starts
 * first, and a timeout counts from the task's start, not from its dealing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { RawClient, sleep, waitUntil, type RunningManager } from "../helpers/manager.js";
import { BRISK_INFO_INTERVAL, InfoListener } from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { newGate } from "../helpers/startup.js";
import {
  eventNames,
  execute,
  fn,
  info,
  openEnvironment,
  waitCompleted,
  waitFinal,
  type Info,
} from "../helpers/tasks.js";
import { startPool } from "./helpers.js";

let pool: RunningManager | undefined;
let c: RawClient | undefined;
let events: InfoListener | undefined;

afterEach(async () => {
  events?.close();
  c?.close();
  await pool?.stop();
  [pool, c, events] = [undefined, undefined, undefined];
});

async function setup(): Promise<RawClient> {
  pool = await startPool(2, [
    "--worker-slots",
    "1",
    "--worker-prefetch",
    "2",
    "--zmq-info-interval",
    String(BRISK_INFO_INTERVAL),
  ]);
  c = new RawClient(pool.controlAddr);
  events = await new InfoListener(pool.infoAddr, ["QS_Task"]).ready();
  await openEnvironment(c);
  return c;
}

const BG = { run_in_background: true };

/** Wait until the task is in a worker (dealt) and has not started there. */
function dealtAhead(c: RawClient, uid: string): Promise<Info> {
  return waitUntil(async () => {
    const i = await info(c, uid);
    return i.state === "running" && i.worker !== null && i.started_at === null ? i : undefined;
  });
}

/** Fill both workers' one slot with a task that waits for `gate`; returns their uids. */
async function fillSlots(c: RawClient, gate: string): Promise<string[]> {
  const uids = [await execute(c, fn("gate", [gate]), BG), await execute(c, fn("gate", [gate]), BG)];
  for (const uid of uids) await waitUntil(async () => (await info(c, uid)).started_at !== null);
  return uids;
}

describe("--workers 2 --worker-slots 1 --worker-prefetch 2", () => {
  it("deals tasks ahead to full workers; a cancel takes one out unrun", async () => {
    const c = await setup();
    const gate = newGate();
    const busy = await fillSlots(c, gate.path);
    const x = await execute(c, fn("noop"), BG);
    const y = await execute(c, fn("noop"), BG);
    await dealtAhead(c, x);
    await dealtAhead(c, y);
    expect((await c.request("status")).worker_background_tasks).toBe(4);

    const r = await c.request("task_cancel", { task_uid: x });
    expect(r.success, String(r.msg)).toBe(true);
    const xi = await waitFinal(c, x);
    expect(xi).toMatchObject({ state: "cancelled", started_at: null });
    expect(await eventNames(events as InfoListener, x, "task-revoked")).toEqual([
      "task-sent",
      "task-received",
      "task-revoked",
    ]);
    // The others run once the slots free up.
    gate.open();
    for (const uid of [...busy, y]) expect((await waitCompleted(c, uid)).success).toBe(true);
  });

  it("kill -9 of a worker: its running task fails, those dealt ahead to it wait again and complete", async () => {
    const c = await setup();
    const gate = newGate();
    const before = childPids(pool?.proc.pid as number);
    const busy = await fillSlots(c, gate.path);
    const ahead = [await execute(c, fn("noop"), BG), await execute(c, fn("noop"), BG)];
    for (const uid of ahead) await dealtAhead(c, uid);
    // The pool worker (not the main one, which holds the environment).
    process.kill(before[1] as number, "SIGKILL");
    await waitUntil(async () => {
      const states = await Promise.all(busy.map(async (u) => (await info(c, u)).state));
      return states.includes("failed");
    });
    gate.open();
    for (const uid of ahead) {
      const r = await waitCompleted(c, uid);
      expect(r.success, String(r.msg)).toBe(true);
    }
    const outcomes = await Promise.all(busy.map(async (u) => (await waitFinal(c, u)).state));
    expect(outcomes.sort()).toEqual(["completed", "failed"]);
    const requeued = await Promise.all(
      ahead.map(async (u) =>
        (await eventNames(events as InfoListener, u, "task-succeeded")).includes("task-requeued"),
      ),
    );
    expect(requeued.filter(Boolean)).toHaveLength(1);
  });

  it("the highest priority waiting in a worker starts first there", async () => {
    const c = await setup();
    const gate = newGate();
    await fillSlots(c, gate.path);
    // Dealt least loaded first, the other worker before the main one on a tie:
    // low1 and high go to one worker, low2 to the other.
    const low1 = await execute(c, fn("hold", [0.2]), { ...BG, priority: 0 });
    const low2 = await execute(c, fn("hold", [0.2]), { ...BG, priority: 0 });
    const high = await execute(c, fn("hold", [0.2]), { ...BG, priority: 5 });
    const [l1, , h] = [
      await dealtAhead(c, low1),
      await dealtAhead(c, low2),
      await dealtAhead(c, high),
    ];
    expect(h.worker).toBe(l1.worker);
    gate.open();
    await waitCompleted(c, low1);
    await waitCompleted(c, high);
    const [l1d, hd] = [await info(c, low1), await info(c, high)];
    // One slot: the high one started first (the low one after it had held its slot).
    expect(Date.parse(hd.started_at as string)).toBeLessThan(Date.parse(l1d.started_at as string));
  });

  it("a timeout counts from the start of a task dealt ahead, not from its dealing", async () => {
    const c = await setup();
    const gate = newGate();
    const busy = await fillSlots(c, gate.path);
    const t = await execute(c, fn("noop"), { ...BG, timeout: 0.5 });
    await dealtAhead(c, t);
    // On purpose: it waits in its worker longer than its timeout.
    await sleep(1500);
    gate.open();
    const ti = await waitFinal(c, t);
    expect(ti.state).toBe("completed");
    for (const uid of busy) await waitCompleted(c, uid);
  });
});
