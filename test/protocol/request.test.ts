/**
 * The request path shared by manager and client: envelope rules and parameter
 * checks, with the Python server's message forms (from the recorded vectors).
 */
import { describe, expect, it } from "vitest";
import {
  ALLOWED_TOP_LEVEL_KEYS,
  checkEnvelope,
  checkParams,
  failureExtras,
  isMethodName,
  METHOD_NAMES,
  methodFailure,
  methods,
  supportedParams,
  unknownMethodReply,
  type MethodName,
} from "../../src/protocol/index.js";
import vectors from "../fixtures/vectors.json" with { type: "json" };

interface Case {
  name: string;
  request: { method?: string; params?: unknown } | null;
  reply: Record<string, unknown>;
}
const cases = vectors as unknown as Case[];
const byName = (name: string): Case => {
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no vector named ${name}`);
  return c;
};

function refused(decoded: unknown): Record<string, unknown> {
  const r = checkEnvelope(decoded);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(decoded)}`);
  return r.reply;
}

describe("checkEnvelope", () => {
  it("accepts {method, params} and defaults missing params to {}", () => {
    expect(checkEnvelope({ method: "status", params: { a: 1 } })).toEqual({
      ok: true,
      method: "status",
      params: { a: 1 },
    });
    expect(checkEnvelope({ method: "queue_get" })).toEqual({
      ok: true,
      method: "queue_get",
      params: {},
    });
    // params: null is passed on (the method's check refuses it).
    expect(checkEnvelope({ method: "queue_get", params: null })).toEqual({
      ok: true,
      method: "queue_get",
      params: null,
    });
  });

  it("refuses extra top-level keys, listed in request order (vector)", () => {
    const c = byName("request with extra top-level key");
    expect(refused(c.request)).toEqual(c.reply);
    expect(ALLOWED_TOP_LEVEL_KEYS).toEqual(["method", "params"]);
  });

  it("refuses a missing method with the request's Python repr (vector)", () => {
    const c = byName("missing method");
    expect(refused(c.request)).toEqual(c.reply);
    expect(refused({ method: null, params: {} })).toEqual({
      success: false,
      msg: "Invalid request format: method is not specified: {'method': None, 'params': {}}",
    });
  });

  it("refuses a method that is not a string", () => {
    const r = refused({ method: 5 });
    expect(r.success).toBe(false);
    expect(r.msg).toMatch(/^Invalid request format: method must be a string, got <class 'int'>/);
    expect(refused({ method: ["status"] }).msg).toMatch(/<class 'list'>/);
  });

  it("refuses values that are not maps (vectors: array, string literal)", () => {
    expect(refused([1, 2, 3])).toEqual(byName("valid JSON, not an object (array)").reply);
    expect(refused("status")).toEqual(byName("valid JSON string literal").reply);
    expect(refused(42).msg).toBe("Incorrect request type: <class 'int'>. Dictionary is expected");
    expect(refused(1.5).msg).toBe(
      "Incorrect request type: <class 'float'>. Dictionary is expected",
    );
    expect(refused(null).msg).toBe(
      "Incorrect request type: <class 'NoneType'>. Dictionary is expected",
    );
    expect(refused(true).msg).toBe(
      "Incorrect request type: <class 'bool'>. Dictionary is expected",
    );
  });

  it("refuses msgpack bin and timestamps at the top level without listing their indices", () => {
    const big = Buffer.alloc(1_000_000);
    const r = refused(big);
    expect(r.msg).toBe("Incorrect request type: <class 'bytes'>. Dictionary is expected");
    expect(refused(new Date(0)).msg).toBe(
      "Incorrect request type: <class 'datetime.datetime'>. Dictionary is expected",
    );
  });
});

