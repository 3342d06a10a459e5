/** Python-style args/kwargs laid out as JavaScript calls, with Python's TypeError messages. */
import { describe, expect, it } from "vitest";
import type { ParameterMeta } from "../../src/worker/api.js";
import { bindArguments } from "../../src/worker/bind.js";
import { parameterList } from "../../src/worker/introspect.js";

const P = (name: string, extra: Partial<ParameterMeta> = {}): ParameterMeta => ({ name, ...extra });

/** count(detectors, num=1, delay=0.0, *, per_shot=None, md=None) */
const COUNT: ParameterMeta[] = [
  P("detectors"),
  P("num", { default: 1 }),
  P("delay", { default: 0.0 }),
  P("per_shot", { kind: "KEYWORD_ONLY", default: null }),
  P("md", { kind: "KEYWORD_ONLY", default: null }),
];

describe("layout", () => {
  it("positional and keyword values land in order; keyword-only ones in a trailing options object", () => {
    expect(bindArguments("count", COUNT, [["det1"]], { delay: 0.5, md: { a: 1 } })).toEqual([
      ["det1"],
      1,
      0.5,
      { per_shot: null, md: { a: 1 } },
    ]);
    expect(bindArguments("count", COUNT, [], { detectors: ["d"], num: 3 })).toEqual([
      ["d"],
      3,
      0,
      { per_shot: null, md: null },
    ]);
  });

  it("*args is spread when it comes last, one array when keyword parameters follow", () => {
    const last = [P("a"), P("values", { kind: "VAR_POSITIONAL" })];
    expect(bindArguments("f", last, [1, 2, 3], {})).toEqual([1, 2, 3]);
    const scan = [
      P("detectors"),
      P("args", { kind: "VAR_POSITIONAL" }),
      P("num", { kind: "KEYWORD_ONLY", default: null }),
    ];
    expect(bindArguments("scan", scan, [["d"], "motor", -1, 1], { num: 3 })).toEqual([
      ["d"],
      ["motor", -1, 1],
      { num: 3 },
    ]);
  });

  it("**kwargs joins the options object", () => {
    const mv = [
      P("args", { kind: "VAR_POSITIONAL" }),
      P("group", { kind: "KEYWORD_ONLY", default: null }),
      P("kwargs", { kind: "VAR_KEYWORD" }),
    ];
    expect(bindArguments("mv", mv, ["m", 1], { speed: 2, group: "g" })).toEqual([
      ["m", 1],
      { group: "g", speed: 2 },
    ]);
  });

  it("a default read from source is left to JavaScript (undefined is passed)", async () => {
    const fn = (a: number, b = 10, { c = 20 } = {}) => [a, b, c];
    const params = parameterList(fn);
    const bound = bindArguments("fn", params, [1], {});
    expect(bound).toEqual([1, undefined, {}]);
    expect(fn(...(bound as [number, number, { c?: number }]))).toEqual([1, 10, 20]);
    expect(fn(...(bindArguments("fn", params, [1], { c: 5, b: 2 }) as [number]))).toEqual([
      1, 2, 5,
    ]);
    await Promise.resolve();
  });

  it("the converter sees every value with its parameter, defaults included", () => {
    const params = [P("dets", { default: ["det1"], convertDeviceNames: true }), P("n")];
    const seen: string[] = [];
    const out = bindArguments("f", params, [], { n: 2 }, (p, v) => {
      seen.push(p.name);
      return p.convertDeviceNames ? (v as string[]).map((s) => `<${s}>`) : v;
    });
    expect(out).toEqual([["<det1>"], 2]);
    expect(seen.sort()).toEqual(["dets", "n"]);
  });
});

describe("TypeError messages (Python's)", () => {
  const msg = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(TypeError);
      return (err as Error).message;
    }
    throw new Error("no error");
  };

  it("unexpected keyword", () => {
    expect(msg(() => bindArguments("count", COUNT, [["d"]], { foo: 1 }))).toBe(
      "count() got an unexpected keyword argument 'foo'",
    );
  });

  it("missing positional arguments: one, two, three", () => {
    expect(msg(() => bindArguments("count", COUNT, [], {}))).toBe(
      "count() missing 1 required positional argument: 'detectors'",
    );
    const abc = [P("a"), P("b"), P("c")];
    expect(msg(() => bindArguments("f", abc, [1], {}))).toBe(
      "f() missing 2 required positional arguments: 'b' and 'c'",
    );
    expect(msg(() => bindArguments("f", abc, [], {}))).toBe(
      "f() missing 3 required positional arguments: 'a', 'b', and 'c'",
    );
  });

  it("too many positional arguments", () => {
    expect(msg(() => bindArguments("f", [P("a"), P("b")], [1, 2, 3], {}))).toBe(
      "f() takes 2 positional arguments but 3 were given",
    );
    expect(msg(() => bindArguments("g", [], [1], {}))).toBe(
      "g() takes 0 positional arguments but 1 was given",
    );
    expect(msg(() => bindArguments("count", COUNT, [1, 2, 3, 4], {}))).toBe(
      "count() takes from 1 to 3 positional arguments but 4 were given",
    );
  });

  it("multiple values, missing keyword-only, positional-only given by keyword", () => {
    expect(msg(() => bindArguments("count", COUNT, [["d"], 2], { num: 3 }))).toBe(
      "count() got multiple values for argument 'num'",
    );
    expect(msg(() => bindArguments("f", [P("a"), P("k", { kind: "KEYWORD_ONLY" })], [1], {}))).toBe(
      "f() missing 1 required keyword-only argument: 'k'",
    );
    expect(msg(() => bindArguments("f", [P("a", { kind: "POSITIONAL_ONLY" })], [], { a: 1 }))).toBe(
      "f() got some positional-only arguments passed as keyword arguments: 'a'",
    );
  });

  it("keyword-only parameters cannot be given by position", () => {
    expect(msg(() => bindArguments("count", COUNT, [["d"], 1, 0, null], {}))).toBe(
      "count() takes from 1 to 3 positional arguments but 4 were given",
    );
  });
});
