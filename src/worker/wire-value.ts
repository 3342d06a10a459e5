/**
 * Return values cross IPC and then the wire as JSON or msgpack: turn them
 * into plain data here, and fail clearly on what cannot be carried (naming
 * where in the value it is: `NaN at results[3].x`), including a value nested
 * deeper than MAX_NESTING_DEPTH (src/protocol/limits.ts).
 */
import { isStackOverflow, MAX_NESTING_DEPTH, nestingMessage } from "../protocol/limits.js";
import { describeThrown } from "./describe.js";

export class WireValueError extends Error {
  override name = "WireValueError";
}

/**
 * Largest encoded return value accepted: 8 MiB of JSON (UTF-8 bytes). Half the
 * manager's default --max-message-size, so that a reply that carries it (with
 * the task's other fields, or in msgpack) stays well within what clients take.
 */
export const MAX_RETURN_VALUE_BYTES = 8 * 1024 * 1024;

function childPath(parent: string, key: string, inArray: boolean): string {
  if (inArray) return `${parent}[${key}]`;
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  return parent === "" ? name : `${parent}.${name}`;
}

/** A path cut to its first steps: a nesting path is as long as the nesting. */
function shortPath(p: string): string {
  const cut = /^(?:[^.[]+)?(?:(?:\.[^.[]+|\[[^\]]*\])){0,3}/.exec(p)?.[0] ?? "";
  return cut.length < p.length ? `${cut}...` : p;
}

/**
 * Plain data for a reply. `what` names the value in messages (default "the
 * return value"; e.g. "output 'x'").
 */
export function toWireValue(value: unknown, what = "the return value"): unknown {
  if (value === undefined) return null;
  // Where each object sits in the value, for messages, and how deep (the value itself: 1).
  const paths = new WeakMap<object, string>();
  const depths = new WeakMap<object, number>();
  const at = (p: string) => (p === "" ? "" : ` at ${p}`);
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function (this: unknown, k: string, v: unknown) {
      const holder = this as object;
      const parent = paths.get(holder);
      // The root holder ({"": value}) has no path: its one child is the value itself.
      const here = parent === undefined ? "" : childPath(parent, k, Array.isArray(holder));
      if (typeof v === "bigint") {
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new WireValueError(
            `${what}: a BigInt (${v})${at(here)} is outside the range a reply can carry exactly`,
          );
        }
        return Number(v);
      }
      if (typeof v === "number" && !Number.isFinite(v)) {
        throw new WireValueError(`${what}: ${String(v)}${at(here)} cannot be carried by JSON`);
      }
      if (typeof v === "function" || typeof v === "symbol") return undefined;
      let out: unknown = v;
      if (v instanceof Map) out = Object.fromEntries(v as Map<unknown, unknown>);
      else if (v instanceof Set) out = [...(v as Set<unknown>)];
      if (out !== null && typeof out === "object") {
        const depth = (depths.get(holder) ?? 0) + 1;
        if (depth > MAX_NESTING_DEPTH) {
          throw new WireValueError(nestingMessage(what, shortPath(here), MAX_NESTING_DEPTH));
        }
        paths.set(out, here);
        depths.set(out, depth);
      }
      return out;
    });
  } catch (err) {
    if (err instanceof WireValueError) throw err;
    if (isStackOverflow(err)) throw new WireValueError(nestingMessage(what, "", MAX_NESTING_DEPTH));
    throw new WireValueError(`${what} cannot be encoded: ${describeThrown(err).message}`, {
      cause: err,
    });
  }
  if (text === undefined) return null;
  // Characters first (cheap): a UTF-8 byte count is at most 3 per UTF-16 unit.
  const bytes = text.length * 3 > MAX_RETURN_VALUE_BYTES ? Buffer.byteLength(text) : text.length;
  if (bytes > MAX_RETURN_VALUE_BYTES) {
    throw new WireValueError(
      `${what} is too large for a reply: ${bytes} bytes of JSON (the limit is ${MAX_RETURN_VALUE_BYTES})`,
    );
  }
  return JSON.parse(text) as unknown;
}
