/** API keys and sessions of the gateway on a fake clock (no server). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyStore, hashKey } from "../../src/http/api-keys.js";
import { Auth, AuthError, SESSION_IDLE_SECONDS } from "../../src/http/auth.js";

let now = 1_000_000;
const clock = () => now;
const dirs: string[] = [];
function tmpFile(text: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), "zqs-keys-"));
  dirs.push(d);
  const f = path.join(d, "keys.yaml");
  writeFileSync(f, text);
  return f;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function status(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof AuthError) return err.status;
    throw err;
  }
}

describe("API keys", () => {
  it("a created key works until expires_in has passed, then is refused as expired", () => {
    const keys = new ApiKeyStore(undefined, clock);
    const auth = new Auth(keys, { allowAnonymous: null }, clock);
    const { secret } = keys.create({ user: "u", userGroup: "g", scopes: ["read"], expiresIn: 60 });
    expect(auth.authenticate(`ApiKey ${secret}`, undefined).user).toBe("u");
    now += 59;
    expect(status(() => auth.authenticate(`ApiKey ${secret}`, undefined))).toBe("ok");
    now += 2;
    expect(() => auth.authenticate(`ApiKey ${secret}`, undefined)).toThrow("expired");
  });

  it("a session ends after a long idle time, and with its key", () => {
    const keys = new ApiKeyStore(undefined, clock);
    const auth = new Auth(keys, { allowAnonymous: null }, clock);
    const { secret, hash } = keys.create({
      user: "u",
      userGroup: "g",
      scopes: ["write"],
      expiresIn: 1e9,
    });
    const s = auth.newSession(hash);
    expect(auth.authenticate(`Bearer ${s}`, undefined).via).toBe("session");
    now += SESSION_IDLE_SECONDS + 1;
    // The idle session is gone; the token is no API key either.
    expect(status(() => auth.authenticate(undefined, s))).toBe(401);
    const s2 = auth.newSession(hash);
    expect(keys.deleteFor("u", secret.slice(0, 8))).toBe(true);
    expect(status(() => auth.authenticate(undefined, s2))).toBe(401);
  });

  it("scopes imply the lower ones; read keys get 403 for write, anonymous 401", () => {
    const keys = new ApiKeyStore(undefined, clock);
    keys.addSingleUser("s", "su", "primary");
    const auth = new Auth(keys, { allowAnonymous: "read" }, clock);
    const admin = auth.authenticate("ApiKey s", undefined);
    expect([...admin.scopes]).toEqual(["read", "write", "admin"]);
    const anon = auth.authenticate(undefined, undefined);
    expect(status(() => auth.require(anon, "read", "x"))).toBe("ok");
    expect(status(() => auth.require(anon, "write", "x"))).toBe(401);
    const { secret } = keys.create({ user: "r", userGroup: "g", scopes: ["read"], expiresIn: 10 });
    expect(
      status(() => auth.require(auth.authenticate(`ApiKey ${secret}`, undefined), "write", "x")),
    ).toBe(403);
  });

  it("reads the file by hash, refuses plain keys and unknown scopes, writes back hashes only", () => {
    const good = tmpFile(
      `api_keys:\n  ${hashKey("k1")}: {user: a, user_group: g, scopes: [read], expires: 2100-01-01T00:00:00Z}\n`,
    );
    const keys = new ApiKeyStore(good, clock);
    const found = keys.lookup("k1");
    expect(found.ok && found.record.user).toBe("a");
    expect(keys.lookup("k2")).toEqual({ ok: false, reason: "unknown" });
    const { secret } = keys.create({ user: "a", userGroup: "g", scopes: ["read"], expiresIn: 5 });
    const text = readFileSync(good, "utf8");
    expect(text).toContain(hashKey(secret));
    expect(text).toContain(hashKey("k1"));
    expect(text).not.toContain(secret);
    expect(new ApiKeyStore(good, clock).lookup(secret).ok).toBe(true);
    expect(
      () => new ApiKeyStore(tmpFile("api_keys:\n  plain-key: {user: a, user_group: g}\n")),
    ).toThrow(/SHA-256 hash/);
    expect(
      () =>
        new ApiKeyStore(
          tmpFile(`api_keys:\n  ${hashKey("x")}: {user: a, user_group: g, scopes: [root]}\n`),
        ),
    ).toThrow(/scopes/);
  });
});
