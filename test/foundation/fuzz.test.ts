/**
 * Fuzz the control socket of a real `auto` manager (so both the JSON and the
 * msgpack decoder are fed): random bytes, truncated and mutated vector
 * requests, random method names, every method of the table with random
 * parameter values and random extra parameters, very deep nesting.
 *
 * Every message must get a one-frame reply, in the request's encoding, that
 * decodes to a map: the status map (status/ping only) or `{success: bool,
 * msg: str, ...}` that is not an internal error. Afterwards the manager still
 * answers `status` and its RSS stays under RSS_LIMIT_MB.
 *
 * Reproducible: the seed comes from ZQS_FUZZ_SEED (else random) and is printed.
 * Methods whose valid calls would stop the manager, fork processes or lock it
 * are only ever sent with an unsupported extra parameter (refused before
 * anything runs); every generated message is checked for that before sending.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  decode,
  detectEncoding,
  encode,
  isPlainObject,
  METHOD_NAMES,
  STATUS_KEYS,
  supportedParams,
  type MethodName,
  type WireEncoding,
} from "../../src/protocol/index.js";
import vectors from "../fixtures/vectors.json" with { type: "json" };
import { RawClient, rssMb, startManager, type RunningManager } from "../helpers/manager.js";

const MESSAGES = 10_000;
const SOCKETS = 8;
const RSS_LIMIT_MB = 300;
/** A failure guard: a message not answered within this long is a problem. */
const REPLY_TIMEOUT_MS = 30_000;

