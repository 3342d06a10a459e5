/**
 * Requests that ride on ambient credentials must come from the gateway's own
 * pages. A browser sends the dashboard's session cookie with any request to
 * this host, whatever page makes it: SameSite does not separate the ports of
 * one host (they are the same site), so a page on `http://HOST:8000` could
 * otherwise post to the queue or read the event streams as the logged-in user.
 *
 * A request without an `Authorization` header (the session cookie, or
 * nothing: anonymous) is checked:
 * - its `Origin`, when sent, must be the gateway's own (the host of the
 *   `Host` header) or one of `--allowed-origins`; without `Origin`, a
 *   `Sec-Fetch-Site` other than `same-origin`/`none` is refused. Every route
 *   and WebSocket upgrade is checked, except GETs of the dashboard's own page
 *   and files (a link from elsewhere may open the dashboard);
 * - a write (not GET/HEAD/OPTIONS) with the session cookie needs the
 *   session's CSRF token in `X-ZQS-CSRF` (the dashboard gets it from
 *   `GET /api/auth/whoami`). The token is derived from the session id with a
 *   key of this gateway, so a page that cannot read the gateway's replies
 *   cannot know it. It is never in a cookie: the cookies of a host are
 *   readable from pages of all its ports.
 * Requests with an `Authorization` header carry no ambient credential (a page
 * cannot add the header cross-origin without CORS, which only allowed origins
 * get) and are not checked.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { AuthError } from "./auth.js";
import type { Principal } from "./auth.js";
import { parseOrigin } from "./options.js";

export const CSRF_HEADER = "X-ZQS-CSRF";
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

function headerOf(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function hasAuthorization(req: FastifyRequest): boolean {
  return (headerOf(req, "authorization") ?? "").trim() !== "";
}

export class BrowserGuard {
  private readonly allowed: ReadonlySet<string>;
  private readonly key = randomBytes(32);

  constructor(allowedOrigins: readonly string[] = []) {
    this.allowed = new Set(allowedOrigins.map(parseOrigin));
  }

  /** The CSRF token of a session (the same for the session's life). */
  csrfToken(sessionId: string): string {
    return createHmac("sha256", this.key).update(sessionId, "utf8").digest("base64url");
  }

  private allowedOrigin(req: FastifyRequest): string | undefined {
    const origin = headerOf(req, "origin");
    return origin !== undefined && this.allowed.has(origin) ? origin : undefined;
  }

  /**
   * Throws AuthError(403) when a request without an Authorization header
   * comes from a page of another origin. `page`: a GET of the dashboard's
   * page or files, which any link may open.
   */
  checkOrigin(req: FastifyRequest, page: boolean): void {
    if (page || hasAuthorization(req)) return;
    const origin = headerOf(req, "origin");
    if (origin !== undefined) {
      if (this.allowed.has(origin) || this.isOwn(origin, req)) return;
      throw new AuthError(
        403,
        `Cross-origin request refused: Origin ${origin} is not this gateway's origin (allow it with --allowed-origins)`,
      );
    }
    const site = headerOf(req, "sec-fetch-site");
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      throw new AuthError(
        403,
        `Cross-origin request refused: Sec-Fetch-Site is '${site}' and no Origin was sent`,
      );
    }
  }

  /**
   * Why a `/?token=KEY` login must not happen, when it must not: a navigation
   * that another site's page started (a link or a script there) would log the
   * browser in with a key of that page's choosing, and whatever the user then
   * does lands in the other account (login CSRF). A link typed, bookmarked or
   * opened from outside the browser (`none`) and the login form itself
   * (`same-origin`) are fine; so is a client that sends no `Sec-Fetch-Site`.
   */
  loginRefusal(req: FastifyRequest): string | undefined {
    const site = headerOf(req, "sec-fetch-site");
    if (site === undefined || site === "same-origin" || site === "none") return undefined;
    return `Log-in link refused: it was opened from another site's page (Sec-Fetch-Site '${site}'). Open the link yourself, or give the key in this form.`;
  }

  private isOwn(origin: string, req: FastifyRequest): boolean {
    const host = headerOf(req, "host");
    if (host === undefined) return false;
    try {
      // The scheme is not compared: behind a TLS proxy the page is https, the gateway http.
      return new URL(origin).host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }

  /** Throws AuthError(403) when a write with the session cookie lacks the session's CSRF token. */
  checkCsrf(req: FastifyRequest, p: Principal): void {
    if (SAFE_METHODS.has(req.method) || hasAuthorization(req)) return;
    if (p.via !== "session" || p.sessionId === undefined) return;
    const given = headerOf(req, CSRF_HEADER.toLowerCase());
    if (given === undefined || given === "") {
      throw new AuthError(
        403,
        `CSRF token missing: a change made with the session cookie needs the ${CSRF_HEADER} header (its value is 'csrf_token' of GET /api/auth/whoami)`,
      );
    }
    const want = Buffer.from(this.csrfToken(p.sessionId));
    const got = Buffer.from(given);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new AuthError(
        403,
        `CSRF token wrong: the ${CSRF_HEADER} header is not this session's token (log in again if the session changed)`,
      );
    }
  }

  /**
   * CORS for the allowed origins (their pages may read the replies and send
   * the session cookie): the headers of every reply to them, and the answer to
   * a preflight. Other origins get no CORS headers, so their pages cannot read
   * a reply nor send a non-simple request.
   */
  cors(req: FastifyRequest, reply: FastifyReply): void {
    const origin = this.allowedOrigin(req);
    if (origin === undefined) return;
    void reply.header("Access-Control-Allow-Origin", origin);
    void reply.header("Access-Control-Allow-Credentials", "true");
    void reply.header("Vary", "Origin");
  }

  /** The answer to a CORS preflight (`OPTIONS`) of an allowed origin; 403 for others. */
  preflight(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (this.allowedOrigin(req) === undefined) {
      throw new AuthError(
        403,
        `Cross-origin request refused: Origin ${headerOf(req, "origin") ?? "(none)"} is not allowed (allow it with --allowed-origins)`,
      );
    }
    return reply
      .code(204)
      .header("Access-Control-Allow-Methods", "GET, POST, DELETE")
      .header("Access-Control-Allow-Headers", `Content-Type, Authorization, ${CSRF_HEADER}`)
      .header("Access-Control-Max-Age", "600")
      .send();
  }
}
