/**
 * One request, one way: bytes → codec → envelope → method table → handler →
 * codec → bytes. Nothing here knows about sockets; every path ends in a reply.
 *
 * A reply that says a request failed means nothing changed. Handlers commit a
 * change (to the store, then live) before they build their reply, so the
 * reply must not be able to fail after the commit. What makes it so:
 *  - a request nested deeper than MAX_NESTING_DEPTH is refused by the decoder,
 *    before any handler runs; the worker holds a function's return value and
 *    outputs to the same limit (src/worker/wire-value.ts);
 *  - a reply wraps the values it carries (which came from such requests or
 *    from the worker) in at most NESTING_ALLOWANCE levels of its own, and the
 *    codecs encode anything that deep (test/protocol/limits.test.ts);
 *  - the commit itself refuses what a reply could not carry: the store
 *    encodes every value it is given as JSON text before anything is written
 *    (a value too large for a JSON string fails there), and refuses one nested
 *    deeper than MAX_CARRIED_NESTING_DEPTH, so such a change fails unmade.
 * Should a success reply still fail to encode (a bug), the failure reply says
 * that the request was carried out, and the error is logged.
 */
import type {
  Encoding,
  MethodName,
  ParamsOut,
  ReplyOf,
  WireEncoding,
} from "../../protocol/index.js";
import {
  checkEnvelope,
  checkParams,
  decode,
  DecodeError,
  detectEncoding,
  encode,
  failureExtras,
  isMethodName,
  lockFailure,
  MAX_NESTING_DEPTH,
  methodFailure,
  methods,
  unknownMethodReply,
} from "../../protocol/index.js";
import type { Reply } from "../../protocol/index.js";
import { TRACE_TASKS, traceNow } from "../../protocol/task-trace.js";
import { RequestError } from "../errors.js";
import { changesState } from "./idempotency.js";

export interface RequestContext {
  /** The encoding the reply will be written in. */
  encoding: WireEncoding;
  /** When the request reached the dispatcher (a trace mark; only with ZQS_TRACE_TASKS=1). */
  receivedAt?: number;
  /**
   * A request made inside the manager (`Dispatcher.call`: a schedule's fire)
   * names the uid its new task or queue item gets, chosen and written down before.
   */
  chosenUid?: string;
}

export type Handler<M extends MethodName> = (
  params: ParamsOut<M>,
  ctx: RequestContext,
) => ReplyOf<M> | Promise<ReplyOf<M>>;

export type Handlers = { [M in MethodName]?: Handler<M> };

export interface DispatchHooks {
  handlers: Handlers;
  /** Checks the lock for methods that need one; returns a message when refused. */
  checkLock?: (method: MethodName, params: Record<string, unknown>) => string | undefined;
  /** Fast path for status/ping: already encoded bytes. */
  statusBytes: (enc: WireEncoding) => Buffer;
  /** Called when a handler throws something that is not a RequestError. */
  onInternalError: (method: string, err: unknown) => void;
  /** Validate replies against their schema (tests turn this on). */
  checkReplies?: boolean;
  /** Told how long each handled request took (metrics); not status/ping. */
  observe?: (method: MethodName, seconds: number) => void;
  /**
   * Every method but status and ping gets this reply instead of being handled
   * (a standby manager), when it returns one.
   */
  refuse?: (method: MethodName) => Reply | undefined;
  /** Requests with an `idempotency_key` (see idempotency.ts). */
  idempotency?: {
    handle(key: string, method: string, run: () => Promise<Reply>): Promise<Reply>;
  };
}

/** Distinct request bytes remembered as `status`/`ping` requests (clients repeat theirs). */
const STATUS_MEMO_SIZE = 256;

export class Dispatcher {
  /** Bytes of requests that were `status` or `ping`: answered again without decoding. */
  private readonly statusRequests = new Set<string>();

  constructor(
    private readonly encoding: Encoding,
    private readonly maxMessageSize: number,
    private readonly hooks: DispatchHooks,
  ) {}

  /** The encoding a request's reply is written in (`auto`: the request's own). */
  replyEncoding(body: Uint8Array): WireEncoding {
    return this.encoding === "auto" ? detectEncoding(body) : this.encoding;
  }

