/**
 * The acorn-based parameter reader: the forms `Function.prototype.toString()`
 * gives, and defaults whose text trips a hand-written scanner.
 */
import { describe, expect, it } from "vitest";
import { literalRepr, parseParameters } from "../../src/worker/params-parse.js";

const P = "POSITIONAL_OR_KEYWORD";
const K = "KEYWORD_ONLY";

/** [name, kind, default text or "-" when there is no default]. */
const brief = (src: string) =>
  parseParameters(src)?.map((p) => [p.name, p.kind, "default" in p ? (p.defaultRepr ?? "?") : "-"]);

describe("the forms toString gives", () => {
  it("reads parameters of functions actually defined here, by their own source", () => {
    class Scans {
      static scan(this: void, dets: unknown, num = 3) {
        return [dets, num];
      }
    }
    const obj = {
      async *plan(this: void, dets: unknown, { md = null } = {}) {
        yield [dets, md];
      },
    };
    expect(brief(String(Scans.scan))).toEqual([
      ["dets", P, "-"],
      ["num", P, "3"],
    ]);
    expect(brief(String(obj.plan))).toEqual([
      ["dets", P, "-"],
      ["md", K, "None"],
    ]);
  });

  it("methods: static, accessors, computed names holding brackets, private names", () => {
    expect(brief("static async *scan(dets, num = 3) { yield dets; }")).toEqual([
      ["dets", P, "-"],
      ["num", P, "3"],
    ]);
    expect(brief('["x(y)"](a, b = 1) { return a; }')).toEqual([
      ["a", P, "-"],
      ["b", P, "1"],
    ]);
    expect(brief("[Symbol.iterator](d) {}")).toEqual([["d", P, "-"]]);
    expect(brief("set value(v) {}")).toEqual([["v", P, "-"]]);
    expect(brief("#helper(a) {}")).toEqual([["a", P, "-"]]);
    expect(brief("async constructor(a) {}")).toEqual([["a", P, "-"]]);
  });

  it("arrows with and without parens, async ones, a parameter named async", () => {
    expect(brief("async x => x")).toEqual([["x", P, "-"]]);
    expect(brief("async => 1")).toEqual([["async", P, "-"]]);
    expect(brief("(cb = (x) => x, n = 1) => cb(n)")).toEqual([
      ["cb", P, "(x) => x"],
      ["n", P, "1"],
    ]);
    expect(brief("function* g(a, b = [1, 'two']) {}")).toEqual([
      ["a", P, "-"],
      ["b", P, "[1, 'two']"],
    ]);
  });

  it("gives up on bound and native functions, classes and text that is not a function", () => {
    expect(parseParameters(String(function f(_a: unknown) {}.bind(null)))).toBeUndefined();
    expect(parseParameters("function () { [native code] }")).toBeUndefined();
    expect(parseParameters("class { m(a) {} }")).toBeUndefined();
    expect(parseParameters("class A extends mix(B) { m(a) {} }")).toBeUndefined();
    expect(parseParameters("function (")).toBeUndefined();
    expect(parseParameters("1 + 2")).toBeUndefined();
  });
});

describe("only the parameter list is parsed", () => {
  it("a body the parser would reject does not matter (syntax newer than the parser)", () => {
    expect(brief("function f(a, b = 2) { this is not @ javascript }")).toEqual([
      ["a", P, "-"],
      ["b", P, "2"],
    ]);
    expect(brief("(a) => a ?? @@@")).toEqual([["a", P, "-"]]);
    expect(brief("x => @@@")).toEqual([["x", P, "-"]]);
  });
});

