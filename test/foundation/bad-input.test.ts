/**
 * Bad input against a real manager: every message gets a `success: false`
 * reply and the manager keeps serving (each test ends with a status check).
 */
import { Manager } from "../../src/manager/daemon.js";
import { createLogger } from "../../src/manager/log.js";
import { defaultOptions } from "../../src/manager/options.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import {
  decode,
  encode,
  failureExtras,
  isMethodName,
  MAX_NESTING_DEPTH,
  METHOD_NAMES,
  STATUS_KEYS,
  type MethodName,
} from "../../src/protocol/index.js";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";

type Reply = Record<string, unknown>;

let m: RunningManager;
let c: RawClient;

beforeAll(async () => {
  m = await startManager({ examples: false });
  c = new RawClient(m.controlAddr);
});
afterAll(async () => {
  c?.close();
  await m?.stop();
});

async function stillServing(client: RawClient = c): Promise<void> {
  const s = await client.request("status");
  expect(Object.keys(s)).toEqual(STATUS_KEYS);
  expect(m.proc.exitCode).toBeNull();
}

function expectFailure(r: Reply, msg: string | RegExp): void {
  expect(r.success).toBe(false);
  if (typeof msg === "string") expect(r.msg).toBe(msg);
  else expect(r.msg).toMatch(msg);
}

describe("undecodable bytes", () => {
  it.each([
    ["invalid UTF-8", Buffer.from("fffe00676172626167657b", "hex")],
    ["ASCII that is not JSON", Buffer.from("hello, not json")],
    ["truncated JSON", Buffer.from('{"method": "sta')],
    ["JSON with trailing garbage", Buffer.from('{"method": "status"} trailing')],
    ["an empty message", Buffer.alloc(0)],
    ["a lone NUL byte", Buffer.from([0])],
  ])("%s → Failed to decode the request", async (_label, bytes) => {
    expectFailure(await c.send(bytes), /^Failed to decode the request: JSON decode error: /);
    await stillServing();
  });
});

describe("values that are not maps", () => {
  it.each([
    ["an array", "[1, 2, 3]", "Incorrect request type: <class 'list'>. Dictionary is expected"],
    ["an int", "42", "Incorrect request type: <class 'int'>. Dictionary is expected"],
    ["a float", "4.5", "Incorrect request type: <class 'float'>. Dictionary is expected"],
    ["null", "null", "Incorrect request type: <class 'NoneType'>. Dictionary is expected"],
    ["a boolean", "true", "Incorrect request type: <class 'bool'>. Dictionary is expected"],
    ["a string", '"status"', "Failed to decode the request: status"],
  ])("%s → success: false", async (_label, text, msg) => {
    expectFailure(await c.send(Buffer.from(text)), msg);
    await stillServing();
  });
});

describe("envelope", () => {
  it("refuses extra top-level keys", async () => {
    const r = await c.send(encode({ method: "status", params: {}, id: 1, jsonrpc: "2.0" }, "json"));
    expectFailure(
      r,
      "Request contains unexpected keys ['id', 'jsonrpc']. Allowed keys: ('method', 'params')",
    );
    await stillServing();
  });

  it("refuses a missing or null method", async () => {
    expectFailure(
      await c.send(Buffer.from('{"params": {}}')),
      "Invalid request format: method is not specified: {'params': {}}",
    );
    expectFailure(
      await c.send(Buffer.from("{}")),
      "Invalid request format: method is not specified: {}",
    );
    expectFailure(
      await c.send(Buffer.from('{"method": null}')),
      /^Invalid request format: method is not specified/,
    );
    await stillServing();
  });

  it("refuses a method that is not a string", async () => {
    for (const method of [5, true, ["status"], { a: 1 }, 1.5]) {
      expectFailure(
        await c.request(method as unknown as string),
        /^Invalid request format: method must be a string/,
      );
    }
    await stillServing();
  });

  it("names an unknown method", async () => {
    expectFailure(await c.request("x"), "Unknown method 'x'");
    expectFailure(await c.request("x", { a: 1 }), "Unknown method 'x'");
    expectFailure(await c.request(""), "Unknown method ''");
    expectFailure(await c.request("constructor"), "Unknown method 'constructor'");
    expectFailure(await c.request("__proto__"), "Unknown method '__proto__'");
    expectFailure(await c.request("STATUS"), "Unknown method 'STATUS'");
    expectFailure(await c.request("it's"), `Unknown method "it's"`);
    await stillServing();
  });

  it("does not let a __proto__ key stand in for the method", async () => {
    const r = await c.send(Buffer.from('{"__proto__": {"method": "status"}}'));
    expectFailure(
      r,
      "Request contains unexpected keys ['__proto__']. Allowed keys: ('method', 'params')",
    );
    await stillServing();
  });
});

