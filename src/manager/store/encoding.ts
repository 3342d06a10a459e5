/**
 * The encoding both store implementations share: every operation is checked
 * and every value turned into JSON text before anything is written, so an
 * invalid operation anywhere in a list rejects the whole list with nothing
 * written (both stores then write the prepared text in one transaction, where
 * nothing can fail for a reason of the data).
 */
import {
  isStackOverflow,
  MAX_CARRIED_NESTING_DEPTH,
  nestingMessage,
  nestingPast,
} from "../../protocol/limits.js";
import {
  StoreError,
  type DocKey,
  type StoreOp,
  type StoredRun,
  type StoredSchedule,
  type StoredStart,
} from "./types.js";

// A record, so that a document key added to DocKey fails to compile until it is listed here.
const DOC_KEY_RECORD: Record<DocKey, true> = {
  queue: true,
  running_item: true,
  queue_mode: true,
  queue_autostart: true,
  permissions: true,
  lock: true,
  environment_content: true,
  environment_open: true,
  startup_fingerprint: true,
};
export const DOC_KEYS = Object.keys(DOC_KEY_RECORD) as readonly DocKey[];
const DOC_KEY_SET: ReadonlySet<string> = new Set(DOC_KEYS);

/** An operation checked and with its value already encoded as JSON text. */
export type EncodedOp =
  | { op: "set"; key: DocKey; json: string }
  | { op: "delete"; key: DocKey }
  | { op: "history_push"; json: string }
  | { op: "history_trim"; keep: number }
  /** `json` holds `{ "expiresAt": ..., "result": ... }`. */
  | { op: "result_put"; uid: string; json: string }
  | { op: "result_delete"; uid: string }
  /** `json` holds the run's definition (an object). */
  | { op: "run_put"; uid: string; json: string }
  | { op: "run_outcomes"; uid: string; outcomes: string }
  | { op: "run_delete"; uid: string }
  /** `json` holds the schedule (an object). */
  | { op: "schedule_put"; uid: string; json: string }
  | { op: "schedule_delete"; uid: string }
  /** `json` holds the remembered reply's record (an object). */
  | { op: "idem_put"; key: string; json: string }
  | { op: "idem_delete"; key: string }
  /** One task's start mark (a `start_put` of several marks becomes one each); `json`: the mark. */
  | { op: "start_put"; uid: string; json: string }
  | { op: "start_delete"; uid: string };

/** Longest result or run uid accepted, in UTF-8 bytes (LMDB keys are limited to 1978 bytes). */
export const MAX_UID_BYTES = 512;

const NOT_JSON = new Set(["function", "symbol", "bigint"]);

/**
 * The first function, symbol or BigInt in `value` (which JSON would drop, or
 * cannot write), named by its property: walked iteratively through lists and
 * objects (except those with `toJSON`, which stand for themselves), each
 * object once. Native `JSON.stringify` without a replacer is several times
 * faster than one that calls back for every property; this walk keeps its
 * refusals.
 */
function notJson(value: unknown): string | undefined {
  const t = typeof value;
  if (NOT_JSON.has(t)) return `the value is a ${t}, not JSON`;
  if (t !== "object" || value === null) return undefined;
  const seen = new Set<object>();
  const stack: object[] = [value as object];
  while (stack.length > 0) {
    const v = stack.pop() as object;
    if (seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        const ct = typeof child;
        if (NOT_JSON.has(ct)) return `property "${i}" is a ${ct}, not JSON`;
        if (ct === "object" && child !== null) stack.push(child as object);
      }
      continue;
    }
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") continue;
    for (const key of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[key];
      const ct = typeof child;
      if (NOT_JSON.has(ct)) return `property "${key}" is a ${ct}, not JSON`;
      if (ct === "object" && child !== null) stack.push(child as object);
    }
  }
  return undefined;
}

/**
 * The JSON text of a value, or a TypeError: functions, symbols and BigInts
 * anywhere are refused (rather than silently dropped), as are cycles, an
 * undefined value and a value nested deeper than a reply may carry
 * (MAX_CARRIED_NESTING_DEPTH: what is stored is what replies are built from).
 * As in JSON, properties whose value is undefined are left out and non-finite
 * numbers become null.
 */
