/**
 * The manager's refusal: what a handler (or anything it calls) throws to say
 * "no" to a request. It lives apart from the dispatcher, which turns it into
 * a failure reply, so that an area can refuse without importing the
 * request path.
 */

/** Thrown by handlers: becomes a failure reply with the method's prefix and empty keys. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    message: string,
    /** Data keys that override the method's "empty" failure values. */
    readonly extras?: Record<string, unknown>,
    /** false: the message is sent without the method's error prefix. */
    readonly prefixed = true,
  ) {
    super(message);
  }
}
