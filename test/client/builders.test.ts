/** The request builder, reply parser, item builders, errors and keys: no manager needed. */
import { curveKeyPair } from "zeromq";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  API_NAMES,
  BFunc,
  BInst,
  BItem,
  BPlan,
  ClientClosedError,
  generateKeyPair,
  publicKeyFromPrivate,
  REManagerAPI,
  REManagerAPISync,
  RequestFailedError,
  RequestParameterError,
  RequestTimeoutError,
  resolveClientOptions,
  WaitCancelError,
  WaitTimeoutError,
  z85Decode,
  z85Encode,
} from "../../src/client/index.js";
import type { ReplyOf } from "../../src/client/index.js";
import type { ApiName } from "../../src/client/surface.js";
import { buildFromArgs, buildRequest, parseReply } from "../../src/client/core.js";
import { deserializeError, serializeError } from "../../src/client/errors.js";
import { checkParams, METHOD_NAMES } from "../../src/protocol/index.js";

const defaults = { user: "Ann", userGroup: "primary", lockKey: null };

describe("the method surface", () => {
  it("covers every method of the protocol table with a distinct camelCase name, on both clients", () => {
    expect(Object.keys(API_NAMES).sort()).toEqual([...METHOD_NAMES].sort());
    const names = Object.values(API_NAMES);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) {
      expect(n).toMatch(/^[a-z][A-Za-z]*$/);
      expect(typeof (REManagerAPI.prototype as unknown as Record<string, unknown>)[n], n).toBe(
        "function",
      );
      expect(typeof (REManagerAPISync.prototype as unknown as Record<string, unknown>)[n], n).toBe(
        "function",
      );
    }
    // The Python API's names, camelCase.
    expect(Object.values(API_NAMES).filter((n) => n.startsWith("item"))).toEqual([
      "itemAdd",
      "itemAddBatch",
      "itemUpdate",
      "itemGet",
      "itemRemove",
      "itemRemoveBatch",
      "itemMove",
      "itemMoveBatch",
      "itemExecute",
    ]);
    for (const n of [
      "status",
      "ping",
      "configGet",
      "environmentOpen",
      "functionExecute",
      "taskStatus",
      "taskResult",
    ]) {
      expect(names).toContain(n);
    }
    for (const n of [
      "taskInfo",
      "taskCancel",
      "queueGet",
      "queueStart",
      "queueStopCancel",
      "historyGet",
      "reRuns",
    ]) {
      expect(names).toContain(n);
    }
    for (const n of [
      "lock",
      "unlock",
      "lockInfo",
      "permissionsGet",
      "runCreate",
      "runsList",
      "plansAllowed",
    ]) {
      expect(names).toContain(n);
    }
  });

  it("types the methods from the table", () => {
    expectTypeOf<ApiName<"queue_item_move_batch">>().toEqualTypeOf<"itemMoveBatch">();
    expectTypeOf<ApiName<"queue_stop_cancel">>().toEqualTypeOf<"queueStopCancel">();
    expectTypeOf<REManagerAPI["taskStatus"]>().parameter(0).toEqualTypeOf<string | string[]>();
    expectTypeOf<ReturnType<REManagerAPI["status"]>>().toEqualTypeOf<Promise<ReplyOf<"status">>>();
    expectTypeOf<ReturnType<REManagerAPISync["status"]>>().toEqualTypeOf<ReplyOf<"status">>();
    expectTypeOf<ReturnType<REManagerAPISync["functionExecute"]>>().toEqualTypeOf<
      ReplyOf<"function_execute">
    >();
    expectTypeOf<ReplyOf<"task_result">["status"]>().toEqualTypeOf<
      "running" | "completed" | "not_found" | null
    >();
    expectTypeOf<REManagerAPI["queueAutostart"]>().parameter(0).toEqualTypeOf<boolean>();
    const typeOnly = (api: REManagerAPI) => {
      // @ts-expect-error: an unknown parameter is a type error
      void api.itemGet({ nope: 1 });
      // @ts-expect-error: the task UID is required
      void api.taskResult();
      void api.unlock();
    };
    expect(typeof typeOnly).toBe("function");
  });
});