export function toJson(value: unknown): string {
  if (value === undefined) throw new TypeError("the value is undefined, not JSON");
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    if (isStackOverflow(err)) {
      throw new TypeError(nestingMessage("the value", undefined, MAX_CARRIED_NESTING_DEPTH));
    }
    // A BigInt is named as the other refusals are; a cycle keeps JSON's own words.
    const bad = notJson(value);
    throw bad !== undefined ? new TypeError(bad) : err;
  }
  // After the JSON text: a cycle is reported as such, not as nesting.
  const deep = nestingPast(value, MAX_CARRIED_NESTING_DEPTH);
  if (deep !== undefined) {
    throw new TypeError(nestingMessage("the value", deep, MAX_CARRIED_NESTING_DEPTH));
  }
  const bad = notJson(value);
  if (bad !== undefined) throw new TypeError(bad);
  if (json === undefined) throw new TypeError("the value has no JSON form");
  return json;
}

function describe(op: unknown): string {
  if (typeof op === "object" && op !== null && "op" in op) {
    const o = op as { op: unknown; key?: unknown; uid?: unknown };
    const what = typeof o.op === "string" ? o.op : "?";
    if (typeof o.key === "string") return `${what} ${o.key}`;
    if (typeof o.uid === "string") return `${what} ${o.uid}`;
    return what;
  }
  return typeof op;
}

function encodeOne(op: StoreOp): EncodedOp | EncodedOp[] {
  // The checks are for callers that bypass the types (data from the wire, JS).
  const o = op as { op: unknown } & Record<string, unknown>;
  switch (o.op) {
    case "set":
    case "delete": {
      const key = o.key;
      if (typeof key !== "string" || !DOC_KEY_SET.has(key)) {
        throw new TypeError(`unknown document key ${JSON.stringify(key) ?? String(key)}`);
      }
      return o.op === "set"
        ? { op: "set", key: key as DocKey, json: toJson(o.value) }
        : { op: "delete", key: key as DocKey };
    }
    case "history_push":
      return { op: "history_push", json: toJson(o.item) };
    case "history_trim": {
      const keep = o.keep;
      if (typeof keep !== "number" || !Number.isSafeInteger(keep) || keep < 0) {
        throw new TypeError(`keep must be an integer >= 0, not ${String(keep)}`);
      }
      return { op: "history_trim", keep };
    }
    case "result_put":
    case "result_delete": {
      const uid = checkUid(o.uid);
      if (o.op === "result_delete") return { op: "result_delete", uid };
      const expiresAt = o.expiresAt;
      if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
        throw new TypeError(`expiresAt must be a finite number, not ${String(expiresAt)}`);
      }
      if (o.result === undefined) throw new TypeError("the result is undefined, not JSON");
      return { op: "result_put", uid, json: toJson({ expiresAt, result: o.result }) };
    }
    case "run_put": {
      const uid = checkUid(o.uid);
      const run = o.run;
      if (typeof run !== "object" || run === null || Array.isArray(run)) {
        throw new TypeError("the run must be an object");
      }
      return { op: "run_put", uid, json: toJson(run) };
    }
    case "run_outcomes": {
      const uid = checkUid(o.uid);
      const outcomes = o.outcomes;
      if (typeof outcomes !== "string" || !/^[df-]*$/.test(outcomes)) {
        throw new TypeError('outcomes must be a string of "d", "f" and "-"');
      }
      return { op: "run_outcomes", uid, outcomes };
    }
    case "run_delete":
      return { op: "run_delete", uid: checkUid(o.uid) };
    case "schedule_put": {
      const uid = checkUid(o.uid);
      const schedule = o.schedule;
      if (typeof schedule !== "object" || schedule === null || Array.isArray(schedule)) {
        throw new TypeError("the schedule must be an object");
      }
      return { op: "schedule_put", uid, json: toJson(schedule) };
    }
    case "schedule_delete":
      return { op: "schedule_delete", uid: checkUid(o.uid) };
    case "idem_put": {
      const key = checkUid(o.key);
      const record = o.record;
      if (typeof record !== "object" || record === null || Array.isArray(record)) {
        throw new TypeError("the idempotency record must be an object");
      }
      return { op: "idem_put", key, json: toJson(record) };
    }
    case "idem_delete":
      return { op: "idem_delete", key: checkUid(o.key) };
    case "start_put": {
      if (!Array.isArray(o.marks)) throw new TypeError("marks must be an array");
      return (o.marks as unknown[]).map((m, i) => {
        const { uid, mark } = (m ?? {}) as { uid?: unknown; mark?: unknown };
        if (typeof mark !== "object" || mark === null || Array.isArray(mark)) {
          throw new TypeError(`the start mark ${i} must be an object`);
        }
        return { op: "start_put", uid: checkUid(uid), json: toJson(mark) };
      });
    }
    case "start_delete":
      return { op: "start_delete", uid: checkUid(o.uid) };
    default:
      throw new TypeError("unknown operation");
  }
}

