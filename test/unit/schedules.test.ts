/**
 * The schedules' fire and misfire logic on a fake clock: the Schedules area
 * built from a fake of its context (store, submit, clock, timers).
 */
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import type { SchedulesContext } from "../../src/manager/schedules/context.js";
import type { ScheduleRecord } from "../../src/manager/schedules/record.js";
import { Schedules } from "../../src/manager/schedules/schedules.js";
import { dueSlots, nextSlots } from "../../src/manager/schedules/timing.js";
import type { StoreOp } from "../../src/manager/store/types.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");

/** A fake clock with timers, the store as a map, and the submitted requests. */
function world(opts: { refuse?: (uid: string) => string | undefined; hold?: Promise<void> } = {}) {
  let now = T0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const stored = new Map<string, unknown>();
  const submitted: { uid: string; method: string; params: Record<string, unknown> }[] = [];
  const ctx: SchedulesContext = {
    submit: async (req) => {
      submitted.push(req);
      await opts.hold;
      const why = opts.refuse?.(req.uid);
      return why === undefined ? { success: true, msg: "" } : { success: false, msg: why };
    },
    check: async () => undefined,
    write: async (ops: StoreOp[]) => {
      for (const op of ops) {
        if (op.op === "schedule_put") stored.set(op.uid, structuredClone(op.schedule));
        if (op.op === "schedule_delete") stored.delete(op.uid);
      }
    },
    outcome: () => undefined,
    now: () => now,
    setTimer: (ms, fn) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return () => {
        timers = timers.filter((t) => t.id !== id);
      };
    },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  };
  const opts2 = { catchUp: 5, firesKept: 50, nextShown: 5 };
  return {
    ctx,
    stored,
    submitted,
    timerCount: () => timers.length,
    make: () => new Schedules(ctx, opts2),
    /** Move the clock to `to`, running the timers due on the way (in order). */
    async advance(to: number) {
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > to) break;
        timers.shift();
        now = Math.max(now, t.at);
        t.fn();
        await new Promise((r) => setImmediate(r));
      }
      now = to;
    },
    setNow(t: number) {
      now = t;
      timers = [];
    },
  };
}

function every(seconds: number, extra: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    uid: `s-${Math.random()}`,
    name: "",
    note: "",
    user: "u",
    user_group: "primary",
    every_ms: seconds * 1000,
    misfire: "once",
    task: { item_type: "function", name: "f", args: [], kwargs: {} },
    paused: false,
    created_ms: T0,
    after_ms: T0,
    seq: 0,
    slot_fires: 0,
    missed: 0,
    fires: [],
    ...extra,
  };
}

describe("timing", () => {
  it("slots of `every` count from the creation (or start), each strictly after the last", () => {
    const t = { everyMs: 1000, createdMs: T0 };
    expect(nextSlots(t, T0, 3)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000]);
    expect(nextSlots({ ...t, startMs: T0 + 5500 }, T0, 2)).toEqual([T0 + 5500, T0 + 6500]);
    expect(nextSlots({ ...t, endMs: T0 + 2000 }, T0, 5)).toEqual([T0 + 1000, T0 + 2000]);
    expect(dueSlots(t, T0, T0 + 10_500, 3)).toEqual({
      slots: [T0 + 8000, T0 + 9000, T0 + 10_000],
      total: 10,
    });
  });

  it("a cron pattern's slots are croner's, in its time zone", () => {
    const t = { cron: "0 30 9 * * 1-5", tz: "America/New_York", createdMs: T0 };
    const croner = new Cron("0 30 9 * * 1-5", { timezone: "America/New_York", paused: true })
      .nextRuns(4, new Date(T0))
      .map((d) => d.getTime());
    expect(nextSlots(t, T0, 4)).toEqual(croner);
  });
});

