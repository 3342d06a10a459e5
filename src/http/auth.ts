/**
 * Who is calling: `Authorization: ApiKey KEY`, `Authorization: Bearer TOKEN`
 * (an API key or a session token), or the dashboard's session cookie; else
 * anonymous, allowed only with `--allow-anonymous read|write`. The principal's
 * user and group are what the gateway sends to the manager: a caller never
 * chooses them.
 */
import { randomBytes } from "node:crypto";
import type { ApiKeyStore } from "./api-keys.js";
import { hashKey } from "./api-keys.js";
import type { Scope } from "./routes.js";
import { impliedScopes } from "./routes.js";

export const SESSION_COOKIE = "zqs_session";
/** Sessions (the dashboard's cookie, Bearer session tokens) last this long without use. */
export const SESSION_IDLE_SECONDS = 12 * 3600;

export interface Principal {
  user: string;
  userGroup: string;
  /** Scopes with those they imply. */
  scopes: Set<Scope>;
  via: "apikey" | "session" | "anonymous";
  /** The hash of the API key used (directly or behind the session). */
  keyHash?: string;
  /** The session id, when the caller came with one. */
  sessionId?: string;
}

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
  }
}

export interface AuthOptions {
  /** Anonymous callers get this scope (`null`: anonymous access is off). */
  allowAnonymous: "read" | "write" | null;
  /** User and group of anonymous callers. */
  anonymousUser?: string;
  anonymousGroup?: string;
}

interface Session {
  keyHash: string;
  lastUsed: number;
}

export class Auth {
  private readonly sessions = new Map<string, Session>();

  constructor(
    readonly keys: ApiKeyStore,
    private readonly opts: AuthOptions,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  get anonymousAllowed(): boolean {
    return this.opts.allowAnonymous !== null;
  }

  /** A session for an API key (the `/?token=` login, session refresh). */
  newSession(keyHash: string): string {
    const id = randomBytes(32).toString("base64url");
    this.sessions.set(hashKey(id), { keyHash, lastUsed: this.now() });
    return id;
  }

  endSession(id: string): boolean {
    return this.sessions.delete(hashKey(id));
  }

  private fromKeyHash(
    keyHash: string,
    via: Principal["via"],
    extra: Partial<Principal> = {},
  ): Principal {
    const r = this.keys.get(keyHash);
    if (!r) throw new AuthError(401, "The API key of this session was deleted: log in again");
    if (r.expires !== undefined && r.expires <= this.now()) {
      throw new AuthError(401, "The API key has expired");
    }
    return {
      user: r.user,
      userGroup: r.user_group,
      scopes: impliedScopes(r.scopes),
      via,
      keyHash,
      ...extra,
    };
  }

  private fromSecret(secret: string): Principal {
    const found = this.keys.lookup(secret);
    if (!found.ok) {
      throw new AuthError(
        401,
        found.reason === "expired" ? "The API key has expired" : "Invalid API key",
      );
    }
    return this.fromKeyHash(found.hash, "apikey");
  }

  private fromSession(id: string): Principal | undefined {
    const s = this.sessions.get(hashKey(id));
    if (!s) return undefined;
    if (this.now() - s.lastUsed > SESSION_IDLE_SECONDS) {
      this.sessions.delete(hashKey(id));
      return undefined;
    }
    s.lastUsed = this.now();
    return this.fromKeyHash(s.keyHash, "session", { sessionId: id });
  }

  /**
   * The principal of a request, from its Authorization header or session
   * cookie; throws AuthError(401) for bad or missing credentials.
   */
  authenticate(authorization: string | undefined, cookie: string | undefined): Principal {
    if (authorization !== undefined && authorization.trim() !== "") {
      const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(authorization);
      const scheme = m?.[1]?.toLowerCase();
      const value = m?.[2] ?? "";
      if (scheme === "apikey") return this.fromSecret(value);
      if (scheme === "bearer") {
        return this.fromSession(value) ?? this.fromSecret(value);
      }
      throw new AuthError(
        401,
        "Unsupported Authorization header: use 'ApiKey KEY' or 'Bearer TOKEN'",
      );
    }
    if (cookie) {
      const p = this.fromSession(cookie);
      if (p) return p;
    }
    const anon = this.opts.allowAnonymous;
    if (anon !== null) {
      return {
        user: this.opts.anonymousUser ?? "anonymous",
        userGroup: this.opts.anonymousGroup ?? "primary",
        scopes: impliedScopes([anon]),
        via: "anonymous",
      };
    }
    throw new AuthError(
      401,
      "Not authenticated: send 'Authorization: ApiKey KEY' (or 'Bearer TOKEN'), or log in at /?token=KEY",
    );
  }

  /**
   * Why a principal's credential no longer holds (its session ended, its key
   * was deleted or has expired), or undefined while it does. Anonymous
   * callers have no credential to lose.
   */
  revoked(p: Principal): string | undefined {
    if (p.sessionId !== undefined && !this.sessions.has(hashKey(p.sessionId))) {
      return "The session has ended";
    }
    if (p.keyHash === undefined) return undefined;
    const r = this.keys.get(p.keyHash);
    if (!r) return "The API key was deleted";
    if (r.expires !== undefined && r.expires <= this.now()) return "The API key has expired";
    return undefined;
  }

  /** When the principal's key expires (epoch seconds), if it does. */
  expiresAt(p: Principal): number | undefined {
    return p.keyHash === undefined ? undefined : this.keys.get(p.keyHash)?.expires;
  }

  /** Throws AuthError(403) when the principal lacks the scope. */
  require(p: Principal, scope: Scope, what: string): void {
    if (p.scopes.has(scope)) return;
    const have = [...p.scopes].join(", ") || "none";
    throw new AuthError(
      p.via === "anonymous" ? 401 : 403,
      p.via === "anonymous"
        ? `Not authenticated: ${what} needs the '${scope}' scope and anonymous callers may only ${have}`
        : `Not enough permissions: ${what} needs the '${scope}' scope (this key has: ${have})`,
    );
  }
}