describe("parameters", () => {
  it("names one unsupported parameter, with the method's empty keys", async () => {
    const r = await c.request("config_get", { foo: 1 });
    expect(r).toEqual({
      success: false,
      msg: "Error: API request contains unsupported parameters: 'foo'. Supported parameters: []",
      config: {},
    });
    await stillServing();
  });

  it("lists several unsupported parameters", async () => {
    const r = await c.request("task_status", { task_uid: "a", foo: 1, bar: 2 });
    expect(r).toEqual({
      success: false,
      msg: "Error: API request contains unsupported parameters: ['foo', 'bar']. Supported parameters: ['task_uid']",
      task_uid: null,
      status: null,
    });
    await stillServing();
  });

  it("refuses params that are not a map", async () => {
    for (const params of [null, [1, 2], "x", 3]) {
      const r = await c.request("config_get", params);
      expectFailure(r, /^Error: Parameters must be a map/);
      expect(r.config).toEqual({});
    }
    await stillServing();
  });

  it("refuses wrong parameter types", async () => {
    const ts = await c.request("task_status", { task_uid: 10 });
    expectFailure(
      ts,
      "Error: 'task_uid' must be a string or a list of strings: type(task_uid)=<class 'int'>",
    );
    expect(ts.status).toBeNull();
    expectFailure(
      await c.request("task_status", { task_uid: [1, 2] }),
      /^Error: 'task_uid' must be a string/,
    );
    expectFailure(
      await c.request("history_clear", { size: "x" }),
      "Error: The 'size' parameter must be an integer: size='x'",
    );
    expectFailure(
      await c.request("queue_autostart", {}),
      "Error: Required 'enable' parameter is missing in 'queue_autostart' API call.",
    );
    expectFailure(
      await c.request("queue_autostart", { enable: "yes" }),
      "Error: Parameter 'enable' must be a boolean",
    );
    expectFailure(
      await c.request("manager_stop", { option: "bogus" }),
      "Error: Option 'bogus' is not allowed. Allowed options: ('safe_off', 'safe_on')",
    );
    expectFailure(
      await c.request("manager_stop", { option: 7 }),
      /^Error: Parameter 'option' must be of type string/,
    );
    expectFailure(
      await c.request("re_pause", { option: "later" }),
      "Option 'later' is not supported. Available options: ('deferred', 'immediate')",
    );
    await stillServing();
  });

  it("refuses deeply nested values cleanly (no stack overflow)", async () => {
    // Within the nesting limit: the parameter checks see the value, and the reply echoes it.
    const inside = "[".repeat(250) + "]".repeat(250);
    const ts = await c.send(
      Buffer.from(`{"method": "task_status", "params": {"task_uid": ${inside}}}`),
    );
    expect(ts).toEqual({
      success: false,
      msg: "Error: 'task_uid' must be a string or a list of strings: type(task_uid)=<class 'list'>",
      task_uid: JSON.parse(inside) as unknown,
      status: null,
    });
    // Past it (100,000 levels): refused by the decoder, naming the place and the limit.
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const tooDeep = (where: string) =>
      `Failed to decode the request: the message nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep (at ${where}); the limit is ${MAX_NESTING_DEPTH} levels`;
    expect(
      await c.send(Buffer.from(`{"method": "task_status", "params": {"task_uid": ${deep}}}`)),
    ).toEqual({ success: false, msg: tooDeep("params.task_uid") });
    expect(await c.send(Buffer.from(`{"params": ${deep}}`))).toEqual({
      success: false,
      msg: tooDeep("params[0]"),
    });
    expect(await c.send(Buffer.from(`{"method": ${deep}}`))).toEqual({
      success: false,
      msg: tooDeep("method[0]"),
    });
    await stillServing();
  });

  it("knows every method of the table (never 'Unknown method')", async () => {
    for (const name of METHOD_NAMES) {
      const r = await c.request(name, { zz_unknown: 1 });
      if (name === "status" || name === "ping") {
        expect(Object.keys(r)).toEqual(STATUS_KEYS);
        continue;
      }
      expect(r.success, name).toBe(false);
      expect(String(r.msg), name).toContain(
        "API request contains unsupported parameters: 'zz_unknown'",
      );
    }
    await stillServing();
  });

  it("serves every method of the table (none answers 'not implemented yet')", async () => {
    const served = new Set(
      (() => {
        const m = new Manager(defaultOptions(), createLogger({ quiet: true }));
        try {
          return m.servedMethods();
        } finally {
          m.tasks.close();
        }
      })(),
    );
    expect(METHOD_NAMES.filter((name) => !served.has(name))).toEqual([]);
    // Read-only calls answer over the wire in their method's shape.
    const probes: [MethodName, Reply][] = [
      ["queue_get", {}],
      ["history_get", {}],
      ["lock_info", {}],
      ["re_runs", {}],
      ["re_metadata", {}],
      ["runs_list", {}],
      ["queue_item_get", {}],
      ["task_info", { task_uid: "no-such-uid" }],
      ["run_info", { run_uid: "no-such-run" }],
    ];
    for (const [name, params] of probes) {
      expect(isMethodName(name)).toBe(true);
      const r = await c.request(name, params);
      expect(typeof r.success, name).toBe("boolean");
      expect(typeof r.msg, name).toBe("string");
      expect(String(r.msg), name).not.toMatch(/^Unknown method|not implemented yet/);
      if (r.success === false) {
        for (const k of Object.keys(failureExtras(name, params))) expect(r, name).toHaveProperty(k);
      }
    }
    await stillServing();
  });
});

