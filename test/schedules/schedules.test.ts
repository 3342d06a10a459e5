/**
 * Schedules on a real manager, both stores: `every` and cron timing read from
 * the manager's own fire records, pause/resume/trigger/update/delete, the
 * owner's permissions checked at each fire, and refusals of bad input.
 */
import { Cron } from "croner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { openEnvironment, USER } from "../helpers/tasks.js";
import { COUNT_PLAN, create, getSchedule, slotsOf, type Fire } from "./helpers.js";

const SLEEP = { item_type: "function", name: "function_sleep", args: [0] };

describe.each(STORES)("schedules (%s store)", (_label, makeStore) => {
  let store: StoreSetup;
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    store = await makeStore();
    m = await startManager({ args: store.args });
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c?.close();
    await m?.stop();
    await store?.cleanup();
  });

  it("an `every: 1` schedule fires once a second, and its fires are listed with their tasks", async () => {
    const uid = await create(c, { every: 1, task: SLEEP, name: "tick" });
    await waitUntil(async () => {
      const s = await getSchedule(c, uid);
      return s.last_fires.filter((f) => f.outcome === "completed").length >= 3;
    });
    const s = await getSchedule(c, uid);
    expect(s).toMatchObject({ name: "tick", every: 1, state: "active", user: USER.user });
    const fires = s.last_fires.filter((f) => f.kind === "scheduled");
    expect(fires.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < fires.length; i++) {
      const [a, b] = [fires[i - 1] as Fire, fires[i] as Fire];
      expect(b.seq).toBe(a.seq + 1);
      // Slots one second apart; each fired at its slot or after, never before.
      expect((b.slot as number) - (a.slot as number)).toBeCloseTo(1, 6);
      expect(b.time - a.time).toBeGreaterThan(0);
    }
    for (const f of fires) expect(f.time).toBeGreaterThanOrEqual(f.slot as number);
    // Each fire's task is a real task of the manager, made as the schedule's owner.
    const done = s.last_fires.find((f) => f.outcome === "completed") as Fire;
    const info = await c.request("task_info", { task_uid: done.task_uid });
    expect(info.task_info).toMatchObject({ state: "completed", user: USER.user });
    expect(await c.request("schedule_delete", { schedule_uid: uid })).toEqual({
      success: true,
      msg: "",
    });
  });

  it("a cron pattern's next fire times are croner's (5 and 6 fields, a time zone)", async () => {
    for (const [cron, tz] of [
      ["30 9 * * 1-5", "America/New_York"],
      ["15 0 12 1 * *", "Asia/Tokyo"],
      ["0 0 * * *", undefined],
    ] as const) {
      const uid = await create(c, { cron, ...(tz ? { tz } : {}), task: SLEEP });
      const s = await getSchedule(c, uid);
      const expected = new Cron(cron, { paused: true, ...(tz ? { timezone: tz } : {}) })
        .nextRuns(5, new Date((s.created as number) * 1000))
        .map((d) => d.getTime() / 1000);
      expect(s.next_fires).toEqual(expected);
      expect(s.next_fire).toBe(expected[0]);
      await c.request("schedule_delete", { schedule_uid: uid });
    }
  });

  it("pause, resume, trigger, update and delete", async () => {
    const uid = await create(c, { every: 1, task: SLEEP });
    // A second schedule is the clock: its fires show that time passed on the manager.
    const witness = await create(c, { every: 1, task: COUNT_PLAN });
    await waitUntil(async () => (await getSchedule(c, uid)).last_fires.length >= 1);
    expect(await c.request("schedule_pause", { schedule_uid: uid })).toMatchObject({
      success: true,
    });
    const paused = await getSchedule(c, uid);
    expect(paused).toMatchObject({ state: "paused", next_fire: null, next_fires: [] });
    const pausedAt = Math.max(...paused.last_fires.map((f) => f.time));
    const seen = (await getSchedule(c, witness)).last_fires.length;
    await waitUntil(async () => (await getSchedule(c, witness)).last_fires.length >= seen + 3);
    // Nothing fired while paused but a trigger.
    const t = await c.request("schedule_trigger", { schedule_uid: uid });
    expect(t.success, String(t.msg)).toBe(true);
    let s = await getSchedule(c, uid);
    const sincePause = s.last_fires.filter((f) => f.time > pausedAt);
    expect(sincePause.map((f) => [f.kind, f.task_uid])).toEqual([["trigger", t.task_uid]]);
    expect(s.missed).toBe(0);

    expect(await c.request("schedule_resume", { schedule_uid: uid })).toMatchObject({
      success: true,
    });
    await waitUntil(async () =>
      (await getSchedule(c, uid)).last_fires.some(
        (f) => f.time > pausedAt && f.kind === "scheduled",
      ),
    );

    // Every 2 s from now on.
    const u = await c.request("schedule_update", {
      ...USER,
      schedule_uid: uid,
      every: 2,
      note: "slower",
    });
    expect(u).toEqual({ success: true, msg: "" });
    s = await getSchedule(c, uid);
    expect(s).toMatchObject({ every: 2, note: "slower", state: "active" });
    const next = s.next_fires;
    for (let i = 1; i < next.length; i++)
      expect((next[i] as number) - (next[i - 1] as number)).toBeCloseTo(2, 6);
    const updatedAt = Math.max(...s.last_fires.map((f) => f.time));
    await waitUntil(async () => {
      const after = (await getSchedule(c, uid)).last_fires.filter(
        (f) => f.kind === "scheduled" && f.time > updatedAt,
      );
      return after.length >= 2;
    });
    s = await getSchedule(c, uid);
    const slots = slotsOf(s.last_fires, "scheduled").filter((x) => x > updatedAt);
    expect((slots[1] as number) - (slots[0] as number)).toBeCloseTo(2, 6);

    for (const x of [uid, witness]) {
      expect(await c.request("schedule_delete", { schedule_uid: x })).toEqual({
        success: true,
        msg: "",
      });
    }
    const gone = await c.request("schedule_get", { schedule_uid: uid });
    expect(gone.success).toBe(false);
    expect(gone.msg).toContain("not found");
    const list = await c.request("schedule_list");
    expect((list.schedules as { schedule_uid: string }[]).map((r) => r.schedule_uid)).not.toContain(
      uid,
    );
  });

  it("a schedule loses its power when its owner's permissions are taken away", async () => {
    const uid = await create(c, { every: 1, task: SLEEP });
    await waitUntil(async () =>
      (await getSchedule(c, uid)).last_fires.some((f) => f.success === true),
    );
    const perms = await c.request("permissions_get");
    const doc = structuredClone(perms.user_group_permissions) as {
      user_groups: Record<string, Record<string, unknown>>;
    };
    (doc.user_groups.primary as Record<string, unknown>).allowed_functions = ["nothing_here"];
    const set = await c.request("permissions_set", { user_group_permissions: doc });
    expect(set.success, String(set.msg)).toBe(true);
    await waitUntil(async () =>
      (await getSchedule(c, uid)).last_fires.some((f) => f.success === false),
    );
    const refused = (await getSchedule(c, uid)).last_fires.find((f) => f.success === false) as Fire;
    expect(refused.msg).toContain("'function_sleep' is not allowed for users from 'primary' group");
    // The manager goes on, and the schedule too: the file's permissions give the power back.
    expect(await c.request("permissions_reload")).toMatchObject({ success: true });
    await waitUntil(async () => {
      const s = await getSchedule(c, uid);
      return s.last_fires.some((f) => f.success === true && f.seq > refused.seq);
    });
    const metrics = await c.request("metrics");
    const counts = (metrics.metrics as { schedules: Record<string, number> }).schedules;
    expect(counts.active).toBeGreaterThanOrEqual(1);
    expect(counts.fires_failed).toBeGreaterThanOrEqual(1);
    expect(counts.fires).toBeGreaterThan(counts.fires_failed as number);
    await c.request("schedule_delete", { schedule_uid: uid });
  });
});

