/** The rate limits of functions (src/manager/tasks/rate-limits.ts) on a fake clock. */
import { describe, expect, it } from "vitest";
import { parseRate, parseRateRules } from "../../src/protocol/rate-limit.js";
import { RateLimits, type LimitedJob } from "../../src/manager/tasks/rate-limits.js";
import { TaskScheduler } from "../../src/manager/tasks/scheduler.js";

/** A clock whose timers fire when it is moved on, in time order. */
class FakeClock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  armed = 0;
  now = (): number => this.t;
  setTimer = (ms: number, fn: () => void): (() => void) => {
    const id = this.nextId++;
    this.armed++;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  };
  get pending(): number {
    return this.timers.length;
  }
  /** Move to `to`, firing the timers due on the way. */
  advance(to: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const first = this.timers[0];
      if (!first || first.at > to) break;
      this.timers.shift();
      this.t = Math.max(this.t, first.at);
      first.fn();
    }
    this.t = Math.max(this.t, to);
  }
}

let seq = 0;
function job(name: string, priority = 0): LimitedJob {
  const s = seq++;
  return { uid: `t${s}`, call: { name }, priority, seq: s };
}

function make(defaults: Record<string, string> = {}, max = 10) {
  const clock = new FakeClock();
  const released: LimitedJob[] = [];
  const limits = new RateLimits<LimitedJob>(
    { defaults: new Map(Object.entries(defaults).map(([k, v]) => [k, parseRate(v)])), max },
    { now: clock.now, setTimer: clock.setTimer, release: (jobs) => released.push(...jobs) },
  );
  return { clock, limits, released };
}

describe("parsing", () => {
  it("reads N/PERIOD strictly", () => {
    expect(parseRate("5/s")).toEqual({ count: 5, periodMs: 1000, text: "5/s" });
    expect(parseRate("10/2s").periodMs).toBe(2000);
    expect(parseRate("100/m").periodMs).toBe(60_000);
    expect(parseRate("3/h").periodMs).toBe(3_600_000);
    for (const bad of ["5", "5/", "/s", "5/d", "5 / s", "-1/s", "1.5/s", "5/0s", "five/s"]) {
      expect(() => parseRate(bad)).toThrow(/not a rate limit|count of starts|period/);
    }
    expect(() => parseRate("0/s")).toThrow("the count of starts must be from 1 to 1000000, got 0");
    expect(() => parseRate("1/25h")).toThrow("the period must be at least 1h and at most 24h");
    expect([...parseRateRules("a=5/s, b=1/m").keys()]).toEqual(["a", "b"]);
    expect(() => parseRateRules("a")).toThrow("'a' is not NAME=N/PERIOD (e.g. move=5/s)");
  });
});

