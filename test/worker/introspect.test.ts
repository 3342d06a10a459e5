/** Reading parameters from source, classifying exports, describing them, resolving devices. */
import { describe, expect, it } from "vitest";
import { device, func, plan } from "../../src/worker/api.js";
import { Environment, parameterList } from "../../src/worker/introspect.js";
import { literalRepr, parseParameters } from "../../src/worker/params-parse.js";

const brief = (src: string) =>
  parseParameters(src)?.map((p) => [p.name, p.kind, "default" in p ? (p.defaultRepr ?? "?") : "-"]);

describe("parameters from source", () => {
  it("reads function forms: plain, async, generators, arrows, methods", () => {
    expect(brief("function f(a, b = 1) { return a; }")).toEqual([
      ["a", "POSITIONAL_OR_KEYWORD", "-"],
      ["b", "POSITIONAL_OR_KEYWORD", "1"],
    ]);
    expect(brief("async function* count(detectors, num = 1, delay = 0.0) {}")).toEqual([
      ["detectors", "POSITIONAL_OR_KEYWORD", "-"],
      ["num", "POSITIONAL_OR_KEYWORD", "1"],
      ["delay", "POSITIONAL_OR_KEYWORD", "0.0"],
    ]);
    expect(brief("x => x * (2)")).toEqual([["x", "POSITIONAL_OR_KEYWORD", "-"]]);
    expect(brief("async (a, ...rest) => a")).toEqual([
      ["a", "POSITIONAL_OR_KEYWORD", "-"],
      ["rest", "VAR_POSITIONAL", "-"],
    ]);
    expect(brief("async *gen(a) { yield a; }")).toEqual([["a", "POSITIONAL_OR_KEYWORD", "-"]]);
    expect(brief("function () {}")).toEqual([]);
  });

  it("a trailing object pattern is the options object: keyword-only parameters and **kwargs", () => {
    expect(
      brief("function f(a, { per_shot = null, md, alias: x = 'y', ...extra } = {}) {}"),
    ).toEqual([
      ["a", "POSITIONAL_OR_KEYWORD", "-"],
      ["per_shot", "KEYWORD_ONLY", "None"],
      ["md", "KEYWORD_ONLY", "-"],
      ["alias", "KEYWORD_ONLY", "'y'"],
      ["extra", "VAR_KEYWORD", "-"],
    ]);
  });

  it("is not fooled by commas, brackets and comments inside defaults", () => {
    expect(
      brief(
        "function f(a = 'x,y)', /* b, c */ b = g(1, 2), c = { k: [1, 2] }, d = `t${(1, 2)}`, [e, f2] = [1, 2]) {}",
      ),
    ).toEqual([
      ["a", "POSITIONAL_OR_KEYWORD", "'x,y)'"],
      ["b", "POSITIONAL_OR_KEYWORD", "g(1, 2)"],
      ["c", "POSITIONAL_OR_KEYWORD", "{'k': [1, 2]}"],
      ["d", "POSITIONAL_OR_KEYWORD", "`t${(1, 2)}`"],
      ["arg4", "POSITIONAL_OR_KEYWORD", "[1, 2]"],
    ]);
  });

  it("gives up on classes and native code", () => {
    expect(parseParameters("class A { constructor(x) {} }")).toBeUndefined();
    expect(parseParameters("function push() { [native code] }")).toBeUndefined();
    expect(parameterList(Math.max)).toEqual([{ name: "args", kind: "VAR_POSITIONAL" }]);
  });

  it("writes literal defaults as Python reprs", () => {
    expect(literalRepr("null")).toBe("None");
    expect(literalRepr("undefined")).toBe("None");
    expect(literalRepr("true")).toBe("True");
    expect(literalRepr(`['det1', "det2"]`)).toBe("['det1', 'det2']");
    expect(literalRepr("-1.50")).toBe("-1.50");
    expect(literalRepr("foo.bar")).toBe("foo.bar");
  });

  it("metadata naming known parameters is merged into the source's list", () => {
    const fn = plan(
      async function* p(a: unknown, b = 2) {
        yield [a, b];
      },
      { parameters: [{ name: "b", description: "the b", annotation: "int" }] },
    );
    expect(parameterList(fn)).toEqual([
      { name: "a", kind: "POSITIONAL_OR_KEYWORD" },
      {
        name: "b",
        kind: "POSITIONAL_OR_KEYWORD",
        default: undefined,
        defaultRepr: "2",
        description: "the b",
        annotation: "int",
      },
    ]);
  });

  it("metadata naming other parameters replaces the list", () => {
    const fn = func((...all: unknown[]) => all, {
      parameters: [{ name: "x" }, { name: "y", kind: "KEYWORD_ONLY", default: 3 }],
    });
    expect(parameterList(fn)).toEqual([
      { name: "x", kind: "POSITIONAL_OR_KEYWORD" },
      { name: "y", kind: "KEYWORD_ONLY", default: 3 },
    ]);
  });
});

