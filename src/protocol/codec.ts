/**
 * Wire codecs. JSON is the Python server's default; msgpack is the other
 * encoding it supports; `auto` (a zqs extension) answers each request in the
 * encoding it arrived in.
 */
import { C1, Packr, Unpackr } from "msgpackr";
import { isStackOverflow, nestingMessage, nestingPast } from "./limits.js";

export const ENCODINGS = ["json", "msgpack", "auto"] as const;
export type Encoding = (typeof ENCODINGS)[number];
export type WireEncoding = Exclude<Encoding, "auto">;

const packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: "number" });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Thrown when bytes cannot be decoded; `message` is the detail for the reply. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

/**
 * Guess the encoding of a request: a JSON map starts with `{` (after optional
 * whitespace), a msgpack map with 0x80–0x8f, 0xde or 0xdf. Anything else is
 * treated as JSON so that the reply explains the decode failure in JSON.
 */
export function detectEncoding(buf: Uint8Array): WireEncoding {
  const b = buf[0];
  if (b === undefined) return "json";
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return "msgpack";
  return "json";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface DecodeOptions {
  /**
   * Refuse (a DecodeError naming the limit) a message that nests lists and
   * maps deeper than this, the message's own map being level 1.
   */
  maxDepth?: number;
}

export function decode(buf: Uint8Array, enc: WireEncoding, opts: DecodeOptions = {}): unknown {
  const value = decodeValue(buf, enc, opts.maxDepth);
  if (opts.maxDepth !== undefined) {
    const where = nestingPast(value, opts.maxDepth);
    if (where !== undefined) {
      throw new DecodeError(nestingMessage("the message", where, opts.maxDepth));
    }
  }
  return value;
}

function decodeValue(buf: Uint8Array, enc: WireEncoding, maxDepth: number | undefined): unknown {
  if (enc === "json") {
    let text: string;
    try {
      text = utf8.decode(buf);
    } catch {
      throw new DecodeError("JSON decode error: the bytes are not valid UTF-8");
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new DecodeError(`JSON decode error: ${(err as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = unpackr.unpack(buf) as unknown;
  } catch (err) {
    // msgpackr reads nested values recursively: far past any limit, the stack ends first.
    if (maxDepth !== undefined && isStackOverflow(err)) {
      throw new DecodeError(nestingMessage("the message", undefined, maxDepth));
    }
    throw new DecodeError(`msgpack decode error: ${(err as Error).message}`);
  }
  // msgpackr turns the reserved byte 0xc1 into a marker object instead of failing.
  if (value === C1) throw new DecodeError("msgpack decode error: 0xc1 is not a valid type byte");
  return value;
}

/**
 * JSON.stringify replacer that keeps replies encodable: BigInt as number, bytes
 * as base64. `this[key]` is the value before `toJSON` (a Buffer's `toJSON`
 * would otherwise turn it into `{type, data: [...]}` first).
 */
function jsonSafe(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (typeof value === "bigint") return Number(value);
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString("base64");
  return value;
}

export function encode(value: unknown, enc: WireEncoding): Buffer {
  if (enc === "json") return Buffer.from(JSON.stringify(value, jsonSafe) ?? "null", "utf8");
  return packr.pack(value);
}