describe("buildRequest", () => {
  it("fills in user and user_group only for the methods that take them", () => {
    const r = buildFromArgs("function_execute", [new BFunc("f", [1])], defaults);
    expect(r.wire).toEqual({
      method: "function_execute",
      params: {
        item: { item_type: "function", name: "f", args: [1], kwargs: {} },
        user: "Ann",
        user_group: "primary",
      },
    });
    expect(buildFromArgs("task_status", ["u1"], defaults).wire).toEqual({
      method: "task_status",
      params: { task_uid: "u1" },
    });
    expect(buildFromArgs("plans_allowed", [], defaults).wire.params).toEqual({
      user_group: "primary",
    });
    expect(buildFromArgs("lock", ["k", { environment: true }], defaults).wire.params).toEqual({
      lock_key: "k",
      environment: true,
      user: "Ann",
    });
  });

  it("keeps explicit user, user_group and lock_key; fills lock_key from the client when set", () => {
    const r = buildFromArgs(
      "queue_item_add",
      [
        { item_type: "plan", name: "count" },
        { user: "Bob", user_group: "admin" },
      ],
      {
        ...defaults,
        lockKey: "secret",
      },
    );
    expect(r.wire.params).toEqual({
      item: { item_type: "plan", name: "count" },
      user: "Bob",
      user_group: "admin",
      lock_key: "secret",
    });
    expect(
      buildFromArgs("queue_start", [], { ...defaults, lockKey: "secret" }).wire.params,
    ).toEqual({
      lock_key: "secret",
    });
    expect(buildFromArgs("queue_get", [], { ...defaults, lockKey: "secret" }).wire.params).toEqual(
      {},
    );
  });

  it("splits positional value, params and call options", () => {
    const r = buildFromArgs(
      "queue_item_add",
      [new BPlan("count", [["det1"]]), { pos: "front" }, { timeout: 5 }],
      defaults,
    );
    expect(r.wire.params).toMatchObject({ pos: "front" });
    expect(r.options).toEqual({ timeout: 5 });
    expect(buildFromArgs("status", [{ reload: true }], defaults).options).toEqual({ reload: true });
    expect(buildFromArgs("history_clear", [{ size: 3 }, { timeout: 1 }], defaults)).toMatchObject({
      wire: { params: { size: 3 } },
      options: { timeout: 1 },
    });
    expect(buildFromArgs("unlock", [], defaults).wire.params).toEqual({});
  });

  it("drops undefined values instead of sending nulls", () => {
    expect(
      buildFromArgs("queue_item_get", [{ pos: undefined, uid: "x" }], defaults).wire.params,
    ).toEqual({ uid: "x" });
  });

  it("refuses bad params before sending, with the server's own message", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["task_status", { task_uid: 5 }],
      ["task_result", {}],
      ["queue_autostart", {}],
      ["history_clear", { size: "x" }],
      ["queue_item_get", { nope: 1 }],
      ["re_pause", { option: "sometime" }],
    ];
    for (const [method, params] of cases) {
      const server = checkParams(method as "task_status", params);
      expect(server.ok).toBe(false);
      let err: unknown;
      try {
        buildRequest(method as "task_status", params, defaults);
      } catch (e) {
        err = e;
      }
      expect(err, method).toBeInstanceOf(RequestParameterError);
      const e = err as RequestParameterError;
      expect(e.code).toBe("ERR_REQUEST_PARAMETER");
      expect(e.message).toBe(server.ok ? "" : server.reply.msg);
      expect(e.response).toEqual(server.ok ? {} : server.reply);
      expect(e.request).toEqual({ method, params });
    }
  });
});