describe("oversized messages", () => {
  it("refuses a 17 MiB request with the default 16 MiB limit", async () => {
    const big = Buffer.alloc(17 * 1024 * 1024, 0x20);
    big.write('{"method": "status", "params": {"pad": "', 0);
    big.write('"}}', big.length - 3);
    const r = await c.send(big);
    expectFailure(r, /^Request is too large: 17825792 bytes \(the limit is 16777216 bytes\)$/);
    await stillServing();
  });

  it("honours --max-message-size (4096: 5000 bytes refused, 4000 answered)", async () => {
    const small = await startManager({ examples: false, args: ["--max-message-size", "4096"] });
    const sc = new RawClient(small.controlAddr);
    try {
      const pad = (n: number) =>
        encode({ method: "status", params: { pad: "x".repeat(n) } }, "json");
      const overhead = pad(0).length;
      const over = pad(5000 - overhead);
      expect(over.length).toBe(5000);
      expectFailure(
        await sc.send(over),
        "Request is too large: 5000 bytes (the limit is 4096 bytes)",
      );
      const under = pad(4000 - overhead);
      expect(under.length).toBe(4000);
      expect(Object.keys(await sc.send(under))).toEqual(STATUS_KEYS);
      expectFailure(await sc.send(Buffer.alloc(5000, 0xff)), /^Request is too large/);
      expect(Object.keys(await sc.request("status"))).toEqual(STATUS_KEYS);
    } finally {
      sc.close();
      await small.stop();
    }
  });
});