describe("unknownMethodReply / isMethodName", () => {
  it("names the method as the vectors do", () => {
    expect(unknownMethodReply("no_such_method")).toEqual(byName("unknown method").reply);
    expect(unknownMethodReply("x")).toEqual({ success: false, msg: "Unknown method 'x'" });
  });

  it("knows the table's names and nothing inherited from Object", () => {
    for (const n of METHOD_NAMES) expect(isMethodName(n)).toBe(true);
    for (const n of ["constructor", "toString", "__proto__", "hasOwnProperty", "", "STATUS"]) {
      expect(isMethodName(n)).toBe(false);
    }
  });

  it("has every method of the Python server (SPEC §2)", () => {
    const python =
      "ping status config_get plans_allowed plans_existing devices_allowed devices_existing permissions_reload permissions_get permissions_set queue_get queue_mode_set queue_item_add queue_item_add_batch queue_item_update queue_item_get queue_item_remove queue_item_remove_batch queue_item_move queue_item_move_batch queue_item_execute queue_clear history_get history_clear environment_open environment_close environment_destroy environment_update script_upload function_execute task_result task_status queue_start queue_stop queue_stop_cancel queue_autostart kernel_interrupt re_pause re_resume re_stop re_abort re_halt re_runs re_metadata lock lock_info unlock manager_stop manager_kill manager_test".split(
        " ",
      );
    for (const n of python) expect(METHOD_NAMES).toContain(n);
  });
});

