/** Codecs: JSON and msgpack, auto-detection of a request's encoding, decode errors. */
import { describe, expect, it } from "vitest";
import {
  decode,
  DecodeError,
  detectEncoding,
  encode,
  ENCODINGS,
  STATUS_KEYS,
} from "../../src/protocol/index.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function decodeError(buf: Uint8Array, enc: "json" | "msgpack"): DecodeError {
  try {
    decode(buf, enc);
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return err as DecodeError;
  }
  throw new Error(`decoded without an error: ${Buffer.from(buf).toString("hex")}`);
}

describe("ENCODINGS", () => {
  it("lists json, msgpack and auto", () => {
    expect([...ENCODINGS]).toEqual(["json", "msgpack", "auto"]);
  });
});

describe("detectEncoding", () => {
  it("takes JSON text (and anything not a msgpack map) as JSON", () => {
    expect(detectEncoding(Buffer.from('{"method": "status"}'))).toBe("json");
    expect(detectEncoding(Buffer.from(' {"method": "status"}'))).toBe("json");
    expect(detectEncoding(Buffer.from("[1, 2]"))).toBe("json");
    expect(detectEncoding(Buffer.from('"status"'))).toBe("json");
    expect(detectEncoding(Buffer.alloc(0))).toBe("json");
    expect(detectEncoding(hex("fffe00"))).toBe("json");
    // msgpack values that are not maps are not requests: treated as JSON.
    expect(detectEncoding(encode([1, 2, 3], "msgpack"))).toBe("json");
    expect(detectEncoding(encode("status", "msgpack"))).toBe("json");
    expect(detectEncoding(encode(null, "msgpack"))).toBe("json");
  });

  it("takes every msgpack map header as msgpack (fixmap 0x80-0x8f, map16 0xde, map32 0xdf)", () => {
    for (let b = 0x80; b <= 0x8f; b++) expect(detectEncoding(Buffer.from([b]))).toBe("msgpack");
    expect(detectEncoding(Buffer.from([0xde, 0, 0]))).toBe("msgpack");
    expect(detectEncoding(Buffer.from([0xdf, 0, 0, 0, 0]))).toBe("msgpack");
    expect(detectEncoding(Buffer.from([0x7f]))).toBe("json");
    expect(detectEncoding(Buffer.from([0x90]))).toBe("json");
    expect(detectEncoding(Buffer.from([0xdd]))).toBe("json");
    expect(detectEncoding(encode({ method: "status" }, "msgpack"))).toBe("msgpack");
  });

  it("detects a msgpack map of more than 15 keys (map16)", () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 20; i++) big[`k${i}`] = i;
    const buf = encode(big, "msgpack");
    expect(buf[0]).toBe(0xde);
    expect(detectEncoding(buf)).toBe("msgpack");
  });
});

describe("JSON codec", () => {
  it("round-trips a request and keeps key order", () => {
    const req = { method: "queue_item_add", params: { item: { name: "count", args: [1, 2.5] } } };
    const buf = encode(req, "json");
    expect(buf.toString()).toBe(JSON.stringify(req));
    const back = decode(buf, "json") as Record<string, unknown>;
    expect(back).toEqual(req);
    expect(Object.keys(back)).toEqual(["method", "params"]);
  });

  it("writes non-ASCII text as UTF-8 and reads it back", () => {
    const buf = encode({ msg: "Usér ☃" }, "json");
    expect(decode(buf, "json")).toEqual({ msg: "Usér ☃" });
    expect(decode(Buffer.from('{"msg": "Us\\u00e9r \\u2603"}'), "json")).toEqual({ msg: "Usér ☃" });
  });

  it("decodes every JSON value, not only maps (the envelope check refuses them)", () => {
    expect(decode(Buffer.from("[1, 2, 3]"), "json")).toEqual([1, 2, 3]);
    expect(decode(Buffer.from('"status"'), "json")).toBe("status");
    expect(decode(Buffer.from("null"), "json")).toBeNull();
    expect(decode(Buffer.from("42"), "json")).toBe(42);
  });

  it("refuses invalid UTF-8 and text that is not JSON with a DecodeError", () => {
    expect(decodeError(hex("fffe00676172626167657b"), "json").message).toMatch(
      /^JSON decode error: .*UTF-8/,
    );
    expect(decodeError(Buffer.from("hello, not json"), "json").message).toMatch(
      /^JSON decode error: /,
    );
    expect(decodeError(Buffer.from('{"method": "sta'), "json").message).toMatch(
      /^JSON decode error: /,
    );
    expect(decodeError(Buffer.alloc(0), "json").message).toMatch(/^JSON decode error: /);
    expect(decodeError(Buffer.from('{"a": 1} x'), "json").message).toMatch(/^JSON decode error: /);
  });

  it("encodes BigInt as a number and bytes as base64 instead of throwing", () => {
    expect(encode({ n: 10n }, "json").toString()).toBe('{"n":10}');
    expect(encode({ b: Buffer.from("hi") }, "json").toString()).toBe('{"b":"aGk="}');
    expect(encode(undefined, "json").toString()).toBe("null");
  });
});

