/** The gateway's browser and key-lifetime options, as `zqs http` and `zqs manager --http-*` read them. */
import { describe, expect, it } from "vitest";
import { ApiKeyStore } from "../../src/http/api-keys.js";
import { DEFAULT_API_KEY_MAX_LIFETIME, resolveHttpOptions } from "../../src/http/options.js";
import { resolveOptions } from "../../src/manager/options.js";

describe("--allowed-origins and --api-key-max-lifetime", () => {
  it("are read as origins and seconds, by both commands", () => {
    const h = resolveHttpOptions(
      { allowedOrigins: "http://127.0.0.1:8000, https://lab.example.org", apiKeyMaxLifetime: "60" },
      {},
    );
    expect(h.allowedOrigins).toEqual(["http://127.0.0.1:8000", "https://lab.example.org"]);
    expect(h.apiKeyMaxLifetime).toBe(60);
    expect(resolveHttpOptions({}, {})).toMatchObject({
      allowedOrigins: undefined,
      apiKeyMaxLifetime: DEFAULT_API_KEY_MAX_LIFETIME,
    });
    const m = resolveOptions({ httpAllowedOrigins: "http://localhost:3000" }, {});
    expect(m.httpAllowedOrigins).toEqual(["http://localhost:3000"]);
    expect(m.httpApiKeyMaxLifetime).toBe(DEFAULT_API_KEY_MAX_LIFETIME);
  });

  it("refuse what is not an origin, and a lifetime that is not positive seconds", () => {
    for (const bad of ["127.0.0.1:8000", "http://host:1/path", "ftp://host", "*"]) {
      expect(() => resolveHttpOptions({ allowedOrigins: bad }, {})).toThrow(
        /--allowed-origins: expected an origin like http:\/\/host:port/,
      );
    }
    expect(() => resolveOptions({ httpAllowedOrigins: "nope" }, {})).toThrow(
      /--http-allowed-origins/,
    );
    expect(() => resolveHttpOptions({ apiKeyMaxLifetime: "0" }, {})).toThrow(
      /--api-key-max-lifetime: expected seconds/,
    );
  });

  it("a key store refuses a lifetime a date cannot hold, and keeps nothing of it", () => {
    const keys = new ApiKeyStore();
    expect(() =>
      keys.create({ user: "u", userGroup: "g", scopes: ["read"], expiresIn: 1e13 }),
    ).toThrow(/not a usable key lifetime/);
    expect(keys.size).toBe(0);
    keys.create({ user: "u", userGroup: "g", scopes: ["read"], expiresIn: 60 });
    expect(keys.size).toBe(1);
  });
});
