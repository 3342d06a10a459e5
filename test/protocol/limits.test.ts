/**
 * The one nesting limit, on every path that takes or carries a value: the
 * request decoders (JSON and msgpack), the codecs for replies, the store's
 * encoding and the worker's return values. A real manager holding it end to
 * end is test/foundation/limits.test.ts.
 */
import { describe, expect, it } from "vitest";
import { encodeOps, toJson } from "../../src/manager/store/index.js";
import { MIN_SOCKET_MESSAGE_SIZE, socketMessageLimit } from "../../src/manager/rpc/server.js";
import {
  decode,
  DecodeError,
  encode,
  MAX_CARRIED_NESTING_DEPTH,
  MAX_NESTING_DEPTH,
  nestingPast,
  type WireEncoding,
} from "../../src/protocol/index.js";
import { toWireValue, WireValueError } from "../../src/worker/wire-value.js";

/** Lists nested `levels` deep around 1 (`nest(2)` is `[[1]]`). */
function nest(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/**
 * The bytes of `{method, params: {item: {kwargs: {md: X}}}}` with X lists
 * nested so that the whole request is `depth` levels deep; written by hand
 * (not by the codecs, whose recursion this is about).
 */
function request(depth: number, enc: WireEncoding): Buffer {
  const msg = { method: "queue_item_add", params: { item: { kwargs: { md: "@X@" } } } };
  const levels = depth - 4; // the request, params, item and kwargs maps
  const b = encode(msg, enc);
  const mark = encode("@X@", enc);
  const at = b.indexOf(mark);
  const deep =
    enc === "json"
      ? Buffer.from("[".repeat(levels) + "1" + "]".repeat(levels))
      : Buffer.concat([Buffer.alloc(levels, 0x91), Buffer.from([0x01])]);
  return Buffer.concat([b.subarray(0, at), deep, b.subarray(at + mark.length)]);
}

const LIMIT_MESSAGE = (where: string) =>
  `the message nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep${where}; the limit is ${MAX_NESTING_DEPTH} levels`;

describe("nestingPast", () => {
  it("counts the value itself as level 1 and names the place by its first two keys", () => {
    expect(nestingPast(1, 0)).toBeUndefined();
    expect(nestingPast([], 1)).toBeUndefined();
    expect(nestingPast([], 0)).toBe("");
    expect(nestingPast({ a: [[1]] }, 3)).toBeUndefined();
    expect(nestingPast({ a: [[1]] }, 2)).toBe("a[0]");
    expect(nestingPast({ a: 1, params: { "the item": { x: [[]] } } }, 3)).toBe('params."the item"');
    expect(nestingPast([{}, [[]]], 2)).toBe("[1][0]");
  });

  it("takes bytes and dates as leaves", () => {
    expect(nestingPast({ b: Buffer.alloc(4), d: new Date(0) }, 1)).toBeUndefined();
  });

  it("walks 100,000 levels without recursion", () => {
    const deep = JSON.parse("[".repeat(100_000) + "]".repeat(100_000)) as unknown;
    expect(nestingPast(deep, 100_000)).toBeUndefined();
    expect(nestingPast(deep, 99_999)).toBe("[0][0]");
  });
});

describe.each(["json", "msgpack"] as const)("decoding a %s request", (enc) => {
  const opts = { maxDepth: MAX_NESTING_DEPTH };

  it(`accepts one ${MAX_NESTING_DEPTH} levels deep`, () => {
    const r = decode(request(MAX_NESTING_DEPTH, enc), enc, opts);
    expect(nestingPast(r, MAX_NESTING_DEPTH)).toBeUndefined();
    expect(nestingPast(r, MAX_NESTING_DEPTH - 1)).toBe("params.item");
  });

  it.each([MAX_NESTING_DEPTH + 1, 1500, 100_000])(
    "refuses one %i levels deep, naming the limit",
    (depth) => {
      let err: unknown;
      try {
        decode(request(depth, enc), enc, opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DecodeError);
      // msgpack's decoder runs out of stack far past the limit: the place is then unknown.
      const where = enc === "msgpack" && depth === 100_000 ? "" : " (at params.item)";
      expect((err as Error).message).toBe(LIMIT_MESSAGE(where));
    },
  );

  it("decodes without a limit when none is given (the client reading replies)", () => {
    expect(nestingPast(decode(request(300, enc), enc), 299)).toBe("params.item");
  });
});

describe.each(["json", "msgpack"] as const)("%s codec", (enc) => {
  it(`encodes and decodes a message ${MAX_CARRIED_NESTING_DEPTH} levels deep (the deepest reply)`, () => {
    const reply = { success: true, result: { return_value: nest(MAX_CARRIED_NESTING_DEPTH - 2) } };
    expect(nestingPast(reply, MAX_CARRIED_NESTING_DEPTH)).toBeUndefined();
    expect(decode(encode(reply, enc), enc)).toEqual(reply);
  });
});

describe("the store's encoding", () => {
  it(`stores a value ${MAX_CARRIED_NESTING_DEPTH} levels deep`, () => {
    const v = nest(MAX_CARRIED_NESTING_DEPTH);
    expect(JSON.parse(toJson(v))).toEqual(v);
  });

  it.each([MAX_CARRIED_NESTING_DEPTH + 1, 100_000])(
    "refuses one %i levels deep before anything is written",
    (depth) => {
      expect(() => toJson(nest(depth))).toThrow(
        `more than ${MAX_CARRIED_NESTING_DEPTH} levels deep`,
      );
      expect(() =>
        encodeOps(
          [
            { op: "set", key: "queue_autostart", value: true },
            { op: "history_push", item: { kwargs: nest(depth) } },
          ],
          "here",
        ),
      ).toThrow(
        /operation 1 \(history_push\) is invalid: the value nests lists and maps more than/,
      );
    },
  );

  it("still calls a cycle a cycle", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => toJson(cyclic)).toThrow(/circular/i);
  });
});