describe("raw DEALER clients", () => {
  let d: Dealer;
  beforeAll(() => {
    d = new Dealer({ receiveTimeout: 30_000, linger: 0 });
    d.connect(m.controlAddr);
  });
  afterAll(() => d?.close());

  async function roundTrip(frames: (Buffer | string)[]): Promise<Buffer[]> {
    await d.send(frames);
    return d.receive();
  }

  it("answers 3 frames without the empty delimiter with one success: false frame", async () => {
    const reply = await roundTrip(["a", "b", "c"]);
    expect(reply).toHaveLength(1);
    expectFailure(
      decode(reply[0] as Buffer, "json") as Reply,
      "Failed to decode the request: expected one message frame, got 3",
    );
    await stillServing();
  });

  it("answers 3 frames after the empty delimiter, keeping the delimiter", async () => {
    const reply = await roundTrip(["", '{"method": "status"}', "x", "y"]);
    expect(reply).toHaveLength(2);
    expect((reply[0] as Buffer).length).toBe(0);
    expectFailure(
      decode(reply[1] as Buffer, "json") as Reply,
      "Failed to decode the request: expected one message frame, got 3",
    );
    await stillServing();
  });

  it("answers a delimiter with no body frame", async () => {
    const reply = await roundTrip([""]);
    expect(reply).toHaveLength(2);
    expectFailure(
      decode(reply[1] as Buffer, "json") as Reply,
      "Failed to decode the request: expected one message frame, got 0",
    );
  });

  it("answers binary garbage frames", async () => {
    const reply = await roundTrip([
      Buffer.from([0xff, 0x00]),
      Buffer.from([0xc1]),
      Buffer.alloc(0),
      Buffer.from([1]),
    ]);
    // The empty third frame reads as a delimiter: the two before it are the envelope.
    expect(reply.length).toBeGreaterThanOrEqual(1);
    const body = decode(reply[reply.length - 1] as Buffer, "json") as Reply;
    expect(body.success).toBe(false);
    expect(String(body.msg)).toMatch(/^Failed to decode the request/);
  });

  it("serves a single-frame request without a delimiter (raw DEALER)", async () => {
    const reply = await roundTrip(['{"method": "status"}']);
    expect(reply).toHaveLength(1);
    expect(Object.keys(decode(reply[0] as Buffer, "json") as Reply)).toEqual(STATUS_KEYS);
    const withDelim = await roundTrip(["", '{"method": "nope"}']);
    expect(withDelim).toHaveLength(2);
    expectFailure(decode(withDelim[1] as Buffer, "json") as Reply, "Unknown method 'nope'");
    await stillServing();
  });
});

describe("msgpack oddities (msgpack manager)", () => {
  let mm: RunningManager;
  let mc: RawClient;
  beforeAll(async () => {
    mm = await startManager({ examples: false, encoding: "msgpack" });
    mc = new RawClient(mm.controlAddr, { encoding: "msgpack" });
  });
  afterAll(async () => {
    mc?.close();
    await mm?.stop();
  });

  it("refuses the reserved byte 0xc1, truncated maps and trailing bytes as undecodable", async () => {
    for (const hex of ["c1", "81a66d6574", "81a66d6574686f64a6737461747573ff", ""]) {
      expectFailure(
        await mc.send(Buffer.from(hex, "hex")),
        /^Failed to decode the request: msgpack decode error: /,
      );
    }
    expect(Object.keys(await mc.request("status"))).toEqual(STATUS_KEYS);
  });

  it("refuses bin and timestamps as requests or params without listing their bytes", async () => {
    const bin = Buffer.alloc(4 * 1024 * 1024, 7);
    const top = await mc.send(encode(bin, "msgpack"));
    expectFailure(top, "Incorrect request type: <class 'bytes'>. Dictionary is expected");
    const asParams = await mc.request("config_get", bin);
    expectFailure(asParams, "Error: Parameters must be a map (dictionary), got <class 'bytes'>");
    const ts = await mc.send(Buffer.from("d6ff00000001", "hex"));
    expectFailure(
      ts,
      "Incorrect request type: <class 'datetime.datetime'>. Dictionary is expected",
    );
    expect(Object.keys(await mc.request("status"))).toEqual(STATUS_KEYS);
  });

  it("echoes a bin task_uid in a failure without breaking the reply", async () => {
    const r = await mc.request("task_status", { task_uid: Buffer.from("abc") });
    expectFailure(
      r,
      /^Error: 'task_uid' must be a string or a list of strings: type\(task_uid\)=<class 'bytes'>/,
    );
    expect(Object.keys(await mc.request("status"))).toEqual(STATUS_KEYS);
  });
});