const SEED = process.env.ZQS_FUZZ_SEED
  ? Number(process.env.ZQS_FUZZ_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;

/** mulberry32: small, fast, good enough for fuzzing, and seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const chance = (p: number) => rand() < p;
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)] as T;
}

/** Valid calls of these would stop the manager, fork processes, lock it or start work. */
const GUARDED = new Set<string>([
  "manager_stop",
  "manager_kill",
  "function_execute",
  "script_upload",
  "queue_start",
  "queue_item_execute",
  "queue_autostart",
  "lock",
  ...METHOD_NAMES.filter((n) => n.startsWith("environment_") || n.startsWith("run_")),
]);

// ---- random values ------------------------------------------------------------

const CHARS = [
  ..."abcdefghijklmnopqrstuvwxyz_0123456789",
  ..."'\"\\{}[]:,. -\n\t\u0000\u001f",
  "é",
  "☃",
  "😀",
  "\u2028",
];

function randString(max = 16): string {
  let s = "";
  const n = int(max + 1);
  for (let i = 0; i < n; i++) s += pick(CHARS);
  return s;
}

function uuid(): string {
  const h = () => int(16).toString(16);
  const part = (n: number) => Array.from({ length: n }, h).join("");
  return `${part(8)}-${part(4)}-4${part(3)}-a${part(3)}-${part(12)}`;
}

function randValue(depth = 0): unknown {
  const k = int(depth > 2 ? 8 : 10);
  switch (k) {
    case 0:
      return null;
    case 1:
      return chance(0.5);
    case 2:
      return int(200) - 100;
    case 3:
      return pick([0, -1, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e300, 1e-7, 0.5, -0.0]);
    case 4:
      return rand() * 1e6 - 5e5;
    case 5:
    case 6:
      return randString();
    case 7:
      return uuid();
    case 8:
      return Array.from({ length: int(5) }, () => randValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = int(5);
      for (let i = 0; i < n; i++)
        o[chance(0.7) ? randString(8) : pick(["name", "item_type", "args", "kwargs"])] = randValue(
          depth + 1,
        );
      return o;
    }
  }
}

/** A value of a plausible type for a parameter name (reaches handlers more often). */
function plausible(param: string): unknown {
  switch (param) {
    case "task_uid":
      return chance(0.5) ? uuid() : Array.from({ length: int(4) }, uuid);
    case "uid":
    case "before_uid":
    case "after_uid":
    case "item_uid":
    case "run_uid":
      return uuid();
    case "uids":
      return Array.from({ length: int(4) }, uuid);
    case "pos":
    case "pos_dest":
      return chance(0.5) ? int(10) - 5 : pick(["front", "back", "middle"]);
    case "item":
    case "function":
      return {
        item_type: pick(["plan", "function", "instruction", "bogus"]),
        name: pick(["count", "function_sleep", "no_such", randString(6)]),
        ...(chance(0.5) ? { args: Array.from({ length: int(3) }, () => randValue(2)) } : {}),
        ...(chance(0.5) ? { kwargs: { [randString(4)]: randValue(2) } } : {}),
      };
    case "items":
      return Array.from({ length: int(3) }, () => plausible("item"));
    case "user":
      return pick(["fuzz", "", randString(6)]);
    case "user_group":
      return pick(["primary", "root", "test_user", "admin", randString(6)]);
    case "option":
      return pick([
        "deferred",
        "immediate",
        "active",
        "open",
        "closed",
        "safe_on",
        "safe_off",
        randString(5),
      ]);
    case "mode":
      return chance(0.3)
        ? "default"
        : { loop: chance(0.5), ignore_failures: chance(0.5), [randString(3)]: 1 };
    case "size":
    case "count":
    case "concurrency":
    case "max_retries":
    case "priority":
      return int(20) - 5;
    case "timeout":
    case "expires":
    case "retry_backoff":
      return rand() * 10 - 2;
    case "user_group_permissions":
      return {
        user_groups: {
          ...(chance(0.8)
            ? { root: { allowed_plans: [null], forbidden_plans: [pick([":^_", "x", null])] } }
            : {}),
          [pick(["primary", randString(5)])]: {
            [pick(["allowed_functions", "forbidden_devices", "allowed_plans", randString(5)])]:
              chance(0.2)
                ? randValue(1)
                : [pick([":.*", ":^f", ":(", ":?.*:depth=2", null, "name"])],
          },
        },
      };
    case "lock_key":
    case "note":
    case "script":
    case "test_name":
      return randString(12);
    case "after":
      return Array.from({ length: int(3) }, uuid);
    default:
      return chance(0.5);
  }
}

// ---- messages -------------------------------------------------------------------

interface Msg {
  kind: string;
  bytes: Buffer;
}

function encodeAs(value: unknown): Buffer {
  return encode(value, chance(0.5) ? "json" : "msgpack");
}

const vectorRequests: Buffer[] = (
  vectors as unknown as { request: unknown; request_bytes_hex?: string }[]
).map((c) =>
  c.request !== null
    ? Buffer.from(JSON.stringify(c.request))
    : Buffer.from(c.request_bytes_hex ?? "", "hex"),
);
const vectorValues: unknown[] = (vectors as unknown as { request: unknown }[])
  .map((c) => c.request)
  .filter((r) => r !== null);

function mutate(src: Buffer): Buffer {
  let b = Buffer.from(src);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = int(b.length + 1);
    switch (int(6)) {
      case 0: // truncate
        b = b.subarray(0, at);
        break;
      case 1: // flip a byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = int(256);
        break;
      case 2: // insert random bytes
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + int(4) }, () => int(256))),
          b.subarray(at),
        ]);
        break;
      case 3: // insert a JSON-ish token
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(pick(["{", "}", "[", "]", '"', ",", ":", "null", "\\u0000", "1e999"])),
          b.subarray(at),
        ]);
        break;
      case 4: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]);
        break;
      default: // duplicate a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(int(b.length + 1)), b.subarray(at)]);
    }
  }
  return b;
}

function randomParamsFor(name: MethodName): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const p of supportedParams(name)) {
    if (chance(0.4)) continue;
    params[p] = chance(0.5) ? plausible(p) : randValue();
  }
  if (chance(0.25)) {
    const n = 1 + int(3);
    for (let i = 0; i < n; i++) params[pick(["foo", "bar", "id", randString(6)])] = randValue(1);
  }
  return params;
}

