/** The example profile (examples/startup): what it holds, how it is described, its functions. */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Permissions, loadPermissionsFile } from "../../src/manager/access/permissions.js";
import type { Environment } from "../../src/worker/introspect.js";
import { RunEngine } from "../../src/worker/run-engine.js";
import { PERMISSIONS_FILE, importStartup, loadProfile, vectorReply } from "./helpers.js";

let env: Environment;
beforeAll(async () => {
  env = await loadProfile();
});

const REQUIRED_PLANS = [
  "count",
  "scan",
  "rel_scan",
  "list_scan",
  "grid_scan",
  "mv",
  "mvr",
  "null",
  "move_then_count",
  "marked_up_count",
  "sim_multirun_plan_nested",
  "plan_test_progress_bars",
  "_sim_plan_inner",
];
const REQUIRED_DEVICES = [
  "det",
  "det1",
  "det2",
  "det3",
  "ab_det",
  "motor",
  "motor1",
  "motor2",
  "motor3",
];

describe("contents", () => {
  it("has the functions, plans and devices of the reference profile", () => {
    expect([...env.functions.keys()].sort()).toEqual([
      "clear_buffer",
      "function_sleep",
      "pop_buffer_element",
      "push_buffer_element",
    ]);
    for (const p of REQUIRED_PLANS) expect(env.plans.has(p), p).toBe(true);
    for (const d of REQUIRED_DEVICES) expect(env.devices.has(d), d).toBe(true);
    // All 43 devices of sim-profile.md, and nothing classified twice.
    expect(env.devices.size).toBe(43);
    for (const name of env.plans.keys()) expect(env.functions.has(name)).toBe(false);
  });

  it("describes 'count' exactly as the Python server's plans_existing does", () => {
    const recorded = (vectorReply("plans_existing").plans_existing as Record<string, unknown>)
      .count;
    const d = env.describe().plans_existing.count;
    expect(d).toEqual(recorded);
    // Same key order, at every level.
    expect(JSON.stringify(d)).toBe(JSON.stringify(recorded));
  });

  it("describes 'det1' exactly as the Python server's devices_existing does", () => {
    const recorded = (vectorReply("devices_existing").devices_existing as Record<string, unknown>)
      .det1;
    const d = env.describe().devices_existing.det1;
    expect(JSON.stringify(d)).toBe(JSON.stringify(recorded));
  });

  it("describes ab_det and bool_sig as the recorded devices_allowed (keys sorted there)", () => {
    const recorded = vectorReply("devices_allowed (primary)").devices_allowed as Record<
      string,
      unknown
    >;
    const p = new Permissions(loadPermissionsFile(PERMISSIONS_FILE));
    const allowed = p.allowedDevices("primary", env.describe().devices_existing);
    expect(allowed.ab_det).toEqual(recorded.ab_det);
    expect(allowed.bool_sig).toEqual(recorded.bool_sig);
  });

  it("gives primary and test_user the numbers of plans and devices of the reference", () => {
    const p = new Permissions(loadPermissionsFile(PERMISSIONS_FILE));
    const content = env.describe();
    const testUserPlans = Object.keys(p.allowedPlans("test_user", content.plans_existing));
    expect(testUserPlans).toHaveLength(15);
    expect(testUserPlans).toContain("rel_adaptive_scan");
    expect(testUserPlans).not.toContain("adaptive_scan");
    expect(Object.keys(p.allowedDevices("test_user", content.devices_existing))).toHaveLength(12);
    expect(Object.keys(p.allowedDevices("primary", content.devices_existing))).toHaveLength(43);
    const primaryPlans = Object.keys(p.allowedPlans("primary", content.plans_existing));
    expect(primaryPlans).not.toContain("_sim_plan_inner");
    expect(primaryPlans).toHaveLength(env.plans.size - 1);
  });

  it("gives the plans the parameters of sim-profile.md", () => {
    const params = (name: string) =>
      env.describePlans()[name]?.parameters.map((p) => [p.name, p.kind.name, p.default]);
    expect(params("scan")).toEqual([
      ["detectors", "POSITIONAL_OR_KEYWORD", undefined],
      ["args", "VAR_POSITIONAL", undefined],
      ["num", "KEYWORD_ONLY", "None"],
      ["per_step", "KEYWORD_ONLY", "None"],
      ["md", "KEYWORD_ONLY", "None"],
    ]);
    expect(params("mv")).toEqual([
      ["args", "VAR_POSITIONAL", undefined],
      ["group", "KEYWORD_ONLY", "None"],
      ["timeout", "KEYWORD_ONLY", "None"],
      ["kwargs", "VAR_KEYWORD", undefined],
    ]);
    expect(params("move_then_count")).toEqual([
      ["motors", "POSITIONAL_OR_KEYWORD", undefined],
      ["detectors", "POSITIONAL_OR_KEYWORD", "['det1', 'det2']"],
      ["positions", "POSITIONAL_OR_KEYWORD", "None"],
    ]);
    expect(params("sim_multirun_plan_nested")).toEqual([
      ["npts", "POSITIONAL_OR_KEYWORD", undefined],
      ["delay", "POSITIONAL_OR_KEYWORD", "1.0"],
    ]);
    expect(params("null")).toEqual([]);
    expect(params("plan_test_progress_bars")).toEqual([
      ["n_progress_bars", "POSITIONAL_OR_KEYWORD", "1"],
    ]);
  });
});