describe("RateLimits", () => {
  it("admits `count` starts, holds the rest in order, and releases them by one timer", () => {
    const { clock, limits, released } = make({ f: "2/s" });
    const [a, b, c, d] = [job("f"), job("f"), job("f"), job("f")];
    expect(limits.admit(a)).toBeUndefined();
    expect(limits.admit(b)).toBeUndefined();
    expect(limits.admit(c)).toBe(
      "Waiting: the function 'f' is at its rate limit of 2/s (--rate-limit); the task starts in its turn",
    );
    expect(limits.admit(d)).toMatch(/rate limit/);
    expect(limits.held).toBe(2);
    // Not heard to start yet: no timer can say when room comes.
    expect(clock.pending).toBe(0);
    limits.started(a.uid, clock.t / 1000);
    clock.advance(clock.t + 100);
    limits.started(b.uid, clock.t / 1000);
    // One timer: when a's start leaves the period.
    expect(clock.pending).toBe(1);
    clock.advance(clock.t + 899);
    expect(released).toEqual([]);
    clock.advance(clock.t + 1);
    expect(released).toEqual([c]);
    expect(limits.admit(c)).toBeUndefined();
    clock.advance(clock.t + 100);
    expect(released).toEqual([c, d]);
    expect(limits.held).toBe(0);
    expect(limits.admit(d)).toBeUndefined();
    // Nothing held: no timer left.
    expect(clock.pending).toBe(0);
  });

  it("holds a later task behind those held before it, a higher priority first", () => {
    const { clock, limits, released } = make({ f: "1/s" });
    const first = job("f");
    expect(limits.admit(first)).toBeUndefined();
    const low = job("f");
    const high = job("f", 5);
    const other = job("g");
    expect(limits.admit(low)).toBeDefined();
    expect(limits.admit(high)).toBeDefined();
    // Another function is not limited.
    expect(limits.admit(other)).toBeUndefined();
    limits.started(first.uid, clock.t / 1000);
    clock.advance(clock.t + 1000);
    expect(released).toEqual([high]);
    expect(limits.admit(high)).toBeUndefined();
    limits.gone(high.uid);
    clock.advance(clock.t + 1000);
    expect(released).toEqual([high, low]);
  });

  it("never lets more than `count` starts into one period, whatever the delays to the start", () => {
    const clock = new FakeClock();
    const starts: number[] = [];
    // Pseudo-random delays between dealing and the start, and the start and its report.
    let r = 7;
    const rand = () => (r = (r * 48271) % 2147483647) / 2147483647;
    const deal = (jobs: LimitedJob[]) => {
      for (const j of jobs) {
        if (limits.admit(j) !== undefined) continue;
        const startMs = clock.t + Math.floor(rand() * 300);
        starts.push(startMs);
        const heardAt = startMs + Math.floor(rand() * 400);
        clock.setTimer(heardAt - clock.t, () => limits.started(j.uid, startMs / 1000));
      }
    };
    // As the scheduler: released tasks are dealt at the next turn (same time).
    const limits = new RateLimits<LimitedJob>(
      { defaults: new Map([["f", parseRate("5/s")]]), max: 10 },
      {
        now: clock.now,
        setTimer: clock.setTimer,
        release: (jobs) => void clock.setTimer(0, () => deal(jobs)),
      },
    );
    deal(Array.from({ length: 60 }, () => job("f")));
    for (let i = 0; i < 1000 && starts.length < 60; i++) clock.advance(clock.t + 100);
    expect(starts).toHaveLength(60);
    starts.sort((a, b) => a - b);
    for (let i = 5; i < starts.length; i++) {
      expect((starts[i] as number) - (starts[i - 5] as number)).toBeGreaterThanOrEqual(1000);
    }
  });

  it("counts a task dealt and lost before its start was heard as started then", () => {
    const { clock, limits, released } = make({ f: "1/s" });
    const a = job("f");
    const b = job("f");
    expect(limits.admit(a)).toBeUndefined();
    expect(limits.admit(b)).toBeDefined();
    clock.advance(clock.t + 5000);
    limits.gone(a.uid);
    expect(released).toEqual([]);
    clock.advance(clock.t + 1000);
    expect(released).toEqual([b]);
  });

  it("a released task that ends before it is dealt gives its room back; a dropped one is forgotten", () => {
    const { clock, limits, released } = make({ f: "1/s" });
    const [a, b, c] = [job("f"), job("f"), job("f")];
    limits.admit(a);
    limits.admit(b);
    limits.admit(c);
    limits.started(a.uid, clock.t / 1000);
    clock.advance(clock.t + 1000);
    expect(released).toEqual([b]);
    limits.gone(b.uid);
    expect(released).toEqual([b, c]);
    const d = job("f");
    expect(limits.admit(d)).toBeDefined();
    limits.drop(d);
    expect(limits.held).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("a task's rate_limit sets its function's; the manager's may not be changed; the count is bounded", () => {
    const { limits } = make({ f: "5/s" }, 2);
    expect(limits.refusal("f", parseRate("5/s"))).toBeUndefined();
    expect(limits.refusal("f", parseRate("10/s"))).toBe(
      "The function 'f' has the manager's rate limit 5/s (--rate-limit): a task may not set another ('10/s')",
    );
    limits.set("g", parseRate("1/s"));
    expect(limits.rateOf("g")?.text).toBe("1/s");
    limits.set("g", parseRate("2/s"));
    expect(limits.rateOf("g")?.text).toBe("2/s");
    const busy = job("g");
    expect(limits.admit(busy)).toBeUndefined();
    // Two functions have a limit; g counts a start now, so its place cannot be taken.
    expect(limits.refusal("h", parseRate("1/s"))).toBe(
      "Too many rate limits: 2 functions have one, the limit is 2 (--max-rate-limits)",
    );
  });

  it("a limit set by a task that holds and counts nothing gives its place to a new one", () => {
    const { clock, limits } = make({}, 1);
    limits.set("g", parseRate("1/s"));
    const a = job("g");
    limits.admit(a);
    limits.started(a.uid, clock.t / 1000);
    expect(limits.refusal("h", parseRate("1/s"))).toMatch(/--max-rate-limits/);
    clock.advance(clock.t + 1000);
    expect(limits.refusal("h", parseRate("1/s"))).toBeUndefined();
    limits.set("h", parseRate("1/s"));
    expect(limits.rateOf("g")).toBeUndefined();
    expect(limits.rateOf("h")?.text).toBe("1/s");
  });
});

describe("TaskScheduler with rate limits", () => {
  /** A scheduler dealing to two workers of one slot each, on the fake clock; what it sends and notes. */
  function dealer(defaults: Record<string, string>) {
    const clock = new FakeClock();
    const sent: string[] = [];
    const notes = new Map<string, string | null>();
    const active = new Set<string>();
    const s = new TaskScheduler({
      tasks: {
        active: (uid) => (active.has(uid) ? { attempts: 0 } : undefined),
        dispatched: () => undefined,
        note: (uid, msg) => notes.set(uid, msg),
        mark: () => undefined,
      },
      pool: {
        slotsPerWorker: 1,
        aheadPerWorker: 4,
        workers: () => [
          { id: "w0", main: true },
          { id: "w1", main: false },
        ],
        workersVersion: 1,
        sendTasks: (_w, tasks) => sent.push(...tasks.map((t) => t.id)),
      },
      rateLimits: {
        defaults: new Map(Object.entries(defaults).map(([k, v]) => [k, parseRate(v)])),
        max: 10,
      },
      clock: { now: clock.now, setTimer: clock.setTimer },
    });
    const submit = (uid: string, name: string) => {
      active.add(uid);
      s.add({
        uid,
        call: { name, args: [], kwargs: {} },
        background: true,
        priority: 0,
        tags: [],
        run: undefined,
      });
      s.enqueue(uid);
    };
    return { clock, s, sent, notes, submit, active };
  }
  const turn = () => new Promise((r) => setImmediate(r));

  it("holds a task at its function's limit, saying why, and deals the others past it", () => {
    const { s, sent, notes, submit } = dealer({ f: "1/h" });
    submit("f1", "f");
    submit("f2", "f");
    submit("g1", "g");
    s.pump();
    expect(sent).toEqual(["f1", "g1"]);
    expect(notes.get("f2")).toBe(
      "Waiting: the function 'f' is at its rate limit of 1/h (--rate-limit); the task starts in its turn",
    );
    expect(s.limits.held).toBe(1);
    // Cancelled while held: it is forgotten there.
    s.forget("f2");
    expect(s.limits.held).toBe(0);
  });

  it("deals a held task when its time comes, clearing its note", async () => {
    const { clock, s, sent, notes, submit } = dealer({ f: "1/s" });
    submit("f1", "f");
    submit("f2", "f");
    s.pump();
    expect(sent).toEqual(["f1"]);
    s.started("f1", clock.t / 1000);
    clock.advance(clock.t + 999);
    await turn();
    expect(sent).toEqual(["f1"]);
    clock.advance(clock.t + 1);
    await turn();
    expect(sent).toEqual(["f1", "f2"]);
    expect(notes.get("f2")).toBeNull();
    expect(s.limits.held).toBe(0);
  });
});
