/**
 * Errors of the client. Every class has a stable `code` (for programs) and
 * may carry a `cause`. They are converted to and from plain data in one place
 * (`serializeError` / `deserializeError`) so that the blocking client can
 * rethrow in the caller's thread exactly what its I/O thread caught.
 */

export type ErrorCode =
  | "ERR_REQUEST"
  | "ERR_REQUEST_TIMEOUT"
  | "ERR_REQUEST_FAILED"
  | "ERR_REQUEST_PARAMETER"
  | "ERR_CLIENT_CLOSED"
  | "ERR_WAIT"
  | "ERR_WAIT_TIMEOUT"
  | "ERR_WAIT_CANCELLED";

/** A request as it went (or would have gone) on the wire. */
export interface WireRequest {
  method: string;
  params: Record<string, unknown>;
  /** Sent with state-changing requests when the client may retry them on another manager. */
  idempotency_key?: string;
}

export type WireReply = Record<string, unknown>;

/** Base class of the errors of a request: transport problems and bad replies. */
export class RequestError extends Error {
  override name = "RequestError";
  readonly code: ErrorCode = "ERR_REQUEST";
  /** The request, when the error belongs to one. */
  readonly request: WireRequest | undefined;
  constructor(message: string, opts: { request?: WireRequest; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.request = opts.request;
  }
}

/** No reply within the timeout (or the request could not be sent in time). */
export class RequestTimeoutError extends RequestError {
  override name = "RequestTimeoutError";
  override readonly code = "ERR_REQUEST_TIMEOUT";
  /** The timeout that ran out, in seconds. */
  readonly timeout: number;
  /** "send": the message could not be handed to a connection; "receive": no reply came. */
  readonly phase: "send" | "receive";
  constructor(
    message: string,
    opts: { request?: WireRequest; cause?: unknown; timeout: number; phase: "send" | "receive" },
  ) {
    super(message, opts);
    this.timeout = opts.timeout;
    this.phase = opts.phase;
  }
}

/** The server answered `success: false` (thrown when `requestFailExceptions` is on). */
export class RequestFailedError extends RequestError {
  override name = "RequestFailedError";
  override readonly code = "ERR_REQUEST_FAILED";
  /** The whole reply, as the server sent it. */
  readonly response: WireReply;
  constructor(request: WireRequest, response: WireReply, opts: { cause?: unknown } = {}) {
    const msg =
      typeof response.msg === "string" && response.msg !== "" ? response.msg : "Request failed";
    super(msg, { request, ...opts });
    this.response = response;
  }
}

/**
 * The parameters were refused before sending: the message is the one the
 * server would have sent (the same checks, from the same method table).
 */
export class RequestParameterError extends RequestError {
  override name = "RequestParameterError";
  override readonly code = "ERR_REQUEST_PARAMETER";
  /** The failure reply the server would have given. */
  readonly response: WireReply;
  constructor(request: WireRequest, response: WireReply, opts: { cause?: unknown } = {}) {
    super(typeof response.msg === "string" ? response.msg : "Invalid parameters", {
      request,
      ...opts,
    });
    this.response = response;
  }
}

/** The client was closed while the request was pending (or before it was made). */
export class ClientClosedError extends RequestError {
  override name = "ClientClosedError";
  override readonly code = "ERR_CLIENT_CLOSED";
}

/** Base class of the errors of the `waitFor...` helpers. */
export class WaitError extends Error {
  override name = "WaitError";
  readonly code: ErrorCode = "ERR_WAIT";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
  }
}

/** The condition did not come true within the wait's timeout. */
export class WaitTimeoutError extends WaitError {
  override name = "WaitTimeoutError";
  override readonly code = "ERR_WAIT_TIMEOUT";
}

/** The wait was cancelled (by its `WaitMonitor` or an `AbortSignal`). */
export class WaitCancelError extends WaitError {
  override name = "WaitCancelError";
  override readonly code = "ERR_WAIT_CANCELLED";
}

// ---- plain-data form ---------------------------------------------------------

export interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  request?: WireRequest | undefined;
  response?: WireReply | undefined;
  timeout?: number | undefined;
  phase?: "send" | "receive" | undefined;
  cause?: SerializedError | undefined;
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: "Error", message: String(err) };
  const out: SerializedError = { name: err.name, message: err.message, stack: err.stack };
  if (err instanceof RequestError) out.request = err.request;
  if (err instanceof RequestFailedError || err instanceof RequestParameterError) {
    out.response = err.response;
  }
  if (err instanceof RequestTimeoutError) {
    out.timeout = err.timeout;
    out.phase = err.phase;
  }
  if (err.cause !== undefined) out.cause = serializeError(err.cause);
  return out;
}

export function deserializeError(data: SerializedError): Error {
  const cause = data.cause ? deserializeError(data.cause) : undefined;
  const request = data.request;
  const response = data.response ?? {};
  let err: Error;
  switch (data.name) {
    case "RequestTimeoutError":
      err = new RequestTimeoutError(data.message, {
        request,
        cause,
        timeout: data.timeout ?? 0,
        phase: data.phase ?? "receive",
      });
      break;
    case "RequestFailedError":
      err = new RequestFailedError(request ?? { method: "", params: {} }, response, { cause });
      break;
    case "RequestParameterError":
      err = new RequestParameterError(request ?? { method: "", params: {} }, response, { cause });
      break;
    case "ClientClosedError":
      err = new ClientClosedError(data.message, { request, cause });
      break;
    case "RequestError":
      err = new RequestError(data.message, { request, cause });
      break;
    case "WaitTimeoutError":
      err = new WaitTimeoutError(data.message, { cause });
      break;
    case "WaitCancelError":
      err = new WaitCancelError(data.message, { cause });
      break;
    case "WaitError":
      err = new WaitError(data.message, { cause });
      break;
    default: {
      const ctor =
        data.name === "TypeError" ? TypeError : data.name === "RangeError" ? RangeError : Error;
      err = new ctor(data.message, cause === undefined ? undefined : { cause });
      if (ctor === Error && data.name !== "Error") err.name = data.name;
    }
  }
  err.message = data.message;
  // Keep the stack of the thread that failed, below the caller's own frames.
  if (data.stack)
    err.stack = `${err.stack ?? ""}\n    --- in the client's I/O thread ---\n${data.stack}`;
  return err;
}