describe("Environment", () => {
  const motor = device({ name: "m", position: 0, set: () => Promise.resolve(), read: () => ({}) });
  const inner = device({ name: "inner", read: () => ({}) }, { classname: "Inner" });
  const stage = device({ name: "stage", x: motor }, { components: { x: motor, inner } });

  function build() {
    const env = new Environment();
    env.addModule(
      {
        default: () => 1,
        helper: (a: number) => a,
        asyncFn: async function asyncFn() {},
        gen: async function* gen(dets: unknown) {
          yield dets;
        },
        syncGen: function* syncGen() {},
        marked: plan(async () => undefined),
        notAPlan: func(async function* notAPlan() {}),
        Klass: class {},
        motor,
        stage,
        constant: 42,
      },
      "first",
    );
    return env;
  }

  it("classifies exports: functions, plans, devices; ignores the rest", () => {
    const env = build();
    expect([...env.functions.keys()].sort()).toEqual(["asyncFn", "helper", "notAPlan"]);
    expect([...env.plans.keys()].sort()).toEqual(["gen", "marked", "syncGen"]);
    expect([...env.devices.keys()].sort()).toEqual(["motor", "stage"]);
  });

  it("later modules override earlier names, across kinds", () => {
    const env = build();
    env.addModule({ helper: async function* helper() {}, gen: () => 0 }, "second");
    expect(env.plans.has("helper")).toBe(true);
    expect(env.functions.has("helper")).toBe(false);
    expect(env.functions.has("gen")).toBe(true);
    expect(env.plans.has("gen")).toBe(false);
    expect(env.describePlan("helper")?.module).toBe("second");
  });

  it("describes a plan read from source in the server's shape", () => {
    const env = build();
    expect(JSON.stringify(env.describePlan("gen"))).toBe(
      JSON.stringify({
        name: "gen",
        properties: { is_generator: true },
        parameters: [{ name: "dets", kind: { name: "POSITIONAL_OR_KEYWORD", value: 1 } }],
        module: "first",
      }),
    );
  });

  it("describes devices with their components, recursively", () => {
    const d = build().describeDevices();
    expect(d.motor).toEqual({
      is_readable: true,
      is_movable: true,
      is_flyable: false,
      classname: "Object",
      module: "first",
    });
    expect(d.stage?.components?.x?.is_movable).toBe(true);
    expect(d.stage?.components?.inner).toEqual({
      is_readable: true,
      is_movable: false,
      is_flyable: false,
      classname: "Inner",
      module: "first",
    });
    expect(d.stage?.is_readable).toBe(false);
  });

  it("finds devices by dotted name and converts names inside lists and dicts", () => {
    const env = build();
    expect(env.findDevice("stage.inner")).toBe(inner);
    expect(env.findDevice("stage.nope")).toBeUndefined();
    expect(env.convertDeviceNames(["motor", ["stage.x", "unknown"], { k: "motor" }, 5])).toEqual([
      motor,
      [motor, "unknown"],
      { k: motor },
      5,
    ]);
  });

  it("binds plans with device conversion where the parameter says so, functions without", () => {
    const env = new Environment();
    const p = plan(
      async function* p(dets: unknown, label: unknown, other: unknown) {
        yield [dets, label, other];
      },
      {
        parameters: [
          { name: "dets", annotation: "collections.abc.Sequence[__READABLE__]" },
          { name: "label", annotation: "str" },
        ],
      },
    );
    env.addModule({ p, motor, f: (x: unknown) => x }, "mod");
    expect(env.bindPlan("p", [["motor"], "motor", "motor"]).args).toEqual([
      [motor],
      "motor",
      motor,
    ]);
    expect(env.bindFunction("f", ["motor"]).args).toEqual(["motor"]);
    expect(() => env.bindPlan("nope")).toThrow("Plan 'nope' is not found in the worker namespace");
    expect(() => env.bindFunction("nope")).toThrow(
      "Function 'nope' is not found in the worker namespace",
    );
  });

  it("writes metadata defaults as Python reprs (floats keep '.0', devices by name)", () => {
    const env = new Environment();
    const p = plan(async function* p() {}, {
      parameters: [
        { name: "delay", annotation: "float", default: 1 },
        { name: "n", annotation: "int", default: 1 },
        { name: "dets", default: [motor] },
        { name: "flag", default: false },
        { name: "md", default: { a: "b" } },
      ],
    });
    env.addModule({ p, motor }, "mod");
    expect(env.describePlan("p")?.parameters.map((x) => x.default)).toEqual([
      "1.0",
      "1",
      "['motor']",
      "False",
      "{'a': 'b'}",
    ]);
  });
});
