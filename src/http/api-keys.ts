/**
 * API keys: kept only as SHA-256 hashes, each naming a user, a user group and
 * scopes, maybe an expiry. Keys come from a YAML file (`--api-keys FILE`),
 * from the single-user key, or are created over HTTP (`POST /api/auth/apikey`;
 * written back to the file when there is one, so they outlive a restart).
 *
 * The file (`printf %s KEY | sha256sum` gives a key's hash):
 *
 *     api_keys:
 *       <sha256 of the key, hex>:
 *         user: alice
 *         user_group: primary
 *         scopes: [read, write]          # read | write | admin
 *         expires: 2027-01-01T00:00:00Z  # optional
 *         note: laptop                   # optional
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import type { Scope } from "./routes.js";
import { SCOPES } from "./routes.js";

export interface KeyRecord {
  user: string;
  user_group: string;
  scopes: Scope[];
  /** Epoch seconds; absent: never expires. */
  expires?: number;
  note?: string;
  /** The first eight characters of the secret (created keys only): how a user names a key. */
  first_eight?: string;
  created?: number;
  /** Where it came from: the file, the single-user key, or created over HTTP. */
  source: "file" | "single-user" | "created";
}

/**
 * Who the single-user key runs as on the manager: the Python gateway's name
 * for it, so that items, history and locks read the same under either.
 */
export const SINGLE_USER = "UNAUTHENTICATED_SINGLE_USER";
export const SINGLE_USER_GROUP = "primary";

export type KeyLookup =
  { ok: true; hash: string; record: KeyRecord } | { ok: false; reason: "unknown" | "expired" };

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A new secret: 32 random bytes, hex (64 characters). */
export function newSecret(): string {
  return randomBytes(32).toString("hex");
}

function isScope(v: unknown): v is Scope {
  return typeof v === "string" && (SCOPES as readonly string[]).includes(v);
}