let methodCursor = 0;
function generate(): Msg {
  const k = int(100);
  if (k < 12) {
    const n = chance(0.02) ? int(64 * 1024) : int(300);
    const b = Buffer.from(Array.from({ length: n }, () => int(256)));
    if (b.length > 0 && chance(0.5)) b[0] = pick([0x7b, 0x80 + int(16), 0xde, 0xdf]);
    return { kind: "random bytes", bytes: b };
  }
  if (k < 32) return { kind: "mutated vector (JSON)", bytes: mutate(pick(vectorRequests)) };
  if (k < 42)
    return {
      kind: "mutated vector (msgpack)",
      bytes: mutate(encode(pick(vectorValues), "msgpack")),
    };
  if (k < 52) {
    const real = pick(METHOD_NAMES) as string;
    const name = chance(0.5) ? randString(24) : real.slice(0, int(real.length)) + randString(2);
    const req: Record<string, unknown> = { method: name };
    if (chance(0.7)) req.params = chance(0.8) ? { [randString(5)]: randValue() } : randValue();
    return { kind: "random method", bytes: encodeAs(req) };
  }
  if (k < 56) {
    // Envelope oddities: extra keys, odd method types, params of every type.
    const req: Record<string, unknown> = {};
    if (chance(0.7)) req.method = chance(0.5) ? pick(METHOD_NAMES) : randValue();
    if (chance(0.7)) req.params = randValue();
    if (chance(0.5)) req[pick(["id", "jsonrpc", "Method", randString(4)])] = randValue(2);
    return { kind: "envelope", bytes: encodeAs(req) };
  }
  if (k < 58) {
    // Very deep nesting, where a recursive repr or validator could overflow the stack.
    const depth = 1000 + int(50_000);
    const deep = "[".repeat(depth) + "]".repeat(depth);
    const text = pick([
      `{"params": ${deep}}`,
      `{"method": ${deep}}`,
      `{"method": "task_status", "params": {"task_uid": ${deep}}}`,
      `{"method": "queue_get", "params": {"x": ${deep}}}`,
      deep,
    ]);
    return { kind: "deep nesting", bytes: Buffer.from(text) };
  }
  // Every method of the table in turn, with random parameter values.
  const name = METHOD_NAMES[methodCursor++ % METHOD_NAMES.length] as MethodName;
  const params = randomParamsFor(name);
  const req = chance(0.05) ? { method: name } : { method: name, params };
  return { kind: `method ${name}`, bytes: encodeAs(req) };
}

/**
 * The safety net: if a message decodes (as the manager will decode it) to a
 * call of a guarded method whose params are a map, give it an unsupported
 * extra parameter so that it is refused before anything runs.
 */
function defang(msg: Msg): Msg {
  let enc: WireEncoding;
  let v: unknown;
  try {
    enc = detectEncoding(msg.bytes);
    v = decode(msg.bytes, enc);
  } catch {
    return msg;
  }
  if (!isPlainObject(v) || typeof v.method !== "string" || !GUARDED.has(v.method)) return msg;
  const params = v.params === undefined ? {} : v.params;
  if (!isPlainObject(params)) return msg;
  const req = { method: v.method, params: { ...params, zz_fuzz_guard: 1 } };
  return { kind: `${msg.kind} (guarded)`, bytes: encode(req, enc) };
}

// ---- the test -------------------------------------------------------------------

let m: RunningManager;
beforeAll(async () => {
  m = await startManager({ examples: false, encoding: "auto" });
});
afterAll(async () => {
  await m?.stop();
});

function isMsgpackMap(b: Buffer): boolean {
  const x = b[0] ?? 0;
  return (x >= 0x80 && x <= 0x8f) || x === 0xde || x === 0xdf;
}

/** How the replies went (printed, so a run shows what it reached). */
const outcomes = new Map<string, number>();
const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

/** What is wrong with a reply, or undefined. */
function checkReply(msg: Msg, reply: Buffer): string | undefined {
  const enc = detectEncoding(msg.bytes);
  if (enc === "json" && reply[0] !== 0x7b)
    return `expected a JSON reply, got 0x${reply.toString("hex", 0, 4)}`;
  if (enc === "msgpack" && !isMsgpackMap(reply))
    return `expected a msgpack reply, got 0x${reply.toString("hex", 0, 4)}`;
  let r: unknown;
  try {
    r = decode(reply, enc);
  } catch (err) {
    return `reply does not decode: ${(err as Error).message}`;
  }
  if (!isPlainObject(r)) return "reply is not a map";
  if (!("success" in r)) {
    const keys = Object.keys(r);
    if (keys.join() !== STATUS_KEYS.join())
      return `reply without success is not the status: ${keys.join()}`;
    count("status");
    return undefined;
  }
  if (typeof r.success !== "boolean") return "success is not a boolean";
  if (typeof r.msg !== "string") return "msg is not a string";
  if (r.msg.includes("Internal error")) return `internal error: ${r.msg.slice(0, 300)}`;
  if (r.success) count("success");
  else if (r.msg.includes("not implemented yet")) count("not implemented");
  else if (r.msg.includes("unsupported parameters")) count("unsupported parameters");
  else if (r.msg.startsWith("Failed to decode")) count("undecodable");
  else count("other refusal");
  return undefined;
}