  /** Bytes in, reply bytes out (sync where the handler is sync). */
  handle(body: Uint8Array): Buffer | Promise<Buffer> {
    const receivedAt = TRACE_TASKS ? traceNow() : undefined;
    const enc = this.replyEncoding(body);
    const memoKey =
      body.length <= 128
        ? Buffer.from(body.buffer, body.byteOffset, body.length).toString("latin1")
        : undefined;
    if (memoKey !== undefined && this.statusRequests.has(memoKey))
      return this.hooks.statusBytes(enc);
    if (body.length > this.maxMessageSize) {
      return encode(
        {
          success: false,
          msg: `Request is too large: ${body.length} bytes (the limit is ${this.maxMessageSize} bytes)`,
        },
        enc,
      );
    }
    let decoded: unknown;
    try {
      decoded = decode(body, enc, { maxDepth: MAX_NESTING_DEPTH });
    } catch (err) {
      const detail = err instanceof DecodeError ? err.message : String(err);
      return encode({ success: false, msg: `Failed to decode the request: ${detail}` }, enc);
    }
    const env = checkEnvelope(decoded);
    if (!env.ok) return encode(env.reply, enc);
    if (!isMethodName(env.method)) return encode(unknownMethodReply(env.method), enc);
    const name = env.method;
    if (name === "status" || name === "ping") {
      // Their params are ignored, so the same bytes are always the same request.
      if (memoKey !== undefined && this.statusRequests.size < STATUS_MEMO_SIZE) {
        this.statusRequests.add(memoKey);
      }
      return this.hooks.statusBytes(enc);
    }
    const refused = this.hooks.refuse?.(name);
    if (refused) return encode(refused, enc);
    const idem = this.hooks.idempotency;
    if (env.idempotencyKey !== undefined && idem && changesState(name)) {
      const ctx: RequestContext = { encoding: enc };
      return idem
        .handle(env.idempotencyKey, name, () => this.replyOf(name, env.params, ctx))
        .then((reply) => this.encodeReply(name, reply, enc));
    }

    const checkLock = this.hooks.checkLock;
    const checked = checkParams(
      name,
      env.params,
      methods[name].lock === "none" || !checkLock
        ? undefined
        : (raw) => {
            const refused = checkLock(name, raw);
            return refused === undefined ? undefined : lockFailure(name, refused);
          },
    );
    if (!checked.ok) return this.encodeReply(name, checked.reply, enc);
    const params = checked.params as Record<string, unknown>;

    const handler = this.hooks.handlers[name] as Handler<MethodName> | undefined;
    if (!handler) {
      return encode(
        methodFailure(name, `Method '${name}' is not implemented yet in this version of zqs`),
        enc,
      );
    }
    const ctx: RequestContext =
      receivedAt === undefined ? { encoding: enc } : { encoding: enc, receivedAt };
    const observe = this.hooks.observe;
    const t0 = observe ? performance.now() : 0;
    const timed = (b: Buffer): Buffer => {
      observe?.(name, (performance.now() - t0) / 1000);
      return b;
    };
    try {
      const out = handler(checked.params, ctx);
      if (out instanceof Promise) {
        return out.then(
          (reply) => timed(this.finish(name, reply as Reply, enc)),
          (err: unknown) => timed(this.failure(name, params, err, enc)),
        );
      }
      return timed(this.finish(name, out, enc));
    } catch (err) {
      return timed(this.failure(name, params, err, enc));
    }
  }