describe("parseReply", () => {
  const req = { method: "queue_start", params: {} };
  it("throws RequestFailedError carrying request and reply on success: false", () => {
    const reply = { success: false, msg: "Error: nope" };
    let err: unknown;
    try {
      parseReply("queue_start", req, reply, { requestFailExceptions: true, checkReplies: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestFailedError);
    expect((err as RequestFailedError).response).toBe(reply);
    expect((err as RequestFailedError).request).toBe(req);
    expect((err as RequestFailedError).message).toBe("Error: nope");
    expect((err as RequestFailedError).code).toBe("ERR_REQUEST_FAILED");
  });
  it("returns the reply as it is with requestFailExceptions off, or when it succeeded", () => {
    const reply = { success: false, msg: "Error: nope" };
    expect(
      parseReply("queue_start", req, reply, { requestFailExceptions: false, checkReplies: true }),
    ).toBe(reply);
    const ok = { success: true, msg: "", extra_key_added_by_a_newer_server: 1 };
    expect(
      parseReply("queue_start", req, ok, { requestFailExceptions: true, checkReplies: true }),
    ).toEqual(ok);
  });
  it("with checkReplies, refuses a successful reply that does not match its schema", () => {
    expect(() =>
      parseReply(
        "queue_get",
        req,
        { success: true, msg: "", items: "no" },
        { requestFailExceptions: true, checkReplies: true },
      ),
    ).toThrow(/does not match its schema/);
  });
});

describe("item builders", () => {
  it("build plain item maps as the Python API does", () => {
    expect({ ...new BPlan("count", ["det1"], { num: 3 }) }).toEqual({
      item_type: "plan",
      name: "count",
      args: ["det1"],
      kwargs: { num: 3 },
    });
    expect(new BFunc("function_sleep", [0.5]).toDict()).toEqual({
      item_type: "function",
      name: "function_sleep",
      args: [0.5],
      kwargs: {},
    });
    expect(new BInst("queue_stop").toDict()).toEqual({
      item_type: "instruction",
      name: "queue_stop",
    });
    expect(
      JSON.parse(JSON.stringify(new BItem("plan", "scan", [["det1"], "motor", -1, 1, 10]))),
    ).toEqual({
      item_type: "plan",
      name: "scan",
      args: [["det1"], "motor", -1, 1, 10],
      kwargs: {},
    });
  });
  it("copy an item map (and its item_uid), and check it", () => {
    const src = {
      item_type: "plan",
      name: "count",
      args: [["det1"]],
      item_uid: "abc",
      meta: { a: 1 },
    };
    const b = new BItem(src);
    expect(b.toDict()).toEqual(src);
    expect(b.item_uid).toBe("abc");
    src.args.push(["x"]);
    expect(b.args).toEqual([["det1"]]);
    expect(() => new BItem({ item_type: "job", name: "x" })).toThrow(TypeError);
    expect(() => new BPlan("")).toThrow(TypeError);
    expect(() => new BItem({ item_type: "plan", name: "x", args: "no" })).toThrow(TypeError);
  });
});

describe("errors", () => {
  it("have codes and survive the trip to plain data and back (the blocking client's path)", () => {
    const req = { method: "status", params: {} };
    const errs = [
      new RequestTimeoutError("t", { request: req, timeout: 2, phase: "receive" }),
      new RequestFailedError(req, { success: false, msg: "no" }),
      new RequestParameterError(req, { success: false, msg: "bad" }),
      new ClientClosedError("closed"),
      new WaitTimeoutError("w"),
      new WaitCancelError("c", { cause: new Error("why") }),
    ];
    for (const e of errs) {
      const back = deserializeError(structuredClone(serializeError(e)));
      expect(back.constructor).toBe(e.constructor);
      expect(back.message).toBe(e.message);
      expect((back as { code?: string }).code).toBe(e.code);
    }
    const t = deserializeError(serializeError(errs[0])) as RequestTimeoutError;
    expect([t.timeout, t.phase, t.request]).toEqual([2, "receive", req]);
    const f = deserializeError(serializeError(errs[1])) as RequestFailedError;
    expect(f.response).toEqual({ success: false, msg: "no" });
    expect((deserializeError(serializeError(errs[5])).cause as Error).message).toBe("why");
  });
});

describe("options and keys", () => {
  it("explicit options beat environment variables, which beat defaults", () => {
    const saved = { ...process.env };
    try {
      delete process.env.QSERVER_ZMQ_CONTROL_ADDRESS;
      delete process.env.QSERVER_ZMQ_INFO_ADDRESS;
      delete process.env.QSERVER_ZMQ_PUBLIC_KEY;
      expect(resolveClientOptions()).toMatchObject({
        zmqControlAddr: "tcp://localhost:60615",
        zmqInfoAddr: "tcp://localhost:60625",
        zmqEncoding: "json",
        zmqPublicKey: null,
        timeoutRecv: 2,
        timeoutSend: 2,
        user: "Queue Server API User",
        userGroup: "primary",
        requestFailExceptions: true,
      });
      const key = curveKeyPair().publicKey;
      process.env.QSERVER_ZMQ_CONTROL_ADDRESS = "tcp://a:1";
      process.env.QSERVER_ZMQ_INFO_ADDRESS = "tcp://a:2";
      process.env.QSERVER_ZMQ_PUBLIC_KEY = key;
      expect(resolveClientOptions()).toMatchObject({
        zmqControlAddr: "tcp://a:1",
        zmqInfoAddr: "tcp://a:2",
        zmqPublicKey: key,
      });
      expect(
        resolveClientOptions({
          zmqControlAddr: "tcp://b:1",
          zmqInfoAddr: null,
          zmqPublicKey: null,
        }),
      ).toMatchObject({
        zmqControlAddr: "tcp://b:1",
        zmqInfoAddr: null,
        zmqPublicKey: null,
      });
      expect(() => resolveClientOptions({ zmqPublicKey: "short" })).toThrow(TypeError);
    } finally {
      process.env = saved;
    }
  });

  it("z85 round-trips and the public key of a private key is zeromq's", () => {
    expect(z85Encode(Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]))).toBe(
      "HelloWorld",
    );
    expect([...z85Decode("HelloWorld")]).toEqual([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    for (let i = 0; i < 3; i++) {
      const p = generateKeyPair();
      expect(p.publicKey).toHaveLength(40);
      expect(publicKeyFromPrivate(p.secretKey)).toBe(p.publicKey);
    }
    expect(() => publicKeyFromPrivate("not a key")).toThrow();
  });
});
