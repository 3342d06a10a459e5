/** What the manager checks on queue_item_add, from plans_existing descriptions only. */
import { beforeAll, describe, expect, it } from "vitest";
import {
  flattenDeviceNames,
  parseAnnotation,
  validatePlanItem,
  type PlanDescription,
} from "../../src/protocol/plan-params.js";
import { loadProfile, vectorReply } from "./helpers.js";

let plans: Record<string, PlanDescription>;
let devices: Record<string, unknown>;
beforeAll(async () => {
  const content = (await loadProfile()).describe();
  plans = content.plans_existing as Record<string, PlanDescription>;
  devices = content.devices_existing;
});

const check = (
  name: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
  opts = {},
) => validatePlanItem({ name, args, kwargs }, plans[name], opts);

describe("validatePlanItem", () => {
  it("accepts the items of the recorded session", () => {
    expect(check("count", [["det1", "det2"]], { num: 3, delay: 0.1 })).toBeUndefined();
    expect(check("scan", [["det1"], "motor", -1, 1, 3])).toBeUndefined();
    expect(check("count", [["det1"]], { num: 20, delay: 0.5 })).toBeUndefined();
    expect(
      check("move_then_count", [], {
        motors: ["motor1"],
        detectors: ["det1"],
        positions: [1.0, 2.0],
      }),
    ).toBeUndefined();
    expect(check("mv", ["motor1", 1, "motor2", 2], { timeout: 3 })).toBeUndefined();
  });

  it("also with the recorded description of count (from the Python server)", () => {
    const recorded = (
      vectorReply("plans_existing").plans_existing as Record<string, PlanDescription>
    ).count;
    expect(
      validatePlanItem({ name: "count", args: [["det1"]], kwargs: { num: "three" } }, recorded),
    ).toBe("Parameter 'num': expected an integer or None, got 'three'");
    expect(validatePlanItem({ name: "count", args: [["det1"]] }, recorded)).toBeUndefined();
  });

  it("accepts unknown device names (they fail when the plan runs), as the Python server does", () => {
    expect(check("count", [["no_such_det"]])).toBeUndefined();
  });

  it("names the bad parameter and what was expected", () => {
    expect(check("count", [["det1"]], { num: "three" })).toBe(
      "Parameter 'num': expected an integer or None, got 'three'",
    );
    expect(check("count", [["det1"]], { num: 2.5 })).toBe(
      "Parameter 'num': expected an integer or None, got 2.5",
    );
    expect(check("count", ["det1"])).toBe("Parameter 'detectors': expected a list, got 'det1'");
    expect(check("count", [["det1", 5]])).toBe(
      "Parameter 'detectors' (item 1): expected a device name, got 5",
    );
    expect(check("count", [["det1"]], { md: [1] })).toBe(
      "Parameter 'md': expected a dictionary or None, got [1]",
    );
    expect(check("count", [["det1"]], { delay: "x" })).toBe(
      "Parameter 'delay': expected a number or a list, got 'x'",
    );
    expect(check("move_then_count", [["motor3"]], { positions: [1] })).toBe(
      "Parameter 'motors' (item 0): expected one of ['motor1', 'motor2'], got 'motor3'",
    );
    expect(check("move_then_count", [["motor1"]], { positions: ["a"] })).toBe(
      "Parameter 'positions' (item 0): expected a number, got 'a'",
    );
    expect(check("sim_multirun_plan_nested", [true])).toBe(
      "Parameter 'npts': expected an integer, got True",
    );
  });

  it("reports unexpected, missing and surplus arguments as Python does", () => {
    expect(check("count", [["det1"]], { foo: 1 })).toBe(
      "count() got an unexpected keyword argument 'foo'",
    );
    expect(check("count", [])).toBe("count() missing 1 required positional argument: 'detectors'");
    expect(check("count", [["det1"], 1, 0, 4])).toBe(
      "count() takes from 1 to 3 positional arguments but 4 were given",
    );
    expect(check("null", [1])).toBe("null() takes 0 positional arguments but 1 was given");
  });

  it("refuses an existing device the group may not use, when told which ones exist", () => {
    const existing = flattenDeviceNames(devices);
    const allowed = new Set(["det1", "motor1"]);
    const opts = { allowedDevices: allowed, existingDevices: existing };
    expect(check("count", [["det1"]], {}, opts)).toBeUndefined();
    expect(check("count", [["det2"]], {}, opts)).toBe(
      "Parameter 'detectors' (item 0): expected a device the user group may use, got 'det2'",
    );
    expect(check("count", [["no_such_det"]], {}, opts)).toBeUndefined();
    expect(
      check("move_then_count", [["motor2"]], { positions: [1] }, { allowedDevices: allowed }),
    ).toBe("Parameter 'motors' (item 0): expected a device the user group may use, got 'motor2'");
  });

  it("checks the envelope: unknown plan, args not a list, kwargs not a dict", () => {
    expect(validatePlanItem({ name: "nope" }, undefined)).toBe(
      "Plan 'nope' is not in the list of allowed plans.",
    );
    expect(validatePlanItem({ name: "count", args: { a: 1 } }, plans.count)).toBe(
      "Plan 'count': 'args' must be a list, got {'a': 1}",
    );
    expect(validatePlanItem({ name: "count", args: [["d"]], kwargs: [1] }, plans.count)).toBe(
      "Plan 'count': 'kwargs' must be a dictionary, got [1]",
    );
  });
});

describe("annotations", () => {
  it("parses Python type text", () => {
    expect(parseAnnotation("typing.Optional[int]")).toEqual({
      kind: "name",
      name: "Optional",
      args: [{ kind: "name", name: "int", args: [] }],
    });
    expect(parseAnnotation("int | None")).toEqual({
      kind: "name",
      name: "Union",
      args: [
        { kind: "name", name: "int", args: [] },
        { kind: "name", name: "None", args: [] },
      ],
    });
    expect(parseAnnotation("typing.Literal['a', 2]")?.kind).toBe("name");
    expect(parseAnnotation("typing.Callable[[int], str]")?.kind).toBe("name");
    expect(parseAnnotation("not a [type")).toBeUndefined();
  });

  it("lists every device name of a tree, sub-devices dotted", () => {
    const names = flattenDeviceNames(devices);
    expect(names.has("det1")).toBe(true);
    expect(names.has("det1.val")).toBe(true);
    expect(names.has("sim_bundle_A.dets.det_A.Imax")).toBe(true);
    expect(names.has("sim_bundle_A.mtrs.x.readback")).toBe(true);
  });
});
