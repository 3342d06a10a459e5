/**
 * Schedules across a kill -9 and a restart, both stores: none is lost, no
 * slot fires twice, and the slots missed while the manager was down follow
 * each schedule's misfire policy. The schedules add plans to the queue, so no
 * environment is needed.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  RawClient,
  sleep,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { COUNT_PLAN, create, getSchedule, type Fire } from "./helpers.js";

describe.each(STORES)("schedules across a restart (%s store)", (_label, makeStore) => {
  let store: StoreSetup | undefined;
  const managers: RunningManager[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const m of managers.splice(0)) await m.stop();
    await store?.cleanup();
  });
  async function start(): Promise<RawClient> {
    store ??= await makeStore();
    const m = await startManager({ args: store.args });
    managers.push(m);
    const c = new RawClient(m.controlAddr);
    clients.push(c);
    return c;
  }
  async function crash(): Promise<number> {
    await (managers[managers.length - 1] as RunningManager).kill9();
    return Date.now() / 1000;
  }

  it("a kill -9 in the middle of a schedule loses no schedule and fires no slot twice", async () => {
    store = undefined;
    let c = await start();
    const uid = await create(c, { every: 1, task: COUNT_PLAN, misfire: "all" });
    // Submitted fires (success known) were written down first: those must survive.
    const submitted = async () =>
      (await getSchedule(c, uid)).last_fires.filter((f) => f.success !== null);
    await waitUntil(async () => (await submitted()).length >= 3);
    const before = await submitted();
    const killedAt = await crash();
    c = await start();
    await waitUntil(async () => {
      const s = await getSchedule(c, uid);
      return s.last_fires.filter((f) => f.time > killedAt && f.kind === "scheduled").length >= 3;
    });
    const after = (await getSchedule(c, uid)).last_fires;
    // The fires read before the crash are still there, as they were.
    for (const f of before) {
      const same = after.find((a) => a.seq === f.seq);
      if (same)
        expect({ ...same, success: null, outcome: null }).toEqual({
          ...f,
          success: null,
          outcome: null,
        });
    }
    const bySeq = new Map<number, Fire>();
    for (const f of [...before, ...after]) bySeq.set(f.seq, f);
    const fires = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const slots = fires.map((f) => f.slot as number);
    expect(new Set(slots).size).toBe(slots.length);
    for (let i = 1; i < slots.length; i++) expect(slots[i]).toBeGreaterThan(slots[i - 1] as number);
    expect(fires.map((f) => f.seq)).toEqual(fires.map((_, i) => (fires[0] as Fire).seq + i));
    // Each item in the queue came from one fire: none twice.
    const q = await c.request("queue_get");
    const uids = (q.items as { item_uid: string }[]).map((i) => i.item_uid);
    expect(new Set(uids).size).toBe(uids.length);
    const fired = new Set(fires.map((f) => f.task_uid));
    for (const u of uids) expect(fired.has(u)).toBe(true);
  });

  it("slots missed while the manager was down follow misfire skip, once and all", async () => {
    store = undefined;
    let c = await start();
    const uids = {
      skip: await create(c, { every: 1, task: COUNT_PLAN, misfire: "skip" }),
      once: await create(c, { every: 1, task: COUNT_PLAN, misfire: "once" }),
      all: await create(c, { every: 1, task: COUNT_PLAN, misfire: "all" }),
    };
    await waitUntil(async () => {
      for (const uid of Object.values(uids)) {
        const fires = (await getSchedule(c, uid)).last_fires;
        if (!fires.some((f) => f.success === true)) return false;
      }
      return true;
    });
    const killedAt = await crash();
    // Down across several ticks (a span of time, not an event to wait for).
    await sleep(3500);
    const startedAt = Date.now() / 1000;
    c = await start();
    const skip = await getSchedule(c, uids.skip);
    const once = await getSchedule(c, uids.once);
    const all = await getSchedule(c, uids.all);
    const missedFires = (fires: Fire[]) =>
      fires.filter((f) => f.kind === "misfire" && f.time > killedAt);
    const lastSlotBefore = (fires: Fire[]) =>
      Math.max(...fires.filter((f) => f.time <= killedAt).map((f) => f.slot as number));

    // What the restarted manager said of each schedule's missed slots (for a failure's message).
    const said = () =>
      `restarted at ${String(startedAt)}, killed at ${String(killedAt)}; ${JSON.stringify({
        ...skip,
        last_fires: skip.last_fires.slice(-3),
      })}; log: ${(managers[managers.length - 1] as RunningManager)
        .output()
        .split("\n")
        .filter((l) => l.includes("missed while"))
        .join(" | ")}`;
    expect(missedFires(skip.last_fires)).toEqual([]);
    expect(skip.missed, said()).toBeGreaterThanOrEqual(3);

    expect(missedFires(once.last_fires)).toHaveLength(1);
    expect(once.missed).toBeGreaterThanOrEqual(2);

    const caught = missedFires(all.last_fires).map((f) => f.slot as number);
    expect(caught.length).toBeGreaterThanOrEqual(3);
    const first = lastSlotBefore(all.last_fires) + 1;
    caught.forEach((s, i) => expect(s - first).toBeCloseTo(i, 6));
    expect(all.missed).toBe(0);
    // /metrics counts the fires of passed slots (the manager's, since this start).
    const counts = ((await c.request("metrics")).metrics as { schedules: { misfires: number } })
      .schedules;
    expect(counts.misfires).toBeGreaterThanOrEqual(1 + caught.length);
    // Every schedule is back on its slots.
    await waitUntil(async () => {
      for (const uid of Object.values(uids)) {
        const s = await getSchedule(c, uid);
        if (!s.last_fires.some((f) => f.kind === "scheduled" && f.time > killedAt)) return false;
      }
      return true;
    });
  });
});