  /**
   * The reply to a request as an object (a failure as its failure reply):
   * the same checks and handler as `handle`, for a request whose reply is
   * remembered (idempotency).
   */
  private async replyOf(name: MethodName, raw: unknown, ctx: RequestContext): Promise<Reply> {
    const checkLock = this.hooks.checkLock;
    const checked = checkParams(
      name,
      raw,
      methods[name].lock === "none" || !checkLock
        ? undefined
        : (p) => {
            const refused = checkLock(name, p);
            return refused === undefined ? undefined : lockFailure(name, refused);
          },
    );
    if (!checked.ok) return checked.reply;
    const params = checked.params as Record<string, unknown>;
    const handler = this.hooks.handlers[name] as Handler<MethodName> | undefined;
    if (!handler) {
      return methodFailure(name, `Method '${name}' is not implemented yet in this version of zqs`);
    }
    const observe = this.hooks.observe;
    const t0 = observe ? performance.now() : 0;
    try {
      const reply = (await handler(checked.params, ctx)) as Reply;
      if (this.hooks.checkReplies) this.checkReply(name, reply);
      return reply;
    } catch (err) {
      return this.failureReply(name, params, err);
    } finally {
      observe?.(name, (performance.now() - t0) / 1000);
    }
  }

  /**
   * A request made inside the manager (a schedule's fire, as the schedule's
   * owner): the same parameter, lock and handler checks as one from a
   * socket, with its reply as an object (a failure as `success: false`).
   */
  async call(
    name: MethodName,
    params: Record<string, unknown>,
    chosenUid?: string,
  ): Promise<{ success: boolean; msg: string }> {
    const checkLock = this.hooks.checkLock;
    const checked = checkParams(
      name,
      params,
      methods[name].lock === "none" || !checkLock
        ? undefined
        : (raw) => {
            const refused = checkLock(name, raw);
            return refused === undefined ? undefined : lockFailure(name, refused);
          },
    );
    if (!checked.ok) return checked.reply as { success: boolean; msg: string };
    const handler = this.hooks.handlers[name] as Handler<MethodName> | undefined;
    if (!handler) return { success: false, msg: `Method '${name}' is not served` };
    const ctx: RequestContext = { encoding: "json", ...(chosenUid ? { chosenUid } : {}) };
    try {
      return (await handler(checked.params, ctx)) as { success: boolean; msg: string };
    } catch (err) {
      if (err instanceof RequestError) {
        const reply = methodFailure(name, err.message, params, err.extras);
        return { success: false, msg: err.prefixed ? String(reply.msg) : err.message };
      }
      this.hooks.onInternalError(name, err);
      return {
        success: false,
        msg: `Internal error: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  private finish(name: MethodName, reply: Reply, enc: WireEncoding): Buffer {
    if (this.hooks.checkReplies) this.checkReply(name, reply);
    return this.encodeReply(name, reply, enc);
  }

  private checkReply(name: MethodName, reply: Reply): void {
    const r = methods[name].reply.safeParse(reply);
    if (!r.success) {
      this.hooks.onInternalError(
        name,
        new Error(`reply does not match its schema: ${r.error.message}`),
      );
    }
  }

  /**
   * Encode a method's reply. A failure that echoes a request value the codec
   * cannot write is sent without the echo, with the method's "empty" keys
   * instead; a success reply that cannot be encoded is a handler bug, reported
   * as an internal error that does not claim nothing changed.
   */
  private encodeReply(name: MethodName, reply: Reply, enc: WireEncoding): Buffer {
    try {
      return encode(reply, enc);
    } catch (err) {
      if (reply.success === false) {
        return encode(
          { success: false, msg: String(reply.msg), ...failureExtras(name, undefined) },
          enc,
        );
      }
      this.hooks.onInternalError(name, err);
      const msg = err instanceof Error ? err.message : String(err);
      return encode(
        methodFailure(
          name,
          `Internal error: the request was carried out, but its reply cannot be encoded: ${msg}`,
        ),
        enc,
      );
    }
  }

  private failure(
    name: MethodName,
    params: Record<string, unknown>,
    err: unknown,
    enc: WireEncoding,
  ): Buffer {
    return this.encodeReply(name, this.failureReply(name, params, err), enc);
  }

  /** The failure reply to a handler's throw (an internal error is logged). */
  private failureReply(name: MethodName, params: Record<string, unknown>, err: unknown): Reply {
    if (err instanceof RequestError) {
      const reply = methodFailure(name, err.message, params, err.extras);
      if (!err.prefixed) reply.msg = err.message;
      return reply;
    }
    this.hooks.onInternalError(name, err);
    const msg = err instanceof Error ? err.message : String(err);
    return methodFailure(name, `Internal error: ${msg}`, params);
  }
}