describe("a function's return value (the worker)", () => {
  it(`is carried ${MAX_NESTING_DEPTH} levels deep`, () => {
    const v = nest(MAX_NESTING_DEPTH);
    expect(toWireValue(v)).toEqual(v);
    // Maps count as levels too, and so do Maps and Sets turned into plain data.
    expect(toWireValue(new Map([["a", new Set([nest(MAX_NESTING_DEPTH - 2)])]]))).toEqual({
      a: [nest(MAX_NESTING_DEPTH - 2)],
    });
  });

  it.each([
    [MAX_NESTING_DEPTH + 1, " (at [0][0][0]...)"],
    [100_000, " (at [0][0][0]...)"],
  ])("is refused %i levels deep, naming the limit", (depth, where) => {
    expect(() => toWireValue(nest(depth))).toThrow(WireValueError);
    expect(() => toWireValue(nest(depth))).toThrow(
      `the return value nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep${where}; the limit is ${MAX_NESTING_DEPTH} levels`,
    );
    expect(() =>
      toWireValue(new Map([["a", new Set([nest(MAX_NESTING_DEPTH - 1)])]]), "output 'x'"),
    ).toThrow(
      `output 'x' nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep (at a[0][0][0]...)`,
    );
  });
});

describe("the control socket's own limit", () => {
  it("reads 1 GiB, or 4 x --max-message-size, within what a Buffer holds", () => {
    expect(MIN_SOCKET_MESSAGE_SIZE).toBe(1024 ** 3);
    expect(socketMessageLimit(16 * 1024 * 1024)).toBe(1024 ** 3);
    expect(socketMessageLimit(512 * 1024 * 1024)).toBe(2 * 1024 ** 3);
    expect(socketMessageLimit(2 * 1024 ** 3)).toBe(4 * 1024 ** 3);
  });
});
