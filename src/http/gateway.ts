/**
 * The HTTP gateway: Fastify in front of a manager. Every method of the
 * protocol table is a route (routes.ts); the gateway authenticates the caller
 * (auth.ts), checks the route's scope and the body's parameters (params.ts),
 * sends the method as the caller's user and group (manager-link.ts) and
 * answers the manager's reply map as JSON. A 4xx/5xx carries
 * `{"detail": "..."}`; a manager that does not answer in time is a 408. Streams
 * (console, info, events) come from the info socket (events.ts); `/metrics`
 * from metrics.ts; the dashboard folder is served at `/`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import fastifyCookie from "@fastify/cookie";
import fastifyWebsocket from "@fastify/websocket";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import Fastify from "fastify";
import { keyInfo } from "./api-keys.js";
import type { Principal, Auth } from "./auth.js";
import { AuthError, SESSION_COOKIE } from "./auth.js";
import { DEFAULT_DASHBOARD_DIR, dashboardFile, loginPage } from "./dashboard.js";
import type { EventHubOptions } from "./events.js";
import { EventHub } from "./events.js";
import type { ManagerBackend, Reply } from "./manager-link.js";
import { ManagerUnavailableError } from "./manager-link.js";
import { HttpError } from "./http-error.js";
import { registerJsonBody } from "./json-body.js";
import { GatewayMetrics } from "./metrics.js";
import { DEFAULT_API_KEY_MAX_LIFETIME } from "./options.js";
import { BrowserGuard } from "./origin.js";
import { bodyParams, getParams, idempotencyKeyOf, paramFits, routeParams } from "./params.js";
import type { Scope } from "./routes.js";
import { METHOD_ROUTES, SCOPES } from "./routes.js";
import { StreamCredentials } from "./stream-credentials.js";
import { DEFAULT_STREAM_BUFFER } from "./stream-buffer.js";
import type { StreamSocket, WsStreamKind } from "./streams.js";
import { serveSse, serveWebSocket } from "./streams.js";

export { HttpError };

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The scope the route needs; `key`: any authenticated caller; `none`: open. */
    scope?: Scope | "key" | "none";
    /** The method (or gateway route) name: the metrics label. */
    name?: string;
  }
}

export interface GatewayOptions {
  backend: ManagerBackend;
  auth: Auth;
  /** The dashboard folder served at `/` (default: the package's `dashboard/`). */
  dashboardDir?: string;
  /** Largest request body in bytes (default 16 MiB, as the manager's message limit). */
  bodyLimit?: number;
  /** Unsent bytes kept per stream client before its events are dropped (`--stream-buffer`). */
  streamBuffer?: number;
  /** The console output kept for pollers (`--console-keep`, `--console-keep-bytes`). */
  console?: EventHubOptions;
  /** Other origins whose pages may use the session cookie (default: none). */
  allowedOrigins?: readonly string[];
  /** The longest `expires_in` of a key created over HTTP, in seconds (default: a year). */
  apiKeyMaxLifetime?: number;
}

function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new AuthError(401, "Not authenticated");
  return req.principal;
}

export class Gateway {
  readonly app: FastifyInstance;
  readonly events: EventHub;
  readonly metrics = new GatewayMetrics();
  private readonly sse = new Set<ServerResponse>();
  private readonly browser: BrowserGuard;
  /** The open streams with the credential each was opened with. */
  readonly streams: StreamCredentials;

  constructor(private readonly opts: GatewayOptions) {
    this.events = new EventHub(opts.backend, opts.console);
    this.metrics.countStreams(() => this.events.subscribers);
    this.browser = new BrowserGuard(opts.allowedOrigins);
    this.streams = new StreamCredentials(opts.auth);
    this.app = Fastify({
      bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024,
      forceCloseConnections: true,
      logger: false,
    });
    this.build();
  }

  get auth(): Auth {
    return this.opts.auth;
  }

