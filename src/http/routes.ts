/**
 * The gateway's routes, as data: one route per method of the protocol table
 * (its `http` field: verb and path) and the few HTTP-only routes (auth,
 * streams, metrics). The gateway registers these; `npm run docs` lists them in
 * README. Nothing here is written per method: the scope each route needs comes
 * from its verb and area.
 */
import type { HttpVerb, MethodName } from "../protocol/index.js";
import { METHOD_NAMES, methods } from "../protocol/index.js";

/** What a key may do: `read` (GET routes), `write` (changes), `admin` (the manager, permissions, keys of others). */
export type Scope = "read" | "write" | "admin";
export const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/** A scope and those it implies (`admin` ⊃ `write` ⊃ `read`). */
export function impliedScopes(scopes: Iterable<Scope>): Set<Scope> {
  const out = new Set<Scope>();
  for (const s of scopes) {
    const i = SCOPES.indexOf(s);
    for (let j = 0; j <= i; j++) out.add(SCOPES[j] as Scope);
  }
  return out;
}

export interface MethodRoute {
  method: MethodName;
  verb: HttpVerb;
  path: string;
  scope: Scope;
}

/** Methods that need `admin` although they are not GET (besides the `manager` area). */
const ADMIN_METHODS: ReadonlySet<MethodName> = new Set<MethodName>([
  "permissions_set",
  "permissions_reload",
]);

export function scopeOf(method: MethodName, verb: HttpVerb): Scope {
  if (methods[method].area === "manager" || ADMIN_METHODS.has(method)) return "admin";
  return verb === "GET" ? "read" : "write";
}

function parseRoute(method: MethodName): MethodRoute {
  const [verb, path] = methods[method].http.split(" ") as [HttpVerb, string];
  return { method, verb, path, scope: scopeOf(method, verb) };
}

/** Every method's route, in table order. */
export const METHOD_ROUTES: readonly MethodRoute[] = METHOD_NAMES.map(parseRoute);

/** The routes of the gateway itself (not methods of the manager). */
export interface OwnRoute {
  name: string;
  verb: HttpVerb | "WS" | "GET (SSE or WebSocket)";
  path: string;
  /** `none`: open to anyone; otherwise the scope it needs. */
  scope: Scope | "none" | "key";
  summary: string;
}

export const OWN_ROUTES: readonly OwnRoute[] = [
  {
    name: "console_output_update",
    verb: "GET",
    path: "/api/console_output_update",
    scope: "read",
    summary: 'Console messages after `last_msg_uid` (body `{"last_msg_uid": ""}` for all kept).',
  },
  {
    name: "console_output",
    verb: "GET",
    path: "/api/console_output",
    scope: "read",
    summary: "The kept console output as one text (`nlines` in the body: the last lines only).",
  },
  {
    name: "console_output_uid",
    verb: "GET",
    path: "/api/console_output/uid",
    scope: "read",
    summary: "The uid of the last console message.",
  },
  {
    name: "console_output_ws",
    verb: "WS",
    path: "/api/console_output/ws",
    scope: "read",
    summary: 'Console messages as they come (`{"time", "msg"}` per frame).',
  },
  {
    name: "info_ws",
    verb: "WS",
    path: "/api/info/ws",
    scope: "read",
    summary: 'The manager\'s status as published (`{"time", "msg": {"status"}}` per frame).',
  },
  {
    name: "events",
    verb: "GET (SSE or WebSocket)",
    path: "/api/events",
    scope: "read",
    summary: "`status`, `task` (QS_Task) and `console` events for browsers.",
  },
  {
    name: "apikey_new",
    verb: "POST",
    path: "/api/auth/apikey",
    scope: "key",
    summary:
      'A new API key for the caller\'s user and group: body `{"expires_in": s, "scopes"?, "note"?}` → `secret` (shown once), `first_eight`.',
  },
  {
    name: "apikey_info",
    verb: "GET",
    path: "/api/auth/apikey",
    scope: "key",
    summary: "The key in use and the user's keys (never their secrets).",
  },
  {
    name: "apikey_delete",
    verb: "DELETE",
    path: "/api/auth/apikey",
    scope: "key",
    summary: "Delete a key of the user (`?first_eight=...`).",
  },
  {
    name: "whoami",
    verb: "GET",
    path: "/api/auth/whoami",
    scope: "key",
    summary: "The user, group and scopes of the caller.",
  },
  {
    name: "api_scopes",
    verb: "GET",
    path: "/api/auth/scopes",
    scope: "key",
    summary: "The scopes and roles (group) of the caller.",
  },
  {
    name: "session_refresh",
    verb: "POST",
    path: "/api/auth/session/refresh",
    scope: "key",
    summary: "A new session token for the caller (`access_token`, usable as `Bearer`).",
  },
  {
    name: "logout",
    verb: "POST",
    path: "/api/auth/logout",
    scope: "none",
    summary: "End the session (the cookie or the Bearer session token).",
  },
  {
    name: "metrics",
    verb: "GET",
    path: "/metrics",
    scope: "read",
    summary: "Prometheus metrics (text format).",
  },
  {
    name: "dashboard",
    verb: "GET",
    path: "/",
    scope: "none",
    summary: "The dashboard (`/?token=KEY` logs in with a session cookie; otherwise a form asks).",
  },
];