describe("msgpack codec", () => {
  it("round-trips a status-shaped map and keeps key order", () => {
    const status: Record<string, unknown> = {};
    STATUS_KEYS.forEach((k, i) => (status[k] = i % 2 ? `v${i}` : { loop: false }));
    const back = decode(encode(status, "msgpack"), "msgpack") as Record<string, unknown>;
    expect(back).toEqual(status);
    expect(Object.keys(back)).toEqual(STATUS_KEYS);
  });

  it("round-trips floats, ints, nulls, nested lists and text", () => {
    const v = {
      time: 1795344496.9766655,
      n: -5,
      big: 2 ** 40,
      none: null,
      l: [[1], ["é"]],
      t: true,
    };
    expect(decode(encode(v, "msgpack"), "msgpack")).toEqual(v);
  });

  it("reads maps written by other msgpack libraries (map16, str8)", () => {
    // {"method": "status"} as Python's msgpack writes it, and as map16.
    expect(decode(hex("81 a6 6d6574686f64 a6 737461747573"), "msgpack")).toEqual({
      method: "status",
    });
    expect(decode(hex("de 0001 d9 06 6d6574686f64 a6 737461747573"), "msgpack")).toEqual({
      method: "status",
    });
  });

  it("refuses truncated data, trailing bytes, the reserved 0xc1 and empty input", () => {
    expect(decodeError(hex("81 a6 6d6574"), "msgpack").message).toMatch(/^msgpack decode error: /);
    expect(
      decodeError(Buffer.concat([encode({ method: "status" }, "msgpack"), hex("0102")]), "msgpack")
        .message,
    ).toMatch(/^msgpack decode error: /);
    expect(decodeError(hex("c1"), "msgpack").message).toMatch(/^msgpack decode error: .*0xc1/);
    expect(decodeError(Buffer.alloc(0), "msgpack").message).toMatch(/^msgpack decode error: /);
    expect(decodeError(hex("fffe00676172626167657b"), "msgpack").message).toMatch(
      /^msgpack decode error: /,
    );
    expect(decodeError(Buffer.from("hello, not json"), "msgpack").message).toMatch(
      /^msgpack decode error: /,
    );
  });

  it("refuses maps whose keys are maps or lists", () => {
    expect(decodeError(hex("81 81 01 02 03"), "msgpack").message).toMatch(
      /^msgpack decode error: /,
    );
    expect(decodeError(hex("81 92 01 02 03"), "msgpack").message).toMatch(
      /^msgpack decode error: /,
    );
  });

  it("does not let a __proto__ key change the decoded map's prototype", () => {
    // {"__proto__": {"method": "status"}}
    const v = decode(
      hex("81 a9 5f5f70726f746f5f5f 81 a6 6d6574686f64 a6 737461747573"),
      "msgpack",
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect("method" in v).toBe(false);
  });
});
