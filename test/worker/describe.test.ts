/** The describer of thrown values: never "[object Object]", never throws, always bounded. */
import { inspect } from "node:util";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { cutText, describeThrown, MAX_DESCRIPTION } from "../../src/worker/describe.js";

describe("describeThrown", () => {
  it("gives an Error's message and stack", () => {
    const err = new TypeError("bad thing");
    expect(describeThrown(err)).toEqual({ message: "bad thing", stack: err.stack });
  });

  it("recognises an Error of another realm", () => {
    const err: unknown = vm.runInNewContext("new RangeError('far away')");
    expect(err instanceof Error).toBe(false);
    expect(describeThrown(err).message).toBe("far away");
  });

  it("gives a string as it is, and primitives as their text", () => {
    expect(describeThrown("plain text")).toEqual({ message: "plain text", stack: "plain text" });
    expect(describeThrown(42).message).toBe("42");
    expect(describeThrown(10n).message).toBe("10n");
    expect(describeThrown(null).message).toBe("null");
    expect(describeThrown(undefined).message).toBe("undefined");
    expect(describeThrown(Symbol("s")).message).toBe("Symbol(s)");
  });

  it("describes objects by their content, not their toString", () => {
    expect(describeThrown({ code: 3, why: "x" }).message).toBe("{ code: 3, why: 'x' }");
    const bad = {
      toString(): string {
        throw new Error("no");
      },
    };
    expect(describeThrown(bad).message).toBe("{ toString: [Function: toString] }");
    expect(describeThrown(new Map([["a", 1]])).message).toBe("Map(1) { 'a' => 1 }");
  });

  it("survives values whose inspection throws", () => {
    const custom = {
      [inspect.custom](): string {
        throw new Error("inspect me not");
      },
      a: 1,
    };
    expect(describeThrown(custom).message).toContain("a: 1");
    const proxy = new Proxy(
      {},
      {
        get() {
          throw new Error("trap");
        },
        ownKeys() {
          throw new Error("trap");
        },
      },
    );
    expect(typeof describeThrown(proxy).message).toBe("string");
    const err = new Error("x");
    Object.defineProperty(err, "message", {
      get() {
        throw new Error("getter");
      },
    });
    expect(typeof describeThrown(err).message).toBe("string");
  });

  it("cuts what is long and says so", () => {
    const huge = {
      rows: Array.from({ length: 10_000 }, (_, i) => ({
        i,
        text: "x".repeat(100),
        deep: { a: { b: { c: { d: i } } } },
      })),
    };
    const { message } = describeThrown(huge);
    expect(message).toMatch(/… \(cut: \d+ more characters\)$/);
    expect(message.length).toBeLessThanOrEqual(MAX_DESCRIPTION + 40);
    expect(cutText("abcdef", 3)).toBe("abc… (cut: 3 more characters)");
    expect(cutText("abc", 3)).toBe("abc");
  });
});