describe.each(STORES)("schedule refusals (%s store)", (_label, makeStore) => {
  let store: StoreSetup;
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    store = await makeStore();
    m = await startManager({ args: [...store.args, "--max-schedules", "2"] });
    c = new RawClient(m.controlAddr);
  });
  afterAll(async () => {
    c?.close();
    await m?.stop();
    await store?.cleanup();
  });

  it("bad input is refused with a message naming what is wrong", async () => {
    const fn = { item_type: "function", name: "function_sleep", args: [1] };
    const cases: [Record<string, unknown>, string][] = [
      [{ cron: "61 * * * *", task: fn }, "'cron' is not a valid pattern"],
      [{ cron: "* * * *", task: fn }, "'cron' must have 5 fields"],
      [{ cron: "* * * * * * *", task: fn }, "'cron' must have 5 fields"],
      [{ cron: "* * * * *", every: 5, task: fn }, "either 'cron' or 'every', not both"],
      [{ task: fn }, "needs 'cron' (a pattern) or 'every'"],
      [{ every: 0.01, task: fn }, "the shortest period is 0.1 s (--schedule-min-every)"],
      [{ cron: "* * * * *", tz: "Mars/Olympus", task: fn }, "'tz' is not a time zone"],
      [{ every: 5, tz: "UTC", task: fn }, "'tz' is the time zone of a 'cron' pattern"],
      [{ every: 5 }, "'task' is missing"],
      [
        { every: 5, task: { item_type: "instruction", name: "queue_stop" } },
        "item_type 'function' or 'plan'",
      ],
      [
        { every: 5, task: { item_type: "function", name: "no_such_function" } },
        "Function 'no_such_function' is not allowed for users from 'primary' group",
      ],
      [{ every: 5, task: { ...fn, options: { timeout: -1 } } }, "'task.options.timeout'"],
      [{ every: 5, task: { ...fn, options: { bogus: 1 } } }, "bogus"],
      [{ every: 5, task: { item_type: "plan", name: "no_such_plan" } }, "Plan validation failed"],
      [{ every: 5, task: fn, start: 2_000_000_000, end: 1_900_000_000 }, "'end'"],
      [{ every: 5, task: fn, end: 1_000_000 }, "'end' (1000000) has already passed"],
      [{ every: 5, task: fn, misfire: "sometimes" }, "misfire"],
      [{ every: 5, task: fn, user_group: "nobody" }, "Unknown user group: 'nobody'"],
    ];
    for (const [params, msg] of cases) {
      const r = await c.request("schedule_create", { ...USER, ...params });
      expect(r.success, JSON.stringify(params)).toBe(false);
      expect(r.msg, JSON.stringify(params)).toContain(msg);
      expect(r.schedule_uid).toBeNull();
    }
    expect((await c.request("schedule_list")).schedules).toEqual([]);
    for (const method of [
      "schedule_get",
      "schedule_pause",
      "schedule_trigger",
      "schedule_delete",
    ]) {
      const r = await c.request(method, { schedule_uid: "nope" });
      expect(r.success).toBe(false);
      expect(r.msg).toContain("Schedule 'nope' is not found");
    }
  });

  it("more schedules than --max-schedules are refused", async () => {
    await create(c, { every: 60, task: COUNT_PLAN });
    await create(c, { every: 60, task: COUNT_PLAN });
    const r = await c.request("schedule_create", { ...USER, every: 60, task: COUNT_PLAN });
    expect(r).toMatchObject({
      success: false,
      msg: "Error: Too many schedules: the limit is 2 (--max-schedules)",
    });
  });
});
