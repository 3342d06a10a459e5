/** Z85 text of CURVE keys: one check of a key's text, used by the manager's options and allow-list. */
import { curveKeyPair } from "zeromq";
import { describe, expect, it } from "vitest";
import { resolveOptions } from "../../src/manager/options.js";
import { isCurveKey, z85Decode, z85Encode } from "../../src/protocol/z85.js";

describe("isCurveKey", () => {
  const key = curveKeyPair().publicKey;

  it("accepts zeromq's keys and round-trips them", () => {
    expect(isCurveKey(key)).toBe(true);
    expect(z85Encode(z85Decode(key))).toBe(key);
  });

  it("refuses other lengths, characters outside z85 and blocks above 2^32 - 1", () => {
    expect(isCurveKey(key.slice(0, 39))).toBe(false);
    expect(isCurveKey(`${key}00000`)).toBe(false);
    expect(isCurveKey(`~${key.slice(1)}`)).toBe(false);
    // "#####" is 85^5 - 1, above 2^32 - 1: every character is z85, the block is not.
    expect(isCurveKey(`#####${key.slice(5)}`)).toBe(false);
  });

  it("the manager's --zmq-private-key uses it: an out-of-range key is refused at start", () => {
    expect(() => resolveOptions({ zmqPrivateKey: `#####${key.slice(5)}` }, {})).toThrow(
      "--zmq-private-key: expected a CURVE key of 40 z85 characters (see 'zqs keys'), got 40 characters that are not z85",
    );
    expect(resolveOptions({ zmqPrivateKey: key }, {}).zmqPrivateKey).toBe(key);
  });
});
