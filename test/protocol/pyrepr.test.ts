/**
 * Python reprs inside messages: the forms the Python server's messages show
 * (`'foo'`, `['foo', 'bar']`, `('function',)`, `<class 'int'>`, `{'params': {}}`).
 */
import { describe, expect, it } from "vitest";
import {
  isPlainObject,
  pyClass,
  pyNameOrList,
  pyRepr,
  pyTuple,
  pyTypeName,
} from "../../src/protocol/index.js";

describe("pyTypeName / pyClass", () => {
  it.each([
    [null, "NoneType"],
    [undefined, "NoneType"],
    ["s", "str"],
    [true, "bool"],
    [false, "bool"],
    [10, "int"],
    [-3, "int"],
    [1.5, "float"],
    [10n, "int"],
    [[1, 2], "list"],
    [{}, "dict"],
    [{ a: 1 }, "dict"],
    [Buffer.from([1, 2]), "bytes"],
    [new Uint8Array(2), "bytes"],
    [new Date(0), "datetime.datetime"],
    [new (class Foo {})(), "object"],
  ])("%o is %s", (value, name) => {
    expect(pyTypeName(value)).toBe(name);
    expect(pyClass(value)).toBe(`<class '${name}'>`);
  });
});

describe("isPlainObject", () => {
  it("accepts decoded maps only", () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject(JSON.parse('{"__proto__": {"method": "x"}}'))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject("x")).toBe(false);
    expect(isPlainObject(Buffer.alloc(3))).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
  });
});

describe("pyRepr", () => {
  it("writes scalars as Python does", () => {
    expect(pyRepr(null)).toBe("None");
    expect(pyRepr(undefined)).toBe("None");
    expect(pyRepr(true)).toBe("True");
    expect(pyRepr(false)).toBe("False");
    expect(pyRepr(10)).toBe("10");
    expect(pyRepr(-2.5)).toBe("-2.5");
    expect(pyRepr(12345678901234567890n)).toBe("12345678901234567890");
    expect(pyRepr(Number.NaN)).toBe("nan");
    expect(pyRepr(Number.POSITIVE_INFINITY)).toBe("inf");
    expect(pyRepr(Number.NEGATIVE_INFINITY)).toBe("-inf");
  });

  it("pads float exponents to two digits (1e-07, not 1e-7)", () => {
    expect(pyRepr(1e-7)).toBe("1e-07");
    expect(pyRepr(2.5e-9)).toBe("2.5e-09");
    expect(pyRepr(1e21)).toBe("1e+21");
    expect(pyRepr(1.5e-10)).toBe("1.5e-10");
    expect(pyRepr(1e100)).toBe("1e+100");
  });

  it("quotes strings: single quotes unless the text has ' and no \"", () => {
    expect(pyRepr("foo")).toBe("'foo'");
    expect(pyRepr("")).toBe("''");
    expect(pyRepr("it's")).toBe(`"it's"`);
    expect(pyRepr(`say "hi"`)).toBe(`'say "hi"'`);
    expect(pyRepr(`it's "x"`)).toBe(`'it\\'s "x"'`);
  });

  it("escapes backslashes and control characters in both quote forms", () => {
    expect(pyRepr("a\\b")).toBe("'a\\\\b'");
    expect(pyRepr("l1\nl2\tx\r")).toBe("'l1\\nl2\\tx\\r'");
    expect(pyRepr("it's\n")).toBe(`"it's\\n"`);
    expect(pyRepr("it's \\")).toBe(`"it's \\\\"`);
    expect(pyRepr("\u0000\u001f\u007f")).toBe("'\\x00\\x1f\\x7f'");
    expect(pyRepr("\u00a0")).toBe("'\\xa0'");
  });

  it("keeps printable non-ASCII text and writes lone surrogates escaped", () => {
    expect(pyRepr("Usér ☃")).toBe("'Usér ☃'");
    expect(pyRepr("😀")).toBe("'😀'");
    expect(pyRepr("a\ud800b")).toBe("'a\\ud800b'");
    expect(pyRepr("\udc00")).toBe("'\\udc00'");
  });

  it("writes lists and dicts with Python separators, keys in order", () => {
    expect(pyRepr(["foo", "bar"])).toBe("['foo', 'bar']");
    expect(pyRepr([])).toBe("[]");
    expect(pyRepr({ params: {} })).toBe("{'params': {}}");
    expect(pyRepr({ b: [1, null], a: { x: true } })).toBe("{'b': [1, None], 'a': {'x': True}}");
  });

  it("summarises bytes and dates instead of dumping them", () => {
    expect(pyRepr(Buffer.alloc(1000))).toBe("b'<1000 bytes>'");
    expect(pyRepr(new Date(0))).toBe("datetime.datetime('1970-01-01T00:00:00.000Z')");
  });

  it("survives very deep nesting (no stack overflow)", () => {
    const deep = JSON.parse("[".repeat(100_000) + "]".repeat(100_000)) as unknown;
    const text = pyRepr(deep);
    expect(text.startsWith("[[[")).toBe(true);
    expect(text).toContain("[...]");
    expect(text.length).toBeLessThan(1000);
    const deepMap = JSON.parse('{"a":'.repeat(50_000) + "1" + "}".repeat(50_000)) as unknown;
    expect(pyRepr(deepMap)).toContain("{...}");
  });
});

describe("pyTuple / pyNameOrList", () => {
  it("writes tuples with the one-element comma", () => {
    expect(pyTuple(["function"])).toBe("('function',)");
    expect(pyTuple(["method", "params"])).toBe("('method', 'params')");
    expect(pyTuple(["safe_off", "safe_on"])).toBe("('safe_off', 'safe_on')");
    expect(pyTuple([])).toBe("()");
  });

  it("writes one name alone and several as a list", () => {
    expect(pyNameOrList(["foo"])).toBe("'foo'");
    expect(pyNameOrList(["foo", "bar"])).toBe("['foo', 'bar']");
  });
});