it(
  `answers ${MESSAGES} fuzzed messages and keeps serving (seed ${SEED})`,
  { timeout: 300_000 },
  async () => {
    console.log(`fuzz seed ${SEED} (replay with ZQS_FUZZ_SEED=${SEED})`);
    const msgs: Msg[] = [];
    for (let i = 0; i < MESSAGES; i++) msgs.push(defang(generate()));
    // Every method of the table at least once (the round-robin above guarantees more).
    const kinds = new Map<string, number>();
    for (const x of msgs)
      kinds.set(
        x.kind.split(" (")[0] as string,
        (kinds.get(x.kind.split(" (")[0] as string) ?? 0) + 1,
      );
    for (const name of METHOD_NAMES)
      expect(kinds.get(`method ${name}`) ?? 0, name).toBeGreaterThan(0);

    // zeromq.js times receives with libuv timers, which count from the loop's
    // cached clock; after seconds of synchronous generation that clock is stale
    // and a fresh timeout would expire at once (seen on a busy machine: each
    // socket's first request "not answered"). A Node timer brings the clock up
    // to date (setImmediate does not: its turn reads no clock).
    await new Promise((r) => setTimeout(r, 0));
    const rssBefore = rssMb(m.proc.pid as number);
    const problems: string[] = [];
    let answered = 0;
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      let c = new RawClient(m.controlAddr, { timeoutMs: REPLY_TIMEOUT_MS });
      try {
        for (;;) {
          const i = next++;
          const msg = msgs[i];
          if (!msg) return;
          let reply: Buffer;
          try {
            reply = await c.sendRaw(msg.bytes);
          } catch (err) {
            problems.push(
              `#${i} ${msg.kind}: no reply (${(err as Error).message}) to ${msg.bytes.toString("hex", 0, 120)}`,
            );
            c.close();
            c = new RawClient(m.controlAddr, { timeoutMs: REPLY_TIMEOUT_MS });
            continue;
          }
          answered++;
          const bad = checkReply(msg, reply);
          if (bad)
            problems.push(
              `#${i} ${msg.kind}: ${bad}; request ${msg.bytes.toString("hex", 0, 120)}`,
            );
        }
      } finally {
        c.close();
      }
    };
    await Promise.all(Array.from({ length: SOCKETS }, worker));
    const ms = Date.now() - started;
    const rssAfter = rssMb(m.proc.pid as number);
    console.log(
      `fuzz: ${answered}/${MESSAGES} answered in ${ms} ms; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB; ` +
        [...kinds]
          .filter(([k]) => !k.startsWith("method "))
          .map(([k, n]) => `${k}: ${n}`)
          .join(", "),
    );
    console.log(`fuzz replies: ${[...outcomes].map(([k, n]) => `${k}: ${n}`).join(", ")}`);

    expect(problems.slice(0, 20)).toEqual([]);
    expect(answered).toBe(MESSAGES);

    const c = new RawClient(m.controlAddr, { timeoutMs: REPLY_TIMEOUT_MS });
    try {
      const s = await c.request("status");
      expect(Object.keys(s)).toEqual(STATUS_KEYS);
      expect(s.manager_state).toBe("idle");
      expect(s.worker_environment_exists).toBe(false);
      expect(s.lock).toEqual({ environment: false, queue: false });
    } finally {
      c.close();
    }
    expect(m.proc.exitCode).toBeNull();
    expect(rssAfter).toBeLessThan(RSS_LIMIT_MB);
    // No handler crashed or replied outside its schema (logged as internal errors).
    expect(m.output()).not.toMatch(/Internal error in|Request failed unexpectedly/);
  },
);
