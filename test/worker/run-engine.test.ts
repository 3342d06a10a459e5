/** The run engine: messages, checkpoints, pause/resume, stop/abort/halt, failures, run lists. */
import { beforeAll, describe, expect, it } from "vitest";
import type { Environment } from "../../src/worker/introspect.js";
import * as stubs from "../../src/worker/plan-stubs.js";
import {
  RunEngine,
  RunEngineStateError,
  failedResult,
  type ReState,
  type RunEngineOptions,
} from "../../src/worker/run-engine.js";
import { loadProfile } from "./helpers.js";

let env: Environment;
beforeAll(async () => {
  env = await loadProfile();
});

/** An engine that records its documents and lets a test wait for a state. */
function engine(opts: RunEngineOptions = {}) {
  const states: { state: ReState; pausePending: boolean }[] = [];
  const events: Record<string, unknown>[] = [];
  const waiters: { state: ReState; resolve: () => void }[] = [];
  const sleeping: (() => void)[] = [];
  const re = new RunEngine({
    ...opts,
    onMessage: (msg) => {
      if ((msg as { cmd?: string } | undefined)?.cmd === "sleep")
        sleeping.splice(0).forEach((f) => f());
    },
    onStateChange: (state, info) => {
      states.push({ state, pausePending: info.pausePending });
      for (const w of waiters.filter((x) => x.state === state)) w.resolve();
    },
    onDocument: (name, doc) => {
      if (name === "event") events.push(doc);
    },
  });
  const reach = (state: ReState) =>
    re.state === state
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ state, resolve }));
  /** Resolves when the engine starts carrying out the next sleep message. */
  const nextSleep = () => new Promise<void>((resolve) => sleeping.push(resolve));
  return { re, states, events, reach, nextSleep };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A small movable/readable device for hand-written plans. */
function fakeMotor(name: string) {
  return {
    name,
    position: 0,
    set(v: number) {
      this.position = v;
      return Promise.resolve(v);
    },
    read() {
      return { [name]: { value: this.position, timestamp: 0 } };
    },
  };
}

describe("running plans", () => {
  it("count takes the right number of readings, in one run with a new scan_id", async () => {
    const { re, events } = engine({ metadata: { metadata_key: "metadata_value", scan_id: 4 } });
    const { plan, args } = env.bindPlan("count", [["det1", "det2"]], { num: 3, delay: 0.01 });
    const r = await re.run(plan, args);
    expect(r).toMatchObject({ exit_status: "completed", scan_ids: [5], msg: "", traceback: "" });
    expect(r.run_uids).toHaveLength(1);
    expect(events).toHaveLength(3);
    for (const e of events) {
      expect(Object.keys(e.data as object).sort()).toEqual(["det1", "det2"]);
      expect(e.run_start).toBe(r.run_uids[0]);
    }
    expect(re.metadata).toEqual({ metadata_key: "metadata_value", scan_id: 5 });
    expect(re.state).toBe("idle");
    expect(re.runs()).toEqual([]);
  });

  it("sends readings and run uids back into the plan", async () => {
    const m = fakeMotor("m");
    const seen: unknown[] = [];
    async function* p() {
      seen.push(yield stubs.openRun());
      yield stubs.mv(m, 2);
      seen.push(yield stubs.read(m));
      seen.push(yield stubs.triggerAndRead([m]));
      seen.push(yield stubs.closeRun());
    }
    const { re } = engine();
    const r = await re.run(p);
    expect(r.exit_status).toBe("completed");
    expect(seen[0]).toBe(r.run_uids[0]);
    expect(seen[1]).toEqual({ m: { value: 2, timestamp: 0 } });
    expect(seen[2]).toEqual({ m: { value: 2, timestamp: 0 } });
    expect(seen[3]).toBe(r.run_uids[0]);
  });

  it("runs synchronous generators and plans that are async functions giving a generator", async () => {
    const m = fakeMotor("m");
    function* sync() {
      yield stubs.mv(m, 3);
    }
    const { re } = engine();
    expect((await re.run(sync)).exit_status).toBe("completed");
    expect(m.position).toBe(3);
    expect((await re.run(async () => sync())).exit_status).toBe("completed");
  });

  it("nested runs: each gets a uid and scan_id; closed runs are listed while the plan runs", async () => {
    const { re } = engine();
    let closedDuring: unknown;
    async function* p() {
      yield stubs.openRun();
      yield stubs.openRun();
      yield stubs.closeRun();
      closedDuring = re.runs("closed");
      yield stubs.closeRun();
    }
    const r = await re.run(p);
    expect(r.scan_ids).toEqual([1, 2]);
    expect(closedDuring).toEqual([
      { uid: r.run_uids[1], scan_id: 2, is_open: false, exit_status: "success" },
    ]);
    const nested = env.bindPlan("sim_multirun_plan_nested", [2, 0]);
    const r2 = await re.run(nested.plan, nested.args);
    expect(r2.exit_status).toBe("completed");
    expect(r2.scan_ids).toEqual([3, 4]);
  });
});