describe("Schedules on a fake clock", () => {
  it("fires once per slot with one timer, writing each fire down before submitting it", async () => {
    const w = world();
    const sch = w.make();
    sch.start();
    const s = every(1);
    await sch.add(s);
    await w.advance(T0 + 3500);
    await sch.settled();
    expect(w.submitted.map((r) => r.uid)).toEqual(s.fires.map((f) => f.task_uid));
    expect(s.fires.map((f) => [f.seq, f.slot, f.kind])).toEqual([
      [1, T0 + 1000, "scheduled"],
      [2, T0 + 2000, "scheduled"],
      [3, T0 + 3000, "scheduled"],
    ]);
    expect(w.timerCount()).toBe(1);
    const kept = w.stored.get(s.uid) as ScheduleRecord;
    expect(kept.seq).toBe(3);
    expect(kept.fires.every((f) => f.success === true)).toBe(true);
  });

  it("10,000 schedules keep one timer", async () => {
    const w = world();
    const sch = w.make();
    sch.start();
    for (let i = 0; i < 10_000; i++) await sch.add(every(60 + (i % 100)));
    expect(w.timerCount()).toBe(1);
    expect(sch.counts().active).toBe(10_000);
  });

  it("a fire looks at the schedules due, not at the 10,000 others", async () => {
    const w = world();
    const sch = w.make();
    sch.start();
    // Each rare schedule counts the reads of its fields once made.
    let reads = 0;
    let counting = false;
    const watched = (r: ScheduleRecord): ScheduleRecord =>
      new Proxy(r, {
        get(target, key, receiver) {
          if (counting) reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      });
    for (let i = 0; i < 10_000; i++) await sch.add(watched(every(3600 + i)));
    const often = every(1);
    counting = true;
    await sch.add(often);
    await w.advance(T0 + 5500);
    await sch.settled();
    counting = false;
    expect(often.fires).toHaveLength(5);
    expect(reads).toBe(0);
    expect(w.timerCount()).toBe(1);
  });

  it("stops at its limit and at its end", async () => {
    const w = world();
    const sch = w.make();
    sch.start();
    const limited = every(1, { limit: 2 });
    const ending = every(1, { end_ms: T0 + 3000 });
    await sch.add(limited);
    await sch.add(ending);
    await w.advance(T0 + 10_000);
    await sch.settled();
    expect(limited.fires).toHaveLength(2);
    expect(ending.fires.map((f) => f.slot)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000]);
    expect(sch.state(limited)).toBe("ended");
    expect(sch.counts()).toMatchObject({ active: 0, ended: 2 });
  });

  it("a refused fire is recorded with its reason, and the schedule goes on", async () => {
    const w = world({ refuse: () => "Function 'f' is not allowed" });
    const sch = w.make();
    sch.start();
    const s = every(1);
    await sch.add(s);
    await w.advance(T0 + 2000);
    await sch.settled();
    expect(s.fires.map((f) => [f.success, f.msg])).toEqual([
      [false, "Function 'f' is not allowed"],
      [false, "Function 'f' is not allowed"],
    ]);
    expect(sch.counts()).toMatchObject({ fires: 2, fires_failed: 2 });
  });

  it("pause skips the slots meanwhile; resume fires from then on; trigger fires at once", async () => {
    const w = world();
    const sch = w.make();
    sch.start();
    const s = every(1);
    await sch.add(s);
    await w.advance(T0 + 1000);
    await sch.setPaused(s, true);
    await w.advance(T0 + 5000);
    await sch.setPaused(s, false);
    await w.advance(T0 + 6000);
    const t = await sch.trigger(s);
    await sch.settled();
    expect(s.fires.map((f) => [f.slot, f.kind])).toEqual([
      [T0 + 1000, "scheduled"],
      [T0 + 6000, "scheduled"],
      [null, "trigger"],
    ]);
    expect(t.success).toBe(true);
    expect(s.missed).toBe(0);
  });

  for (const [policy, fired, missed] of [
    ["skip", [], 5],
    ["once", [T0 + 5000], 4],
    ["all", [T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000, T0 + 5000], 0],
  ] as const) {
    it(`after a restart, slots missed while down follow misfire: ${policy}`, async () => {
      const w = world();
      const s = every(1, { misfire: policy });
      const sch = w.make();
      sch.restore([{ uid: s.uid, schedule: s }]);
      w.setNow(T0 + 5500);
      sch.start();
      await sch.settled();
      expect(s.fires.map((f) => f.slot)).toEqual(fired);
      expect(s.fires.every((f) => f.kind === "misfire")).toBe(true);
      expect(s.missed).toBe(missed);
      // Then on schedule again, from the next slot.
      await w.advance(T0 + 6000);
      await sch.settled();
      expect(s.fires[s.fires.length - 1]).toMatchObject({ slot: T0 + 6000, kind: "scheduled" });
    });
  }

  it("misfire 'all' makes up for at most the catch-up cap; the rest are missed", async () => {
    const w = world();
    const s = every(1, { misfire: "all" });
    const sch = w.make();
    sch.restore([{ uid: s.uid, schedule: s }]);
    w.setNow(T0 + 100_000);
    sch.start();
    expect(s.fires.map((f) => f.slot)).toEqual([96, 97, 98, 99, 100].map((k) => T0 + k * 1000));
    expect(s.missed).toBe(95);
  });

  it("a restart from the store fires no slot twice", async () => {
    const w = world();
    const a = w.make();
    a.start();
    const s = every(1);
    await a.add(s);
    await w.advance(T0 + 3000);
    await a.settled();
    a.close();
    // What the store holds is what a restarted manager takes back.
    const b = w.make();
    b.restore(
      [...w.stored].map(([uid, schedule]) => ({ uid, schedule: structuredClone(schedule) })),
    );
    b.start();
    await w.advance(T0 + 4000);
    await b.settled();
    const again = b.get(s.uid) as ScheduleRecord;
    expect(again.fires.map((f) => [f.seq, f.slot])).toEqual([
      [1, T0 + 1000],
      [2, T0 + 2000],
      [3, T0 + 3000],
      [4, T0 + 4000],
    ]);
  });

  it("a deleted schedule is not written back by a late fire", async () => {
    let release!: () => void;
    const w = world({ hold: new Promise<void>((r) => (release = r)) });
    const sch = w.make();
    sch.start();
    const s = every(1);
    await sch.add(s);
    await w.advance(T0 + 1000);
    // Deleted while its fire's task is being submitted.
    expect(w.submitted).toHaveLength(1);
    await sch.delete(s);
    release();
    await sch.settled();
    expect(w.stored.has(s.uid)).toBe(false);
  });
});
