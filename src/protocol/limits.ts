/**
 * How deep values may nest, one limit for every path: the request decoders
 * (JSON and msgpack), the worker's values (return values and outputs), the
 * store and the replies all hold it.
 *
 * Why 256: the Python client must be able to read every reply. Python's
 * `json.loads` gives up near 1,000 levels (the recursion limit, less the
 * client's own frames), msgpack-python's unpacker at 1,024; `copy.deepcopy`
 * of an item (as the Python client's item classes do) near 500, and
 * `pprint.pformat` (the Python server's plan messages) near 330. 256 levels,
 * plus the few levels a reply wraps around a value, stays under all of them;
 * no real plan parameter or result nests anywhere near it.
 */

/**
 * The deepest a request may nest lists and maps, the request's own map being
 * level 1 (`{"method": ..., "params": {"item": {"kwargs": {"md": {}}}}}` is 5
 * levels deep); also the deepest a function's return value or output may be
 * (the value itself being level 1 when it is a list or a map).
 */
export const MAX_NESTING_DEPTH = 256;

/**
 * Levels of their own that replies, stored records and worker messages add
 * around the values they carry (`{"result": {"return_value": ...}}`): such a
 * message nests at most MAX_NESTING_DEPTH + NESTING_ALLOWANCE levels.
 */
export const NESTING_ALLOWANCE = 16;

/** The deepest a reply, stored record or worker message may nest. */
export const MAX_CARRIED_NESTING_DEPTH = MAX_NESTING_DEPTH + NESTING_ALLOWANCE;

/** A stack overflow (V8's RangeError): what recursive code hits on deep nesting. */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

function isContainer(v: unknown): v is object {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

type Key = string | number | undefined;

/** `params.item`, `[3].kwargs`, `"a b"[0]`: a place from up to two keys (numbers index lists). */
function placeName(k1: Key, k2: Key): string {
  let out = "";
  for (const k of [k1, k2]) {
    if (k === undefined) break;
    if (typeof k === "number") out += `[${k}]`;
    else {
      const name = /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k);
      out += out === "" ? name : `.${name}`;
    }
  }
  return out;
}

/**
 * Where `value` nests lists and maps (plain objects) deeper than `limit`
 * levels, or undefined when it does not. The place is named by its first two
 * keys (`params.item`); "" when the value itself is the place. Iterative (no
 * recursion, whatever the depth) and it stops at the first place too deep.
 * Other objects (bytes, dates) count as leaves.
 */
export function nestingPast(value: unknown, limit: number): string | undefined {
  if (!isContainer(value)) return undefined;
  // A stack of containers to visit, with their depth and the first two keys of their path.
  const values: object[] = [value];
  const depths: number[] = [1];
  const firstKeys: Key[] = [undefined];
  const secondKeys: Key[] = [undefined];
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop() as number;
    const k1 = firstKeys.pop();
    const k2 = secondKeys.pop();
    if (depth > limit) return placeName(k1, k2);
    const isArray = Array.isArray(v);
    const keys = isArray ? undefined : Object.keys(v);
    const n = isArray ? v.length : (keys as string[]).length;
    for (let i = 0; i < n; i++) {
      const key = isArray ? i : ((keys as string[])[i] as string);
      const child = (v as Record<string | number, unknown>)[key];
      if (!isContainer(child)) continue;
      values.push(child);
      depths.push(depth + 1);
      firstKeys.push(depth === 1 ? key : k1);
      secondKeys.push(depth === 2 ? key : k2);
    }
  }
  return undefined;
}

/** The words of a refusal: "... nest more than 256 levels deep (at params.item); the limit is 256 ...". */
export function nestingMessage(what: string, where: string | undefined, limit: number): string {
  const at = where ? ` (at ${where})` : "";
  return `${what} nests lists and maps more than ${limit} levels deep${at}; the limit is ${limit} levels`;
}
