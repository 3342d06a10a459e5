/**
 * The request path shared by manager and client: the envelope rules and
 * parameter checks, each producing the Python server's message forms.
 */
import type { z } from "zod";
import type { MethodName, ParamsOut } from "./methods.js";
import {
  failureExtras,
  isMethodName,
  methods,
  nullMeansAbsent,
  paramsSchema,
  supportedParams,
} from "./methods.js";
import { isPlainObject, pyClass, pyNameOrList, pyRepr, pyTuple, pyTypeName } from "./pyrepr.js";

/** The top-level keys of a request the Python server takes (and names when it refuses others). */
export const ALLOWED_TOP_LEVEL_KEYS = ["method", "params"] as const;
/** zqs also takes `idempotency_key` (see manager/rpc/idempotency.ts); not named in the refusal. */
const TOP_LEVEL_KEYS: readonly string[] = [...ALLOWED_TOP_LEVEL_KEYS, "idempotency_key"];

/** Longest `idempotency_key` a request may carry (characters). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

export type Reply = Record<string, unknown>;

export type EnvelopeResult =
  | { ok: true; method: string; params: unknown; idempotencyKey?: string }
  | { ok: false; reply: Reply };

function fail(msg: string): { ok: false; reply: Reply } {
  return { ok: false, reply: { success: false, msg } };
}

/** Check the top level of a decoded request: a map with `method` and optional `params`. */
export function checkEnvelope(decoded: unknown): EnvelopeResult {
  if (typeof decoded === "string") return fail(`Failed to decode the request: ${decoded}`);
  // Only a plain map: a msgpack bin (Buffer) or timestamp (Date) is an object
  // too, and listing a 16 MiB Buffer's indices as "keys" would exhaust memory.
  if (!isPlainObject(decoded)) {
    return fail(`Incorrect request type: ${pyClass(decoded)}. Dictionary is expected`);
  }
  const req = decoded;
  const extra = Object.keys(req).filter((k) => !TOP_LEVEL_KEYS.includes(k));
  if (extra.length > 0) {
    return fail(
      `Request contains unexpected keys ${pyRepr(extra)}. Allowed keys: ${pyTuple(ALLOWED_TOP_LEVEL_KEYS)}`,
    );
  }
  if (!("method" in req) || req.method === undefined || req.method === null) {
    return fail(`Invalid request format: method is not specified: ${pyRepr(req)}`);
  }
  if (typeof req.method !== "string") {
    return fail(
      `Invalid request format: method must be a string, got ${pyClass(req.method)}: ${pyRepr(req)}`,
    );
  }
  const params = "params" in req ? req.params : {};
  if (!("idempotency_key" in req)) return { ok: true, method: req.method, params };
  const key = req.idempotency_key;
  if (typeof key !== "string" || key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return fail(
      `Invalid request format: idempotency_key must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${pyClass(key)}${typeof key === "string" ? ` of ${key.length} characters` : ""}`,
    );
  }
  return { ok: true, method: req.method, params, idempotencyKey: key };
}

export function unknownMethodReply(name: string): Reply {
  return { success: false, msg: `Unknown method ${pyRepr(name)}` };
}

/** A failure reply of a method: prefix + message + its "empty" data keys. */
export function methodFailure(
  name: MethodName,
  msg: string,
  params?: Record<string, unknown>,
  extras?: Record<string, unknown>,
): Reply {
  return {
    success: false,
    msg: methods[name].errorPrefix + msg,
    ...failureExtras(name, params),
    ...extras,
  };
}

/**
 * The reply refusing a method for its lock: the method's lock prefix, else
 * its error prefix, else "Error: " (the Python server's words for each).
 */
export function lockFailure(name: MethodName, refused: string): Reply {
  const d: { errorPrefix: string; lockErrorPrefix?: string } = methods[name];
  const prefix = d.lockErrorPrefix ?? (d.errorPrefix === "" ? "Error: " : d.errorPrefix);
  return { ...methodFailure(name, ""), msg: prefix + refused };
}