function parseRecord(hash: string, raw: unknown, file: string): KeyRecord {
  const where = `${file}: key ${hash.slice(0, 12)}...`;
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new Error(`${where}: a key must be given by its SHA-256 hash (64 hex digits)`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${where}: expected a map with user, user_group, scopes`);
  }
  const r = raw as Record<string, unknown>;
  if (typeof r.user !== "string" || r.user === "") throw new Error(`${where}: 'user' is missing`);
  if (typeof r.user_group !== "string" || r.user_group === "") {
    throw new Error(`${where}: 'user_group' is missing`);
  }
  const scopes = r.scopes ?? ["read"];
  if (!Array.isArray(scopes) || !scopes.every(isScope)) {
    throw new Error(`${where}: 'scopes' must be a list of ${SCOPES.join(", ")}`);
  }
  const rec: KeyRecord = { user: r.user, user_group: r.user_group, scopes, source: "file" };
  if (r.expires !== undefined && r.expires !== null) {
    const t =
      typeof r.expires === "number"
        ? r.expires
        : r.expires instanceof Date
          ? r.expires.getTime() / 1000
          : typeof r.expires === "string"
            ? Date.parse(r.expires) / 1000
            : NaN;
    if (!Number.isFinite(t)) throw new Error(`${where}: 'expires' is not a time`);
    rec.expires = t;
  }
  if (typeof r.note === "string") rec.note = r.note;
  if (typeof r.first_eight === "string") rec.first_eight = r.first_eight;
  if (typeof r.created === "number") rec.created = r.created;
  if (r.created_over_http === true) rec.source = "created";
  return rec;
}

export class ApiKeyStore {
  private readonly keys = new Map<string, KeyRecord>();

  constructor(
    private readonly file?: string,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    if (file) this.load(file);
  }

  get size(): number {
    return this.keys.size;
  }

  private load(file: string): void {
    let doc: unknown;
    try {
      doc = parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new Error(`Cannot read the API keys file ${file}: ${(err as Error).message}`);
    }
    const map = (doc as { api_keys?: unknown } | null)?.api_keys ?? {};
    if (map === null || typeof map !== "object" || Array.isArray(map)) {
      throw new Error(`${file}: 'api_keys' must be a map of key hash → user, user_group, scopes`);
    }
    for (const [hash, raw] of Object.entries(map)) {
      this.keys.set(hash, parseRecord(hash, raw, file));
    }
  }

  /** Write the file's and the created keys back (hashes only), atomically. */
  private save(): void {
    if (!this.file) return;
    const out: Record<string, unknown> = {};
    for (const [hash, r] of this.keys) {
      if (r.source === "single-user") continue;
      const { source, expires, ...rest } = r;
      out[hash] = {
        ...rest,
        ...(expires !== undefined ? { expires: new Date(expires * 1000).toISOString() } : {}),
        ...(source === "created" ? { created_over_http: true } : {}),
      };
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, stringify({ api_keys: out }), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Not a file of ours (or already gone).
      }
      throw new Error(`Cannot write the API keys file ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Apply a change to the keys and save it; on failure the change is undone and the error thrown. */
  private change(apply: () => void, undo: () => void): void {
    apply();
    try {
      this.save();
    } catch (err) {
      undo();
      throw err;
    }
  }

  /** The single-user key: every scope, as SINGLE_USER in SINGLE_USER_GROUP unless told otherwise. */
  addSingleUser(secret: string, user = SINGLE_USER, userGroup = SINGLE_USER_GROUP): void {
    this.keys.set(hashKey(secret), {
      user,
      user_group: userGroup,
      scopes: ["read", "write", "admin"],
      source: "single-user",
    });
  }

  lookup(secret: string): KeyLookup {
    const hash = hashKey(secret);
    const record = this.keys.get(hash);
    if (!record) return { ok: false, reason: "unknown" };
    if (record.expires !== undefined && record.expires <= this.now()) {
      return { ok: false, reason: "expired" };
    }
    return { ok: true, hash, record };
  }

  get(hash: string): KeyRecord | undefined {
    return this.keys.get(hash);
  }

  /** Create a key; returns the secret (the only time it exists outside the caller). */
  create(opts: {
    user: string;
    userGroup: string;
    scopes: Scope[];
    expiresIn: number;
    note?: string;
  }): { secret: string; hash: string; record: KeyRecord } {
    const secret = newSecret();
    const hash = hashKey(secret);
    const now = this.now();
    const expires = now + opts.expiresIn;
    // A time a Date can hold (the file stores it as one).
    if (!(opts.expiresIn > 0) || Number.isNaN(new Date(expires * 1000).getTime())) {
      throw new RangeError(`'expires_in' ${opts.expiresIn} is not a usable key lifetime`);
    }
    const record: KeyRecord = {
      user: opts.user,
      user_group: opts.userGroup,
      scopes: opts.scopes,
      expires,
      first_eight: secret.slice(0, 8),
      created: now,
      source: "created",
      ...(opts.note !== undefined ? { note: opts.note } : {}),
    };
    this.change(
      () => this.keys.set(hash, record),
      () => this.keys.delete(hash),
    );
    return { secret, hash, record };
  }

  /** The keys of one user. */
  listFor(user: string): { hash: string; record: KeyRecord }[] {
    return [...this.keys]
      .filter(([, r]) => r.user === user)
      .map(([hash, record]) => ({ hash, record }));
  }

  /** Delete a created key of `user` by its first eight characters; true when one was deleted. */
  deleteFor(user: string, firstEight: string): boolean {
    for (const [hash, r] of this.keys) {
      if (r.user === user && r.first_eight === firstEight) {
        this.change(
          () => this.keys.delete(hash),
          () => this.keys.set(hash, r),
        );
        return true;
      }
    }
    return false;
  }
}

/** What a key looks like in replies: never its secret or hash. */
export function keyInfo(r: KeyRecord): Record<string, unknown> {
  return {
    first_eight: r.first_eight ?? null,
    expiration_time: r.expires !== undefined ? new Date(r.expires * 1000).toISOString() : null,
    note: r.note ?? null,
    scopes: r.scopes,
    source: r.source,
  };
}
