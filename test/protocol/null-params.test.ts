/**
 * `null` for an optional parameter is its absence (the Python server reads
 * every optional parameter with `request.get(name, default)`), in every method
 * of the table: checked here on checkParams and on the client's request
 * builder, for each method and each parameter the table declares.
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { buildRequest } from "../../src/client/core.js";
import { RequestParameterError } from "../../src/client/errors.js";
import { checkParams, METHOD_NAMES, methods, type MethodName } from "../../src/protocol/index.js";

function paramEntries(name: MethodName): [string, z.ZodType][] {
  return Object.entries(methods[name].params as Record<string, z.ZodType>);
}

/** Every (method, parameter) of the table whose schema takes absence but not null. */
function optionalParams(): [MethodName, string][] {
  const out: [MethodName, string][] = [];
  for (const name of METHOD_NAMES) {
    if ((methods[name] as { ignoreParams?: boolean }).ignoreParams) continue;
    for (const [param, schema] of paramEntries(name)) {
      if (schema.safeParse(undefined).success && !schema.safeParse(null).success) {
        out.push([name, param]);
      }
    }
  }
  return out;
}

const OPTIONAL = optionalParams();

/** Values to try for a parameter (the enums' first values among them). */
const SAMPLES: unknown[] = [true, "x", 1, [], {}, "front", "deferred", "once", "1/s"];

/** A valid value for each of the method's parameters other than `param`. */
function others(name: MethodName, param: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [p, schema] of paramEntries(name)) {
    if (p === param) continue;
    const sample = SAMPLES.find((v) => schema.safeParse(v).success);
    if (sample === undefined) throw new Error(`no sample value for ${name}.${p}`);
    out[p] = sample;
  }
  return out;
}

describe("null optional parameters (checkParams, from the method table)", () => {
  it("the table has optional parameters in most methods (the loop below is not empty)", () => {
    expect(OPTIONAL.length).toBeGreaterThan(80);
    expect(new Set(OPTIONAL.map(([m]) => m)).size).toBeGreaterThan(40);
  });

  it.each(OPTIONAL)("%s: %s as null is the same as leaving it out", (name, param) => {
    const absent = checkParams(name, {});
    const asNull = checkParams(name, { [param]: null });
    expect(asNull).toEqual(absent);
    // With the method's other parameters given (required ones, other optional ones).
    const rest = others(name, param);
    const withRest = checkParams(name, rest);
    expect(withRest.ok).toBe(true);
    expect(checkParams(name, { ...rest, [param]: null })).toEqual(withRest);
  });

  it("the lock check sees the request without the null values", () => {
    const seen: Record<string, unknown>[] = [];
    checkParams("queue_clear", { lock_key: null }, (p) => {
      seen.push({ ...p });
      return undefined;
    });
    expect(seen).toEqual([{}]);
  });

  it("a required parameter sent as null is still refused, naming it", () => {
    const r = checkParams("run_info", { run_uid: null });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.reply.msg).toBe(
        "Error: Parameter 'run_uid' must be of type string, got <class 'NoneType'>: None",
      );
    const t = checkParams("task_result", { task_uid: null });
    expect(t.ok).toBe(false);
  });

  it("a parameter whose schema takes null keeps it (lock's note)", () => {
    const r = checkParams("lock", { note: null, lock_key: "k", user: "u" });
    expect(r.ok && r.params).toMatchObject({ note: null });
  });

  it("a null value does not make an unsupported parameter supported", () => {
    const r = checkParams("lock_info", { lock_key: null, no_such_param: null });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(String(r.reply.msg)).toContain("unsupported parameters: 'no_such_param'");
  });

  it("the defaults of the table apply to a null parameter", () => {
    const r = checkParams("permissions_reload", {
      restore_permissions: null,
      restore_plans_devices: null,
    });
    expect(r.ok && r.params).toEqual({ restore_plans_devices: false, restore_permissions: true });
  });
});

describe("null optional parameters (the client's request builder)", () => {
  const defaults = { user: "Client User", userGroup: "primary", lockKey: "client-key" };

  it.each(OPTIONAL)("%s: %s as null is accepted by the client", (name, param) => {
    const rest = others(name, param);
    expect(() => buildRequest(name, rest, defaults)).not.toThrow();
    expect(() => buildRequest(name, { ...rest, [param]: null }, defaults)).not.toThrow();
  });

  it("the client still refuses a required parameter sent as null, as the server does", () => {
    expect(() => buildRequest("run_info", { run_uid: null }, defaults)).toThrow(
      RequestParameterError,
    );
  });

  it("user, user_group and lock_key given as null get the client's defaults, as when left out", () => {
    const item = { item_type: "plan", name: "count" };
    const wire = buildRequest(
      "queue_item_add",
      { item, user: null, user_group: null, lock_key: null, pos: null },
      defaults,
    );
    expect(wire.params).toMatchObject({
      user: "Client User",
      user_group: "primary",
      lock_key: "client-key",
    });
    expect(buildRequest("queue_item_add", { item }, defaults).params).toMatchObject({
      user: "Client User",
      user_group: "primary",
      lock_key: "client-key",
    });
  });
});