describe("defaults a scanner misreads", () => {
  it("regex literals holding brackets, commas, quotes and '//'", () => {
    expect(brief("function f(a = /[)(,]/g, b = 2) {}")).toEqual([
      ["a", P, "/[)(,]/g"],
      ["b", P, "2"],
    ]);
    expect(brief("function f(url = /https?:\\/\\//, q = /'/, n = 1) {}")).toEqual([
      ["url", P, "/https?:\\/\\//"],
      ["q", P, "/'/"],
      ["n", P, "1"],
    ]);
  });

  it("commas and parens inside any expression; a parenthesized default keeps its parens", () => {
    expect(
      brief("function f(a = (1, 2), b = g(h(1), [2, 3]), c = x ? (y) : z, d = (5)) {}"),
    ).toEqual([
      ["a", P, "(1, 2)"],
      ["b", P, "g(h(1), [2, 3])"],
      ["c", P, "x ? (y) : z"],
      ["d", P, "5"],
    ]);
  });

  it("template literals: with substitutions holding ')' and backticks kept as written, plain ones as str", () => {
    expect(brief('function f(a = `x${g(")", `,`)}y`, b, c = `plain`) {}')).toEqual([
      ["a", P, '`x${g(")", `,`)}y`'],
      ["b", P, "-"],
      ["c", P, "'plain'"],
    ]);
  });

  it("comments between parameters, holding brackets, quotes and commas", () => {
    expect(
      brief("function f(a /* ) don't */, // b, c)\n b = 1 /* , */, c = 'x' // )\n) {}"),
    ).toEqual([
      ["a", P, "-"],
      ["b", P, "1"],
      ["c", P, "'x'"],
    ]);
  });

  it("string escapes are decoded before the Python repr", () => {
    expect(brief("function f(a = '\\x41\\u{1F600}', b = \"it's\", c = 'a\\nb') {}")).toEqual([
      ["a", P, "'A\u{1F600}'"],
      ["b", P, `"it's"`],
      ["c", P, "'a\\nb'"],
    ]);
  });

  it("numbers: decimal text as written, other forms as Python shows their value", () => {
    expect(brief("function f(a = 0x10, b = 1_000, c = 10n, d = -2.50, e = 1e-3) {}")).toEqual([
      ["a", P, "16"],
      ["b", P, "1000"],
      ["c", P, "10"],
      ["d", P, "-2.50"],
      ["e", P, "1e-3"],
    ]);
  });
});

describe("destructuring", () => {
  it("nested patterns in the trailing options object are keyword-only parameters", () => {
    expect(
      brief(
        "function f(a, { range: { lo, hi } = { lo: 0, hi: [1, 2] }, opts: [x, y] = [], 'dash-key': d = true, ...rest } = {}) {}",
      ),
    ).toEqual([
      ["a", P, "-"],
      ["range", K, "{'lo': 0, 'hi': [1, 2]}"],
      ["opts", K, "[]"],
      ["dash-key", K, "True"],
      ["rest", "VAR_KEYWORD", "-"],
    ]);
  });

  it("patterns elsewhere are positional, named by position; a rest pattern is *args", () => {
    expect(brief("function f({ a, b }, [c, d] = [], ...[e, g]) {}")).toEqual([
      ["arg0", P, "-"],
      ["arg1", P, "[]"],
      ["args", "VAR_POSITIONAL", "-"],
    ]);
  });

  it("computed keys of the options object are left out", () => {
    expect(brief("function f({ [k]: v = 1, m = 2 }) {}")).toEqual([["m", K, "2"]]);
  });
});

describe("literalRepr", () => {
  it("writes plain literals as Python reprs and anything else as its text", () => {
    expect(literalRepr(`{ 'a': [1, { b: null }], "c d": false, e: undefined }`)).toBe(
      "{'a': [1, {'b': None}], 'c d': False, 'e': None}",
    );
    expect(literalRepr("{ x }")).toBe("{ x }");
    expect(literalRepr("[1, ...xs]")).toBe("[1, ...xs]");
    expect(literalRepr("[1, , 2]")).toBe("[1, , 2]");
    expect(literalRepr("  'a' + 'b' ")).toBe("'a' + 'b'");
    expect(literalRepr("1 2")).toBe("1 2");
  });
});