describe("failures", () => {
  it("a plan that throws ends 'failed' with the message and a JavaScript stack", async () => {
    const { re } = engine();
    const { plan, args } = env.bindPlan("move_then_count", [], {
      motors: ["motor1"],
      detectors: ["det1"],
      positions: [1.0, 2.0],
    });
    const r = await re.run(plan, args);
    expect(r.exit_status).toBe("failed");
    expect(r.msg).toBe(
      "Plan failed: The lists of 'motors' and 'positions' should have the same number of elements: len(motors) = 1, len(positions) = 2",
    );
    expect(r.traceback).toMatch(/^TypeError: The lists of 'motors'/);
    expect(r.traceback).toContain("move_then_count");
    expect(r).toMatchObject({ run_uids: [], scan_ids: [] });
    expect(re.state).toBe("idle");
  });

  it("an unknown device name fails at run time; the open run closes with 'fail'", async () => {
    const runs: unknown[] = [];
    const { re } = engine({ onRunsChange: (r) => runs.push(r) });
    const { plan, args } = env.bindPlan("count", [["no_such_det"]]);
    const r = await re.run(plan, args);
    expect(r.exit_status).toBe("failed");
    expect(r.msg).toContain("'no_such_det' is not a device");
    expect(r.run_uids).toHaveLength(1);
    expect(runs).toContainEqual([
      { uid: r.run_uids[0], scan_id: 1, is_open: false, exit_status: "fail" },
    ]);
  });

  it("a failing message is thrown into the plan, which may catch it", async () => {
    const { re } = engine();
    let caught = "";
    async function* p() {
      try {
        yield stubs.mv("nothing", 1);
      } catch (err) {
        caught = (err as Error).message;
      }
      yield stubs.checkpoint();
    }
    expect((await re.run(p)).exit_status).toBe("completed");
    expect(caught).toContain("'nothing' is not a device");
  });

  it("yielding a generator instead of delegating with yield* fails clearly", async () => {
    const { re } = engine();
    async function* inner() {
      yield stubs.checkpoint();
    }
    async function* p() {
      yield inner();
    }
    const r = await re.run(p);
    expect(r.exit_status).toBe("failed");
    expect(r.msg).toContain("use 'yield*'");
  });

  it("failedResult formats errors raised before the plan runs (binding)", () => {
    let err: unknown;
    try {
      env.bindPlan("count", [], { nope: 1 });
    } catch (e) {
      err = e;
    }
    expect(failedResult(err)).toMatchObject({
      exit_status: "failed",
      msg: "Plan failed: count() got an unexpected keyword argument 'nope'",
      run_uids: [],
      scan_ids: [],
    });
  });
});

describe("pause and resume", () => {
  /** open_run, a marker, a sleep, a marker, close_run. */
  function sleepyPlan(seconds: number, marks: string[], reached: () => void) {
    return async function* () {
      yield stubs.openRun();
      reached();
      yield stubs.sleep(seconds);
      marks.push("slept");
      yield stubs.checkpoint();
      marks.push("after checkpoint");
      yield stubs.closeRun();
    };
  }

  it("deferred: the sleep finishes, the plan pauses at the next checkpoint", async () => {
    const { re, reach, states, nextSleep } = engine();
    const marks: string[] = [];
    const inSleep = nextSleep();
    const done = re.run(sleepyPlan(0.1, marks, () => undefined));
    await inSleep;
    re.requestPause("deferred");
    expect(re.state).toBe("running");
    expect(re.pausePending).toBe(true);
    await reach("paused");
    expect(marks).toEqual(["slept"]);
    expect(re.pausePending).toBe(false);
    expect(re.runs("open")).toHaveLength(1);
    expect(re.runs("closed")).toEqual([]);
    re.resume();
    const r = await done;
    expect(r.exit_status).toBe("completed");
    expect(marks).toEqual(["slept", "after checkpoint"]);
    expect(states.map((s) => s.state)).toEqual(["running", "running", "paused", "running", "idle"]);
    expect(states[1]).toEqual({ state: "running", pausePending: true });
  });

  it("every yield is a checkpoint: a pause asked for in plan code takes effect before the next message", async () => {
    const { re, reach } = engine();
    const m = fakeMotor("m");
    const at = deferred();
    const done = re.run(async function* () {
      yield stubs.checkpoint();
      at.resolve();
      await Promise.resolve();
      yield stubs.mv(m, 5);
    });
    await at.promise;
    re.requestPause("deferred");
    await reach("paused");
    expect(m.position).toBe(0);
    re.resume();
    expect((await done).exit_status).toBe("completed");
    expect(m.position).toBe(5);
  });

  it("immediate: a long sleep is interrupted at once and finishes after resume", async () => {
    const { re, reach, nextSleep } = engine();
    const marks: string[] = [];
    const inSleep = nextSleep();
    const done = re.run(sleepyPlan(0.3, marks, () => undefined));
    await inSleep;
    re.requestPause("immediate");
    await reach("paused");
    // Interrupted: the sleep did not run to its end before the pause.
    expect(marks).toEqual([]);
    re.resume();
    const r = await done;
    expect(r.exit_status).toBe("completed");
    expect(marks).toEqual(["slept", "after checkpoint"]);
  });

  it("refuses control requests that do not fit the state, with the server's messages", async () => {
    const { re, reach } = engine();
    expect(() => re.requestPause("deferred")).toThrow(
      "Run engine can be paused only in 'running' state. Current state: 'idle'",
    );
    expect(() => re.resume()).toThrow(RunEngineStateError);
    expect(() => re.stop()).toThrow(RunEngineStateError);
    const at = deferred();
    const done = re.run(sleepyPlan(10, [], at.resolve));
    await at.promise;
    expect(() => re.resume()).toThrow("Current state: 'running'");
    expect(() => re.requestPause("sometime" as "deferred")).toThrow(
      "Option 'sometime' is not supported. Available options: ('deferred', 'immediate')",
    );
    await expect(re.run(async function* () {})).rejects.toThrow(RunEngineStateError);
    re.requestPause("immediate");
    await reach("paused");
    expect(() => re.requestPause("deferred")).toThrow("Current state: 'paused'");
    re.stop();
    expect((await done).exit_status).toBe("stopped");
  });
});