describe("simulated devices", () => {
  it("a detector follows its motor: det1 peaks (Imax 5) at motor1 = 0", async () => {
    const { plan, args } = env.bindPlan("scan", [["det1"], "motor1", -1, 1, 3]);
    const events: Record<string, unknown>[] = [];
    const engine = new RunEngine({ onDocument: (n, d) => n === "event" && events.push(d) });
    const r = await engine.run(plan, args);
    expect(r.exit_status).toBe("completed");
    const readings = events.map((ev) => (ev.data as Record<string, number>).det1 ?? NaN);
    expect(readings).toHaveLength(3);
    expect(readings[1]).toBeCloseTo(5, 10);
    expect(readings[0]).toBeCloseTo(5 * Math.exp(-1 / (2 * 0.25)), 10);
    expect(readings[2]).toBeCloseTo(readings[0] ?? NaN, 10);
    expect(engine.state).toBe("idle");
  });

  it("mv moves motors at once, mvr relative to where they are", async () => {
    const engine = new RunEngine();
    const motor2 = env.findDevice("motor2") as { position: number };
    let b = env.bindPlan("mv", ["motor2", 1.5]);
    expect((await engine.run(b.plan, b.args)).exit_status).toBe("completed");
    expect(motor2.position).toBe(1.5);
    b = env.bindPlan("mvr", ["motor2", 0.25]);
    expect((await engine.run(b.plan, b.args)).exit_status).toBe("completed");
    expect(motor2.position).toBe(1.75);
  });
});

describe("functions", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("function_sleep prints 3 lines, sleeps and returns {success, time}", async () => {
    const mod = await importStartup("99-custom.mjs");
    const fn = mod.function_sleep as (t: unknown) => Promise<unknown>;
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const t0 = performance.now();
    await expect(fn(0.05)).resolves.toEqual({ success: true, time: 0.05 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(log).toHaveBeenCalledTimes(3);
  });

  it("function_sleep refuses a non-number with a TypeError", async () => {
    const { fn, args } = env.bindFunction("function_sleep", ["abc"]);
    await expect(async () => fn(...args)).rejects.toThrow(TypeError);
  });

  it("the buffer is a FIFO; popping an empty one fails with 'pop from empty list'", () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const call = (name: string, args: unknown[] = []) => {
      const b = env.bindFunction(name, args);
      return b.fn(...b.args);
    };
    call("clear_buffer");
    expect(() => call("pop_buffer_element")).toThrow("pop from empty list");
    call("push_buffer_element", [1]);
    call("push_buffer_element", [{ a: 2 }]);
    expect(call("pop_buffer_element")).toBe(1);
    expect(call("pop_buffer_element")).toEqual({ a: 2 });
    call("push_buffer_element", [3]);
    expect(call("clear_buffer")).toBeUndefined();
    expect(() => call("pop_buffer_element")).toThrow("pop from empty list");
  });
});
