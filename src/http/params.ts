/**
 * What the gateway checks of a request body before anything reaches the
 * manager, as the Python gateway does: a 400 `{"detail"}` for a body that is
 * not JSON, nests too deep or is not a map, and for parameters the method does
 * not take, of the wrong type or missing, judged by the method's parameter
 * schema in the protocol table (the one the manager uses). What only the
 * manager can judge (locked, busy, not allowed, not found) stays its own
 * `success: false` reply, answered with 200.
 */
import { IDEMPOTENCY_KEY_MAX } from "../client/managers.js";
import type { MethodName } from "../protocol/index.js";
import {
  checkParams,
  MAX_NESTING_DEPTH,
  methods,
  nestingMessage,
  nestingPast,
  supportedParams,
  unsupportedParamsMessage,
} from "../protocol/index.js";
import type { ZodType } from "zod";
import { HttpError } from "./http-error.js";

/**
 * The deepest a body may nest lists and maps, the body's own map being level
 * 1: the manager's limit less the level of the request that carries the body
 * as its `params`.
 */
export const BODY_MAX_DEPTH = MAX_NESTING_DEPTH - 1;

/** A request body as JSON (`undefined` when empty), refused past BODY_MAX_DEPTH levels. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    // V8's JSON.parse does not recurse: any depth parses; the check below walks without recursion.
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `The request body is not valid JSON: ${(err as Error).message}`);
  }
  const where = nestingPast(value, BODY_MAX_DEPTH);
  if (where !== undefined) {
    throw new HttpError(400, nestingMessage("The request body", where, BODY_MAX_DEPTH));
  }
  return value;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The JSON body as parameters: none (or empty) is `{}`; anything but a map is a 400. */
export function bodyParams(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || body === "") return {};
  if (!isMap(body)) {
    throw new HttpError(400, "The request body must be a JSON object (the method's parameters)");
  }
  return body;
}

/**
 * A GET route's parameters from its URL's query string (a browser's fetch
 * cannot send a body with GET): `?state=failed&state=running&limit=50`. A
 * value is taken as text when the method's schema for it takes text, else as
 * JSON (`limit=50` is the number 50, `after=["a"]` a list); a repeated name is
 * a list. `schema` tells whether a value fits; without it every value is
 * tried as JSON first (the gateway's own routes).
 */
export function queryParams(
  query: unknown,
  fits?: (name: string, value: unknown) => boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isMap(query)) return out;
  const one = (name: string, text: string): unknown => {
    if (fits?.(name, text)) return text;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  };
  for (const [name, value] of Object.entries(query)) {
    if (Array.isArray(value)) {
      const all = value.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
      out[name] = fits?.(name, all) ? all : all.map((v) => one(name, v));
    } else if (typeof value === "string") out[name] = one(name, value);
  }
  return out;
}

/**
 * A GET route's parameters: its JSON body (the Python client's way) and its
 * query string (a browser's), together; a parameter given both ways is a 400.
 */
export function getParams(
  body: unknown,
  query: unknown,
  fits?: (name: string, value: unknown) => boolean,
): Record<string, unknown> {
  const fromBody = bodyParams(body);
  const fromQuery = queryParams(query, fits);
  for (const k of Object.keys(fromQuery)) {
    if (Object.hasOwn(fromBody, k)) {
      throw new HttpError(400, `'${k}' is given both in the query string and in the body`);
    }
  }
  return { ...fromBody, ...fromQuery };
}

/** Whether `value` fits the schema of `method`'s parameter `name` as it is (text or a list of texts). */
export function paramFits(method: MethodName, name: string, value: unknown): boolean {
  const schema = (methods[method].params as Record<string, ZodType | undefined>)[name];
  return schema !== undefined && schema.safeParse(value).success;
}

/**
 * The parameters the gateway fills in with the caller's identity, whatever the
 * body says: `user` and `user_group` where the method takes them, except a
 * `user` that selects (tasks_list's filter).
 */
export function callerParams(method: MethodName): ("user" | "user_group")[] {
  const supported = supportedParams(method);
  const out: ("user" | "user_group")[] = [];
  if (supported.includes("user") && methods[method].userIsFilter !== true) out.push("user");
  if (supported.includes("user_group")) out.push("user_group");
  return out;
}

/** The manager's message without the method's error prefix: the detail is about the request. */
function detailOf(method: MethodName, msg: unknown): string {
  const text = String(msg);
  const prefix = methods[method].errorPrefix;
  return prefix !== "" && text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

/**
 * A method's parameters from a route's body, checked against the method's
 * schema as the manager will check them; an HttpError(400) naming the
 * parameter otherwise. The parameters the gateway fills in (callerParams) are
 * not the caller's to get wrong. `status` and `ping`, which the manager lets
 * take anything, take nothing here.
 */
export function routeParams(method: MethodName, body: unknown): Record<string, unknown> {
  const params = bodyParams(body);
  const unsupported = unsupportedParamsMessage(method, params);
  if (unsupported !== undefined) throw new HttpError(400, unsupported);
  const own = callerParams(method);
  const given = Object.fromEntries(
    Object.entries(params).filter(([k]) => !(own as string[]).includes(k)),
  );
  const checked = checkParams(method, given);
  if (!checked.ok) throw new HttpError(400, detailOf(method, checked.reply.msg));
  return params;
}

/**
 * The `Idempotency-Key` header, sent on as the request's `idempotency_key`
 * (a retried write is then applied once): absent, or 1..128 characters.
 */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header) || header.length < 1 || header.length > IDEMPOTENCY_KEY_MAX) {
    throw new HttpError(
      400,
      `The Idempotency-Key header must be given once, 1 to ${IDEMPOTENCY_KEY_MAX} characters`,
    );
  }
  return header;
}