function checkUid(uid: unknown): string {
  if (typeof uid !== "string" || uid === "") {
    throw new TypeError("uid must be a non-empty string");
  }
  if (uid.includes("\0")) throw new TypeError("uid must not contain NUL");
  // Three UTF-8 bytes at most per UTF-16 unit: a short uid needs no count.
  if (uid.length * 3 > MAX_UID_BYTES && Buffer.byteLength(uid, "utf8") > MAX_UID_BYTES) {
    throw new TypeError(`uid is longer than ${MAX_UID_BYTES} bytes`);
  }
  return uid;
}

/**
 * Check and encode every operation, before anything is written. Throws a
 * StoreError naming the first bad operation (its index and kind), the store
 * and the cause.
 */
export function encodeOps(ops: readonly StoreOp[], location: string): EncodedOp[] {
  if (!Array.isArray(ops)) throw new StoreError(`Cannot write to ${location}: ops is not an array`);
  const out: EncodedOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as StoreOp;
    try {
      const e = encodeOne(op);
      if (Array.isArray(e)) out.push(...e);
      else out.push(e);
    } catch (err) {
      const cause = err instanceof Error ? err.message : String(err);
      throw new StoreError(
        `Cannot write to ${location}: operation ${i} (${describe(op)}) is invalid: ${cause}`,
        { cause: err },
      );
    }
  }
  return out;
}

/** Decode a stored result record (`{ expiresAt, result }`). */
export function decodeResult(
  uid: string,
  json: string,
  where: string,
): { uid: string; result: unknown; expiresAt: number } {
  const rec = parseJson(json, where) as { expiresAt?: unknown; result?: unknown } | null;
  if (typeof rec !== "object" || rec === null || typeof rec.expiresAt !== "number") {
    throw new StoreError(`The store at ${where} holds a malformed result record`);
  }
  return { uid, result: rec.result, expiresAt: rec.expiresAt };
}

/**
 * The stored runs from their definitions (JSON text by uid) and outcomes (by
 * uid): outcomes without a definition are left out.
 */
export function decodeRuns(
  defs: Iterable<[string, string]>,
  outcomes: ReadonlyMap<string, string>,
  where: (uid: string) => string,
): StoredRun[] {
  const runs: StoredRun[] = [];
  for (const [uid, json] of defs) {
    const run = parseJson(json, where(uid));
    const o = outcomes.get(uid);
    runs.push(o === undefined ? { uid, run } : { uid, run, outcomes: o });
  }
  return runs;
}

/** Entries of JSON text by key, each parsed (`where` names a bad one) and made into a T. */
function decodeEntries<T>(
  entries: Iterable<[string, string]>,
  where: (key: string) => string,
  make: (key: string, value: unknown) => T,
): T[] {
  const out: T[] = [];
  for (const [key, json] of entries) out.push(make(key, parseJson(json, where(key))));
  return out;
}

/** The remembered idempotent replies from their JSON text by key. */
export function decodeIdempotency(
  entries: Iterable<[string, string]>,
  where: (key: string) => string,
): { key: string; record: unknown }[] {
  return decodeEntries(entries, where, (key, record) => ({ key, record }));
}

/** The stored start marks from their JSON text by task uid. */
export function decodeStarts(
  entries: Iterable<[string, string]>,
  where: (uid: string) => string,
): StoredStart[] {
  return decodeEntries(entries, where, (uid, mark) => ({ uid, mark }));
}

/** The stored schedules from their JSON text by uid. */
export function decodeSchedules(
  entries: Iterable<[string, string]>,
  where: (uid: string) => string,
): StoredSchedule[] {
  return decodeEntries(entries, where, (uid, schedule) => ({ uid, schedule }));
}

export function parseJson(json: string, where: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new StoreError(
      `The store at ${where} holds data that is not JSON: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** The message of an unknown thrown value, with its code when it has one. */
export function causeOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" && !err.message.includes(code)
      ? `${code} ${err.message}`
      : err.message;
  }
  return String(err);
}