describe("stop, abort, halt, cancel", () => {
  /** A run around a long sleep, with a finally block that records and yields a cleanup move. */
  function cleanupPlan(m: ReturnType<typeof fakeMotor>, log: string[], reached: () => void) {
    return async function* () {
      yield stubs.openRun();
      try {
        reached();
        yield stubs.sleep(10);
        log.push("after sleep");
      } finally {
        log.push("cleanup");
        yield stubs.mv(m, -1);
      }
    };
  }

  async function pausedRun() {
    const e = engine();
    const m = fakeMotor("m");
    const log: string[] = [];
    const at = deferred();
    const done = e.re.run(cleanupPlan(m, log, at.resolve));
    await at.promise;
    e.re.requestPause("immediate");
    await e.reach("paused");
    return { ...e, m, log, done };
  }

  it("stop: 'stopped', cleanup runs (and may yield), the run closes with 'success'", async () => {
    const { re, m, log, done } = await pausedRun();
    const open = re.runs("open");
    re.stop();
    const r = await done;
    expect(r).toMatchObject({ exit_status: "stopped", msg: "", traceback: "" });
    expect(r.run_uids).toEqual([open[0]?.uid]);
    expect(log).toEqual(["cleanup"]);
    expect(m.position).toBe(-1);
    expect(re.state).toBe("idle");
  });

  it("abort: 'aborted', cleanup runs", async () => {
    const runs: unknown[][] = [];
    const e = engine({ onRunsChange: (r) => runs.push(r) });
    const m = fakeMotor("m");
    const log: string[] = [];
    const at = deferred();
    const done = e.re.run(cleanupPlan(m, log, at.resolve));
    await at.promise;
    e.re.requestPause("immediate");
    await e.reach("paused");
    e.re.abort();
    const r = await done;
    expect(r.exit_status).toBe("aborted");
    expect(log).toEqual(["cleanup"]);
    expect(m.position).toBe(-1);
    expect(runs.at(-2)).toEqual([
      { uid: r.run_uids[0], scan_id: 1, is_open: false, exit_status: "abort" },
    ]);
  });

  it("halt: 'halted' at once, without cleanup", async () => {
    const { re, m, log, done } = await pausedRun();
    re.halt();
    const r = await done;
    expect(r.exit_status).toBe("halted");
    expect(log).toEqual([]);
    expect(m.position).toBe(0);
  });

  it("stop while running (not paused) cuts the sleep short", async () => {
    const { re, nextSleep } = engine();
    const m = fakeMotor("m");
    const log: string[] = [];
    const inSleep = nextSleep();
    const done = re.run(cleanupPlan(m, log, () => undefined));
    await inSleep;
    re.stop();
    const r = await done;
    expect(r.exit_status).toBe("stopped");
    // Cut short: the 10 s sleep never ended ("after sleep" was not reached).
    expect(log).toEqual(["cleanup"]);
  });

  it("a hard cancel ends a plan stuck in its own await, as 'aborted' with the reason", async () => {
    const { re } = engine();
    const ac = new AbortController();
    const at = deferred();
    const done = re.run(
      async function* () {
        yield stubs.openRun();
        at.resolve();
        await new Promise(() => undefined); // never settles
        yield stubs.closeRun();
      },
      [],
      { signal: ac.signal },
    );
    await at.promise;
    ac.abort(new Error("environment destroyed"));
    const r = await done;
    expect(r.exit_status).toBe("aborted");
    expect(r.msg).toContain("environment destroyed");
    expect(r.run_uids).toHaveLength(1);
    expect(re.state).toBe("idle");
  });

  it("the engine's signal is aborted on stop, for plan code that awaits its own work", async () => {
    const { re } = engine();
    const at = deferred();
    const done = re.run(async function* () {
      yield stubs.checkpoint();
      const signal = re.signal;
      at.resolve();
      await new Promise((_resolve, reject) =>
        signal?.addEventListener("abort", () => reject(new Error("x"))),
      );
      yield stubs.checkpoint();
    });
    await at.promise;
    re.stop();
    expect((await done).exit_status).toBe("stopped");
  });
});
