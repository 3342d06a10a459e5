/**
 * Return values cross IPC and then the wire as JSON or msgpack: turn them
 * into plain data here, and fail clearly on what cannot be carried.
 */

export class WireValueError extends Error {
  override name = "WireValueError";
}

/** Largest encoded return value accepted (JSON text length). */
export const MAX_RETURN_VALUE_BYTES = 8 * 1024 * 1024;

export function toWireValue(value: unknown): unknown {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === "bigint") {
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new WireValueError(
            `a BigInt (${v}) is outside the range a reply can carry exactly`,
          );
        }
        return Number(v);
      }
      if (typeof v === "number" && !Number.isFinite(v)) {
        throw new WireValueError(`${String(v)} cannot be carried by JSON`);
      }
      if (typeof v === "function" || typeof v === "symbol") return undefined;
      if (v instanceof Map) return Object.fromEntries(v as Map<unknown, unknown>) as unknown;
      if (v instanceof Set) return [...(v as Set<unknown>)] as unknown;
      return v;
    });
  } catch (err) {
    if (err instanceof WireValueError) throw err;
    throw new WireValueError(`the value cannot be encoded: ${(err as Error).message}`);
  }
  if (text === undefined) return null;
  if (text.length > MAX_RETURN_VALUE_BYTES) {
    throw new WireValueError(
      `the value is too large for a reply: ${text.length} bytes (the limit is ${MAX_RETURN_VALUE_BYTES})`,
    );
  }
  return JSON.parse(text) as unknown;
}