describe("checkParams", () => {
  it("lets status and ping ignore params entirely (null, bogus keys)", () => {
    for (const m of ["status", "ping"] as const) {
      expect(checkParams(m, null).ok).toBe(true);
      expect(checkParams(m, { bogus: 1 }).ok).toBe(true);
      expect(checkParams(m, [1]).ok).toBe(true);
    }
  });

  it("names one unsupported parameter alone and several as a list (vectors)", () => {
    for (const name of [
      "unsupported param (queue_get foo=1)",
      "unsupported params, two names (queue_get foo=1 bar=2)",
    ]) {
      const c = byName(name);
      const r = checkParams("queue_get", c.request?.params);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reply).toEqual(c.reply);
    }
  });

  it("lists the supported parameters in the unsupported-parameter message", () => {
    const r = checkParams("task_status", { task_uid: "a", foo: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reply).toEqual({
        success: false,
        msg: "Error: API request contains unsupported parameters: 'foo'. Supported parameters: ['task_uid']",
        task_uid: null,
        status: null,
      });
    }
  });

  it("checks unsupported names before types", () => {
    const r = checkParams("task_status", { task_uid: 10, foo: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reply.msg).toMatch(/unsupported parameters: 'foo'/);
  });

  it("refuses params that are not a map, with the method's empty keys", () => {
    for (const raw of [null, [1], "x", 5, Buffer.alloc(100_000), new Date()]) {
      const r = checkParams("queue_get", raw);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.reply.success).toBe(false);
        expect(r.reply.msg).toMatch(/^Error: Parameters must be a map/);
        expect((r.reply.msg as string).length).toBeLessThan(200);
        expect(r.reply).toMatchObject({ items: [], running_item: {}, plan_queue_uid: "" });
      }
    }
  });

  it("refuses wrong types with the server's messages", () => {
    const expectFail = (
      m: MethodName,
      params: unknown,
      msg: RegExp,
      extra: Record<string, unknown> = {},
    ) => {
      const r = checkParams(m, params);
      expect(r.ok, `${m} ${JSON.stringify(params)}`).toBe(false);
      if (!r.ok) {
        expect(r.reply.success).toBe(false);
        expect(r.reply.msg).toMatch(msg);
        expect(r.reply).toMatchObject(extra);
      }
    };
    expectFail(
      "task_status",
      { task_uid: 10 },
      /^Error: 'task_uid' must be a string or a list of strings: type\(task_uid\)=<class 'int'>$/,
      { status: null },
    );
    expectFail(
      "task_status",
      {},
      /^Error: Required 'task_uid' parameter is missing in the API call\.$/,
    );
    expectFail(
      "task_result",
      { task_uid: [1] },
      /^Error: 'task_uid' must be a string: type\(task_uid\)=<class 'list'>/,
      {
        status: null,
        result: null,
      },
    );
    expectFail(
      "history_clear",
      { size: "x" },
      /^Error: The 'size' parameter must be an integer: size='x'$/,
    );
    expectFail(
      "queue_autostart",
      {},
      /^Error: Required 'enable' parameter is missing in 'queue_autostart' API call\.$/,
    );
    expectFail(
      "queue_autostart",
      { enable: "yes" },
      /^Error: Parameter 'enable' must be a boolean$/,
    );
    expectFail(
      "re_pause",
      { option: "later" },
      /^Option 'later' is not supported\. Available options: \('deferred', 'immediate'\)$/,
    );
    expectFail(
      "manager_stop",
      { option: 5 },
      /^Error: Parameter 'option' must be of type string, got <class 'int'>: 5$/,
    );
    expectFail(
      "queue_item_add",
      { item: "x" },
      /^Failed to add an item: Parameter 'item' must be of type record/,
      {
        qsize: null,
        item: "x",
      },
    );
    expectFail(
      "script_upload",
      {},
      /^Error: Required 'script' parameter is is missing in API call\.$/,
      {
        task_uid: null,
      },
    );
    expectFail(
      "function_execute",
      { timeout: -1 },
      /^Error: Parameter 'timeout' must be > 0, got -1$/,
    );
  });

  it("applies defaults and passes valid params through", () => {
    const stop = checkParams("manager_stop", {});
    expect(stop).toEqual({ ok: true, params: { option: "safe_on" } });
    const pause = checkParams("re_pause", {});
    expect(pause.ok && pause.params.option).toBe("deferred");
    const ts = checkParams("task_status", { task_uid: ["a", "b"] });
    expect(ts).toEqual({ ok: true, params: { task_uid: ["a", "b"] } });
    // manager_stop's option is checked by its handler (vector 'manager_stop bad option').
    expect(checkParams("manager_stop", { option: "bogus" }).ok).toBe(true);
  });

  it("refuses an unknown extra parameter for every method of the table but status/ping", () => {
    for (const m of METHOD_NAMES) {
      const r = checkParams(m, { zz_unknown: 1 });
      if (methods[m].ignoreParams) {
        expect(r.ok).toBe(true);
        continue;
      }
      expect(r.ok, m).toBe(false);
      if (!r.ok) {
        expect(r.reply.success).toBe(false);
        expect(r.reply.msg).toContain(
          `API request contains unsupported parameters: 'zz_unknown'. Supported parameters: [${supportedParams(
            m,
          )
            .map((p) => `'${p}'`)
            .join(", ")}]`,
        );
        expect((r.reply.msg as string).startsWith(methods[m].errorPrefix)).toBe(true);
        for (const k of Object.keys(failureExtras(m, undefined))) expect(r.reply).toHaveProperty(k);
      }
    }
  });
});

describe("methodFailure", () => {
  it("adds the method's prefix and its empty data keys", () => {
    expect(methodFailure("queue_get", "boom")).toEqual({
      success: false,
      msg: "Error: boom",
      items: [],
      running_item: {},
      plan_queue_uid: "",
    });
    expect(methodFailure("plans_allowed", "x")).toEqual({
      success: false,
      msg: "x",
      plans_allowed: {},
      plans_allowed_uid: null,
    });
    expect(methodFailure("queue_item_add", "bad", { item: { name: "count" } })).toEqual({
      success: false,
      msg: "Failed to add an item: bad",
      qsize: null,
      item: { name: "count" },
    });
    expect(methodFailure("function_execute", "no", undefined, { item: { a: 1 } })).toEqual({
      success: false,
      msg: "Error: no",
      item: { a: 1 },
      task_uid: null,
    });
  });
});