/** Error map for parameter schemas: the server's message forms, path named. */
export function paramIssueMessage(iss: z.core.$ZodRawIssue): string | undefined {
  const name = iss.path && iss.path.length > 0 ? iss.path.join(".") : "params";
  // A custom check that names the type it expects (mapSchema) reads as a type error.
  const expected =
    iss.code === "invalid_type"
      ? iss.expected
      : iss.code === "custom" && typeof iss.params?.expected === "string"
        ? iss.params.expected
        : undefined;
  if (expected !== undefined) {
    if (iss.input === undefined) return `Required '${name}' parameter is missing in the API call.`;
    return `Parameter '${name}' must be of type ${expected}, got ${pyClass(iss.input)}: ${pyRepr(iss.input)}`;
  }
  if (iss.code === "invalid_value") {
    return `Parameter '${name}' has an unsupported value ${pyRepr(iss.input)}. Supported values: ${pyTuple(iss.values)}`;
  }
  if (iss.code === "invalid_union") {
    return `Parameter '${name}' has a value of an unsupported type: ${pyClass(iss.input)}: ${pyRepr(iss.input)}`;
  }
  if (iss.code === "too_small" || iss.code === "too_big") {
    const rel =
      iss.code === "too_small" ? (iss.inclusive ? ">=" : ">") : iss.inclusive ? "<=" : "<";
    return `Parameter '${name}' must be ${rel} ${String(iss.code === "too_small" ? iss.minimum : iss.maximum)}, got ${pyRepr(iss.input)}`;
  }
  if (iss.code === "invalid_format" || iss.code === "not_multiple_of") {
    return `Parameter '${name}' is invalid: ${pyRepr(iss.input)}`;
  }
  return undefined;
}

/** The params without the `null`s that mean "not given" (the same object when there are none). */
function withoutAbsentNulls(
  name: MethodName,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const absent = nullMeansAbsent(name);
  let out = raw;
  for (const k of absent) {
    if (raw[k] !== null) continue;
    if (out === raw) out = { ...raw };
    delete out[k];
  }
  return out;
}

/** Each method's parameter names as a set (asked per request: looked up, not listed). */
const supportedSets = new Map<MethodName, ReadonlySet<string>>();

/** The refusal of the names in `raw` that the method does not take (undefined: none). */
export function unsupportedParamsMessage(
  name: MethodName,
  raw: Record<string, unknown>,
): string | undefined {
  let known = supportedSets.get(name);
  if (!known) supportedSets.set(name, (known = new Set(supportedParams(name))));
  const keys = Object.keys(raw);
  if (keys.every((k) => known.has(k))) return undefined;
  const supported = supportedParams(name);
  const unsupported = keys.filter((k) => !supported.includes(k));
  if (unsupported.length === 0) return undefined;
  return `API request contains unsupported parameters: ${pyNameOrList(unsupported)}. Supported parameters: ${pyRepr(supported)}`;
}

export type ParamsResult<M extends MethodName> =
  { ok: true; params: ParamsOut<M> } | { ok: false; reply: Reply };

/**
 * Unsupported names first (as the server does), then `between` (the lock
 * check: the Python server checks the lock before the parameters' types),
 * then types and required params. An optional parameter sent as `null` is
 * dropped before `between` and the types (`nullMeansAbsent`).
 */
export function checkParams<M extends MethodName>(
  name: M,
  raw: unknown,
  between?: (params: Record<string, unknown>) => Reply | undefined,
): ParamsResult<M> {
  const def = methods[name];
  if (def.ignoreParams) return { ok: true, params: {} as ParamsOut<M> };
  if (!isPlainObject(raw)) {
    return {
      ok: false,
      reply: methodFailure(name, `Parameters must be a map (dictionary), got ${pyClass(raw)}`),
    };
  }
  const unsupported = unsupportedParamsMessage(name, raw);
  if (unsupported !== undefined) return { ok: false, reply: methodFailure(name, unsupported) };
  const params = withoutAbsentNulls(name, raw);
  const refused = between?.(params);
  if (refused) return { ok: false, reply: refused };
  const parsed = paramsSchema(name).safeParse(params, { error: paramIssueMessage });
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const msg = first ? first.message : "Invalid parameters";
    return { ok: false, reply: methodFailure(name, msg, params) };
  }
  return { ok: true, params: parsed.data as ParamsOut<M> };
}

export { isMethodName, pyTypeName };