  private build(): void {
    const app = this.app;
    const auth = this.opts.auth;
    // The Python client sends parameters as a JSON body on GET as well.
    app.addHttpMethod("GET", { hasBody: true, overrideExisting: true });
    registerJsonBody(app);
    void app.register(fastifyCookie);
    void app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });
    app.decorateRequest("principal", null);

    app.addHook("onRequest", async (req, reply) => {
      const scope = req.routeOptions.config.scope ?? "none";
      // Cross-origin pages: see origin.ts. The dashboard's page and files may be opened by any link.
      this.browser.cors(req, reply);
      this.browser.checkOrigin(req, scope === "none" && req.method === "GET");
      if (scope === "none") return;
      const p = auth.authenticate(req.headers.authorization, req.cookies[SESSION_COOKIE]);
      req.principal = p;
      this.browser.checkCsrf(req, p);
      if (scope !== "key") auth.require(p, scope, `'${req.routeOptions.config.name ?? req.url}'`);
      else if (p.via === "anonymous") {
        throw new AuthError(401, "Not authenticated: this route needs an API key or a session");
      }
    });
    app.addHook("onResponse", async (req, reply) => {
      const name = req.routeOptions.config.name;
      if (name) this.metrics.observe(name, reply.statusCode, reply.elapsedTime / 1000);
    });
    app.addHook("preClose", async () => {
      this.streams.clear();
      for (const res of this.sse) res.end();
      this.sse.clear();
    });

    app.setErrorHandler(async (err: unknown, _req, reply) => {
      let status = 500;
      let detail = err instanceof Error ? err.message : String(err);
      if (err instanceof AuthError || err instanceof HttpError) status = err.status;
      else if (err instanceof ManagerUnavailableError) status = 408;
      else {
        const sc = (err as { statusCode?: unknown }).statusCode;
        if (typeof sc === "number" && sc >= 400 && sc < 600) status = sc;
      }
      if (status === 500) detail = `Internal error of the gateway: ${detail}`;
      if (status === 401) void reply.header("WWW-Authenticate", 'ApiKey realm="zqs"');
      return reply.code(status).send({ detail });
    });
    app.setNotFoundHandler(async (req, reply) =>
      reply.code(404).send({ detail: `Not Found: ${req.method} ${req.url.split("?")[0]}` }),
    );

    void app.register(async (scoped) => {
      this.methodRoutes(scoped);
      this.streamRoutes(scoped);
      this.authRoutes(scoped);
      this.ownRoutes(scoped);
    });
  }

  /** One route per method of the table. */
  private methodRoutes(app: FastifyInstance): void {
    const backend = this.opts.backend;
    for (const r of METHOD_ROUTES) {
      app.route({
        method: r.verb,
        url: r.path,
        config: { scope: r.scope, name: r.method },
        handler: async (req) => {
          const p = principalOf(req);
          const given =
            r.verb === "GET"
              ? getParams(req.body, req.query, (name, v) => paramFits(r.method, name, v))
              : req.body;
          return backend.call(
            r.method,
            routeParams(r.method, given),
            { user: p.user, userGroup: p.userGroup },
            { idempotencyKey: idempotencyKeyOf(req.headers["idempotency-key"]) },
          );
        },
      });
    }
  }

  private streamRoutes(app: FastifyInstance): void {
    const events = this.events;
    app.get(
      "/api/console_output_update",
      { config: { scope: "read", name: "console_output_update" } },
      async (req) => {
        const b = getParams(req.body, req.query, (name) => name === "last_msg_uid");
        const last = b.last_msg_uid ?? "";
        if (typeof last !== "string") throw new HttpError(400, "'last_msg_uid' must be a string");
        const r = events.consoleAfter(last);
        return {
          success: true,
          msg: "",
          console_output_msgs: r.msgs.map((m) => ({ time: m.time, msg: m.msg })),
          last_msg_uid: r.lastUid,
        };
      },
    );
    app.get(
      "/api/console_output",
      { config: { scope: "read", name: "console_output" } },
      async (req) => {
        const b = getParams(req.body, req.query);
        const n = b.nlines;
        if (n !== undefined && (typeof n !== "number" || !Number.isInteger(n) || n < 0)) {
          throw new HttpError(400, "'nlines' must be a non-negative integer");
        }
        return { success: true, msg: "", text: events.consoleText(n) };
      },
    );
    app.get(
      "/api/console_output/uid",
      { config: { scope: "read", name: "console_output_uid" } },
      async () => ({ success: true, msg: "", console_output_uid: events.consoleLastUid }),
    );
    const limit = this.opts.streamBuffer ?? DEFAULT_STREAM_BUFFER;
    const wsOf =
      (kind: WsStreamKind) =>
      (
        socket: StreamSocket & { close(code: number, reason: string): void },
        req: FastifyRequest,
      ) => {
        serveWebSocket(events, socket, kind, limit);
        // 1008: policy violation (the credential no longer holds).
        const forget = this.streams.track(principalOf(req), (why) => socket.close(1008, why));
        socket.on("close", forget);
        socket.on("error", forget);
      };
    app.get(
      "/api/info/ws",
      { websocket: true, config: { scope: "read", name: "info_ws" } },
      wsOf("info"),
    );
    app.get(
      "/api/console_output/ws",
      { websocket: true, config: { scope: "read", name: "console_output_ws" } },
      wsOf("console"),
    );
    app.route({
      method: "GET",
      url: "/api/events",
      config: { scope: "read", name: "events" },
      handler: (req, reply) => this.sseEvents(req, reply),
      wsHandler: wsOf("events"),
    });
  }

  /** `/api/events` as Server-Sent Events (streams.ts), bounded per client. */
  private sseEvents(req: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    const res: ServerResponse<IncomingMessage> = reply.raw;
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    const off = serveSse(this.events, res, this.opts.streamBuffer ?? DEFAULT_STREAM_BUFFER);
    this.sse.add(res);
    // The credential no longer holds: a last `closed` event with the reason, and the end.
    const forget = this.streams.track(principalOf(req), (why) => {
      res.end(`event: closed\ndata: ${JSON.stringify({ detail: why })}\n\n`);
    });
    req.raw.on("close", () => {
      off();
      forget();
      this.sse.delete(res);
    });
  }

  private authRoutes(app: FastifyInstance): void {
    const auth = this.opts.auth;
    const keys = auth.keys;
    const key = (name: string) => ({ config: { scope: "key" as const, name } });
    app.post("/api/auth/apikey", key("apikey_new"), async (req) => {
      const p = principalOf(req);
      const b = bodyParams(req.body);
      const expiresIn = b.expires_in;
      if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0) {
        throw new HttpError(400, "'expires_in' (seconds, a positive number) is required");
      }
      const longest = this.opts.apiKeyMaxLifetime ?? DEFAULT_API_KEY_MAX_LIFETIME;
      if (expiresIn > longest) {
        throw new HttpError(
          400,
          `'expires_in' ${expiresIn} is more than the longest key lifetime, ${longest} s (--api-key-max-lifetime)`,
        );
      }
      const own = [...p.scopes];
      let scopes: Scope[] = own;
      if (b.scopes !== undefined) {
        if (
          !Array.isArray(b.scopes) ||
          !b.scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))
        ) {
          throw new HttpError(400, `'scopes' must be a list of ${SCOPES.join(", ")}`);
        }
        scopes = b.scopes as Scope[];
        const extra = scopes.filter((s) => !p.scopes.has(s));
        if (extra.length > 0) {
          throw new AuthError(
            403,
            `Not enough permissions: a new key cannot have scopes the caller lacks (${extra.join(", ")})`,
          );
        }
      }
      if (b.note !== undefined && b.note !== null && typeof b.note !== "string") {
        throw new HttpError(400, "'note' must be a string");
      }
      const created = keys.create({
        user: p.user,
        userGroup: p.userGroup,
        scopes,
        expiresIn,
        ...(typeof b.note === "string" ? { note: b.note } : {}),
      });
      return { success: true, msg: "", secret: created.secret, ...keyInfo(created.record) };
    });
    app.get("/api/auth/apikey", key("apikey_info"), async (req) => {
      const p = principalOf(req);
      const current = p.keyHash ? keys.get(p.keyHash) : undefined;
      return {
        success: true,
        msg: "",
        ...(current ? keyInfo(current) : {}),
        api_keys: keys.listFor(p.user).map((k) => keyInfo(k.record)),
      };
    });
    app.delete("/api/auth/apikey", key("apikey_delete"), async (req) => {
      const p = principalOf(req);
      const q = req.query as Record<string, unknown>;
      const b = bodyParams(req.body);
      const firstEight = q.first_eight ?? b.first_eight;
      if (typeof firstEight !== "string" || firstEight === "") {
        throw new HttpError(400, "Give the key to delete as ?first_eight=...");
      }
      if (!keys.deleteFor(p.user, firstEight)) {
        throw new HttpError(404, `No API key of user '${p.user}' begins with '${firstEight}'`);
      }
      this.streams.sweep();
      return { success: true, msg: "" };
    });
    app.get("/api/auth/whoami", key("whoami"), async (req) => {
      const p = principalOf(req);
      return {
        success: true,
        msg: "",
        user: p.user,
        user_group: p.userGroup,
        scopes: [...p.scopes],
        auth: p.via,
        identities: [{ id: p.user, provider: "zqs" }],
        // For a session: the token its changes carry in X-ZQS-CSRF (origin.ts).
        ...(p.sessionId ? { csrf_token: this.browser.csrfToken(p.sessionId) } : {}),
      };
    });
    app.get("/api/auth/scopes", key("api_scopes"), async (req) => {
      const p = principalOf(req);
      return { success: true, msg: "", scopes: [...p.scopes], roles: [p.userGroup] };
    });
    app.post("/api/auth/session/refresh", key("session_refresh"), async (req) => {
      const p = principalOf(req);
      if (!p.keyHash) throw new AuthError(401, "No key or session to refresh");
      if (p.sessionId) auth.endSession(p.sessionId);
      const token = auth.newSession(p.keyHash);
      this.streams.sweep();
      return {
        success: true,
        msg: "",
        access_token: token,
        token_type: "bearer",
      };
    });
    app.post(
      "/api/auth/logout",
      { config: { scope: "none", name: "logout" } },
      async (req, reply) => {
        const h = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
        if (h?.[1]) auth.endSession(h[1]);
        const c = req.cookies[SESSION_COOKIE];
        if (c) auth.endSession(c);
        this.streams.sweep();
        void reply.clearCookie(SESSION_COOKIE, { path: "/" });
        return { success: true, msg: "" };
      },
    );
  }

  private ownRoutes(app: FastifyInstance): void {
    const auth = this.opts.auth;
    const dir = this.opts.dashboardDir ?? DEFAULT_DASHBOARD_DIR;
    app.get("/metrics", { config: { scope: "read", name: "metrics" } }, async (_req, reply) => {
      const ask = async (method: "status" | "metrics"): Promise<Reply | undefined> => {
        try {
          return await this.opts.backend.call(method, {}, { user: "", userGroup: "" });
        } catch (err) {
          if (err instanceof ManagerUnavailableError) return undefined;
          throw err;
        }
      };
      const status = await ask("status");
      this.metrics.setStatus(status);
      this.metrics.setManagerMetrics(status ? await ask("metrics") : undefined);
      return reply.type(this.metrics.contentType).send(await this.metrics.text());
    });
    // CORS preflights of the allowed origins (origin.ts).
    app.options("/*", { config: { scope: "none" } }, async (req, reply) =>
      this.browser.preflight(req, reply),
    );
    // The dashboard: `/?token=KEY` logs in (HttpOnly cookie) and redirects to `/`.
    app.get("/", { config: { scope: "none" } }, async (req, reply) => {
      const token = (req.query as Record<string, unknown>).token;
      if (typeof token === "string" && token !== "") {
        const refused = this.browser.loginRefusal(req);
        if (refused !== undefined) {
          return reply.code(403).type("text/html; charset=utf-8").send(loginPage(refused));
        }
        const found = auth.keys.lookup(token);
        if (!found.ok) {
          const why = found.reason === "expired" ? "The API key has expired" : "Invalid API key";
          return reply.code(401).type("text/html; charset=utf-8").send(loginPage(why));
        }
        void reply.setCookie(SESSION_COOKIE, auth.newSession(found.hash), {
          httpOnly: true,
          sameSite: "strict",
          path: "/",
        });
        return reply.redirect("/", 302);
      }
      let p: Principal | undefined;
      try {
        p = auth.authenticate(req.headers.authorization, req.cookies[SESSION_COOKIE]);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
      }
      if (!p) return reply.type("text/html; charset=utf-8").send(loginPage());
      const f = await dashboardFile(dir, "/index.html");
      if (!f) throw new HttpError(404, `No index.html in the dashboard folder ${dir}`);
      return reply.type(f.type).header("Cache-Control", "no-store").send(f.body);
    });
    // The dashboard's other files (scripts, styles) are open: they hold no data.
    app.get("/*", { config: { scope: "none" } }, async (req, reply) => {
      const f = await dashboardFile(dir, req.url);
      if (!f) throw new HttpError(404, `Not Found: GET ${req.url.split("?")[0]}`);
      return reply.type(f.type).send(f.body);
    });
  }

  /** Listen on host:port (port 0: any free port); resolves with the bound address. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await this.app.listen({ host, port });
    const a = this.app.server.address();
    if (a === null || typeof a === "string") return { host, port };
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    await this.app.close();
    this.events.close();
    await this.opts.backend.close();
  }
}
