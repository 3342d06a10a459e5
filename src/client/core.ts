/**
 * The one request builder and reply parser that both clients use: from a
 * client method's arguments to the wire request (defaults filled in, checked
 * with the server's own parameter checks), and from the wire reply to the
 * value returned or the error thrown.
 */
import type { MethodDef, MethodName, ReplyOf } from "../protocol/index.js";
import { checkParams, methods, supportedParams } from "../protocol/index.js";
import type { WireReply, WireRequest } from "./errors.js";
import { RequestError, RequestFailedError, RequestParameterError } from "./errors.js";
import { toWireValue } from "./items.js";
import type { CallOptions } from "./surface.js";
import { POSITIONAL } from "./surface.js";

/** What the client fills in for the methods that take these parameters. */
export interface RequestDefaults {
  user: string;
  userGroup: string;
  lockKey: string | null;
}

export interface BuiltRequest<M extends MethodName = MethodName> {
  method: M;
  wire: WireRequest;
  options: CallOptions;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Split a client method's arguments into params and per-call options. */
export function splitArgs(
  method: MethodName,
  args: readonly unknown[],
): { params: Record<string, unknown>; options: CallOptions } {
  const pos = (POSITIONAL as Partial<Record<MethodName, string>>)[method];
  let params: Record<string, unknown> = {};
  let options: unknown;
  if (pos !== undefined) {
    const [value, rest, opts] = args;
    if (rest !== undefined && !isMap(rest)) {
      throw new TypeError(`The parameters of '${method}' must be a map, got ${typeof rest}`);
    }
    params = { ...(rest ?? {}) };
    if (value !== undefined) params[pos] = value;
    options = opts;
  } else if (supportedParams(method).length === 0) {
    options = args[0];
  } else {
    const [rest, opts] = args;
    if (rest !== undefined && !isMap(rest)) {
      throw new TypeError(`The parameters of '${method}' must be a map, got ${typeof rest}`);
    }
    params = { ...(rest ?? {}) };
    options = opts;
  }
  if (options !== undefined && !isMap(options)) {
    throw new TypeError(`The call options of '${method}' must be a map, got ${typeof options}`);
  }
  return { params, options: options ?? {} };
}

/**
 * Build the wire request of a method from explicit params: fill in `user`,
 * `user_group` and `lock_key` (left out or `null`), turn item builders into maps, drop undefined
 * values, and check the params exactly as the server will (unsupported names,
 * types, required parameters), throwing `RequestParameterError` with the
 * server's message.
 */
export function buildRequest<M extends MethodName>(
  method: M,
  params: Record<string, unknown>,
  defaults: RequestDefaults,
): WireRequest {
  const supported = supportedParams(method);
  const p = toWireValue(params) as Record<string, unknown>;
  // `null` is "not given" (as on the server): the client's default fills it in.
  const def: MethodDef = methods[method];
  if (supported.includes("user") && p.user == null && def.userIsFilter !== true) {
    p.user = defaults.user;
  }
  if (supported.includes("user_group") && p.user_group == null) p.user_group = defaults.userGroup;
  if (supported.includes("lock_key") && p.lock_key == null && defaults.lockKey !== null) {
    p.lock_key = defaults.lockKey;
  }
  const wire: WireRequest = { method, params: p };
  const checked = checkParams(method, p);
  if (!checked.ok) throw new RequestParameterError(wire, checked.reply);
  return wire;
}

/** Build from a client method's arguments (positional value, params, options). */
export function buildFromArgs<M extends MethodName>(
  method: M,
  args: readonly unknown[],
  defaults: RequestDefaults,
): BuiltRequest<M> {
  const { params, options } = splitArgs(method, args);
  return { method, wire: buildRequest(method, params, defaults), options };
}

export interface ParseOptions {
  requestFailExceptions: boolean;
  checkReplies: boolean;
}

/**
 * Turn a decoded reply into the method's result: `success: false` throws
 * `RequestFailedError` (when asked to); with `checkReplies` a successful reply
 * is checked against the method's reply schema. The reply keeps the wire's
 * keys (the schema is only used to check, never to rewrite).
 */
export function parseReply<M extends MethodName>(
  method: M,
  request: WireRequest,
  reply: unknown,
  opts: ParseOptions,
): ReplyOf<M> {
  if (!isMap(reply)) {
    throw new RequestError(
      `Invalid reply to '${method}': expected a map, got ${JSON.stringify(reply)}`,
      {
        request,
      },
    );
  }
  const r = reply as WireReply;
  if (r.success === false) {
    if (opts.requestFailExceptions) throw new RequestFailedError(request, r);
    return r as ReplyOf<M>;
  }
  if (opts.checkReplies) {
    const parsed = methods[method].reply.safeParse(r);
    if (!parsed.success) {
      throw new RequestError(
        `The reply to '${method}' does not match its schema: ${parsed.error.message}`,
        { request },
      );
    }
  }
  return r as ReplyOf<M>;
}
