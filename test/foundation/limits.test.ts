/**
 * The limits a client can run into, against a real manager (README, "Limits"):
 *  - nesting: a request nested MAX_NESTING_DEPTH levels deep is served (its
 *    item stored, returned by queue_get in the same encoding, kept across a
 *    kill -9); one level more is refused before any handler runs, with the
 *    limit named, and changes nothing, however often it is retried; the same
 *    for function arguments, and a function whose return value is too deep
 *    fails clearly. Both encodings (JSON on LMDB, msgpack on Redis).
 *  - size: a request over --max-message-size gets a `success: false` reply,
 *    also one of 70 MB, past the 64 MiB where the socket used to drop it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encode, MAX_NESTING_DEPTH, type WireEncoding } from "../../src/protocol/index.js";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { openEnvironment, USER, waitCompleted } from "../tasks/helpers.js";

/** Lists nested `levels` deep around 1 (`nest(2)` is `[[1]]`). */
function nest(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

const MARK = "@DEEP@";

/**
 * The bytes of `msg` with its one MARK string replaced by lists nested
 * `levels` deep around 1, written by hand: the codecs' own recursion must not
 * decide what the test can send.
 */
function withDeep(msg: unknown, levels: number, enc: WireEncoding): Buffer {
  const b = encode(msg, enc);
  const mark = encode(MARK, enc);
  const at = b.indexOf(mark);
  expect(at).toBeGreaterThan(0);
  const deep =
    enc === "json"
      ? Buffer.from("[".repeat(levels) + "1" + "]".repeat(levels))
      : Buffer.concat([Buffer.alloc(levels, 0x91), Buffer.from([0x01])]);
  return Buffer.concat([b.subarray(0, at), deep, b.subarray(at + mark.length)]);
}

/** queue_item_add of a plan whose md holds lists nested `levels` deep: 5 + levels in all. */
function addItem(levels: number, enc: WireEncoding): Buffer {
  const item = {
    item_type: "plan",
    name: "count",
    args: [["det1"]],
    kwargs: { num: 1, md: { deep: MARK } },
  };
  return withDeep({ method: "queue_item_add", params: { item, ...USER } }, levels, enc);
}
/** Levels of addItem's request around the nested lists: request, params, item, kwargs, md. */
const ITEM_OVERHEAD = 5;

/** function_execute of func_for_test_echo(x), x lists nested `levels` deep: 4 + levels in all. */
function echo(levels: number, enc: WireEncoding): Buffer {
  const item = { item_type: "function", name: "func_for_test_echo", args: [MARK] };
  return withDeep({ method: "function_execute", params: { item, ...USER } }, levels, enc);
}
const ECHO_OVERHEAD = 4;

const REFUSED = {
  success: false,
  msg: `Failed to decode the request: the message nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep (at params.item); the limit is ${MAX_NESTING_DEPTH} levels`,
};

const SCRIPT = `
export function func_for_test_echo(x) { return x; }
export function func_for_test_nest(levels) { let v = 1; for (let i = 0; i < levels; i++) v = [v]; return v; }
`;

function storeNamed(label: string): () => Promise<StoreSetup> {
  const found = STORES.find(([l]) => l === label);
  if (!found) throw new Error(`no store ${label}`);
  return found[1];
}

const CASES: [WireEncoding, string, () => Promise<StoreSetup>][] = [
  ["json", "LMDB", storeNamed("LMDB")],
  ["msgpack", "Redis", storeNamed("Redis")],
];

describe.each(CASES)("nesting over %s (%s store)", (enc, _label, makeStore) => {
  let store: StoreSetup;
  let m: RunningManager;
  let c: RawClient;

  beforeAll(async () => {
    store = await makeStore();
    m = await startManager({ encoding: enc, publishConsole: false, args: store.args });
    c = new RawClient(m.controlAddr, { encoding: enc, timeoutMs: 10_000 });
    await openEnvironment(c);
    const up = await c.request("script_upload", { script: SCRIPT });
    // The manager's log tells why, should the environment be gone already.
    expect(up.success, `${String(up.msg)}\n${m.output().slice(-3000)}`).toBe(true);
    expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  }, 90_000);
  afterAll(async () => {
    c?.close();
    await m?.stop();
    await store?.cleanup();
  });

  /** The item added at the limit, as the reply gave it. */
  let added: unknown;

  async function run(request: Buffer): Promise<Record<string, unknown>> {
    const r = await c.send(request);
    expect(r.success, String(r.msg)).toBe(true);
    return waitCompleted(c, r.task_uid as string);
  }

  it("an item at the limit is stored and returned; one level more is refused up front, changing nothing", async () => {
    const under = await c.send(addItem(MAX_NESTING_DEPTH - ITEM_OVERHEAD, enc));
    expect(under.success, String(under.msg)).toBe(true);
    expect(under.qsize).toBe(1);
    const item = under.item as { item_uid: string; kwargs: { md: { deep: unknown } } };
    expect(item.kwargs.md.deep).toEqual(nest(MAX_NESTING_DEPTH - ITEM_OVERHEAD));
    const queued = await c.request("queue_get");
    expect(queued.items).toEqual([item]);
    added = item;

    // One level over, a retry of it, and the 1,500 levels: each refused, nothing added.
    for (const levels of [1, 1, 1500 - MAX_NESTING_DEPTH]) {
      expect(await c.send(addItem(MAX_NESTING_DEPTH - ITEM_OVERHEAD + levels, enc))).toEqual(
        REFUSED,
      );
      expect((await c.request("status")).items_in_queue).toBe(1);
      const q = await c.request("queue_get");
      expect(q.success).toBe(true);
      expect(q.items).toEqual([item]);
      expect(q.plan_queue_uid).toBe(queued.plan_queue_uid);
    }
  });

  it("function arguments at the limit reach the function and come back; one level more is refused up front", async () => {
    const levels = MAX_NESTING_DEPTH - ECHO_OVERHEAD;
    const back = await run(echo(levels, enc));
    expect(back.success, String(back.msg)).toBe(true);
    expect(back.return_value).toEqual(nest(levels));

    const before = await c.request("status");
    for (let i = 0; i < 2; i++) expect(await c.send(echo(levels + 1, enc))).toEqual(REFUSED);
    const s = await c.request("status");
    expect(s.task_results_uid).toBe(before.task_results_uid);
    expect(s.manager_state).toBe("idle");
  });

  it("a return value at the limit is carried; one level more is a clear failure, and the worker goes on", async () => {
    const nestCall = (levels: number) =>
      encode(
        {
          method: "function_execute",
          params: {
            item: { item_type: "function", name: "func_for_test_nest", args: [levels] },
            ...USER,
          },
        },
        enc,
      );
    const ok = await run(nestCall(MAX_NESTING_DEPTH));
    expect(ok.success, String(ok.msg)).toBe(true);
    expect(ok.return_value).toEqual(nest(MAX_NESTING_DEPTH));

    const deep = await run(nestCall(MAX_NESTING_DEPTH + 1));
    expect(deep.success).toBe(false);
    expect(deep.return_value).toBeNull();
    expect(deep.msg).toBe(
      `Error occurred while executing 'Execute function': the return value nests lists and maps more than ${MAX_NESTING_DEPTH} levels deep (at [0][0][0]...); the limit is ${MAX_NESTING_DEPTH} levels`,
    );
    expect((await run(nestCall(2))).return_value).toEqual([[1]]);
  });

  it("the item at the limit is kept across a kill -9 and served again", async () => {
    expect(added).toBeDefined();
    c.close();
    m.proc.kill("SIGKILL");
    await m.exited;
    await m.stop();
    m = await startManager({ encoding: enc, publishConsole: false, args: store.args });
    c = new RawClient(m.controlAddr, { encoding: enc, timeoutMs: 10_000 });
    const after = await c.request("queue_get");
    expect(after.success, String(after.msg)).toBe(true);
    expect(after.items).toEqual([added]);
  }, 60_000);
});

describe("oversized requests", () => {
  let m: RunningManager;
  beforeAll(async () => {
    m = await startManager({ examples: false, publishConsole: false });
  });
  afterAll(async () => {
    await m?.stop();
  });

  it("a 70 MB request (past 64 MiB) gets a success: false reply", async () => {
    const c = new RawClient(m.controlAddr, { timeoutMs: 60_000 });
    try {
      const size = 70_000_000;
      const big = Buffer.alloc(size, 0x20);
      big.write('{"method": "status", "params": {"pad": "', 0);
      big.write('"}}', size - 3);
      expect(await c.send(big)).toEqual({
        success: false,
        msg: `Request is too large: ${size} bytes (the limit is ${16 * 1024 * 1024} bytes)`,
      });
      expect((await c.request("status")).manager_state).toBe("idle");
    } finally {
      c.close();
    }
  }, 120_000);
});
