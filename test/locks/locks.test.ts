/**
 * lock, unlock, lock_info and the lock check of locked methods, against real
 * managers: the recorded Python replies of vectors.json cases 134–150 replayed
 * in order (keys, types, values; volatile paths checked for type, and refusal
 * messages compared exactly with the lock's own time_str put in), then the
 * rules around them: the lock kinds, methods whose other errors have no
 * prefix, bad input, the emergency key, status, concurrent lockers, and that
 * a key never comes back in a reply.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import vectors from "../fixtures/vectors.json" with { type: "json" };
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { fn, openEnvironment, USER, waitCompleted } from "../helpers/tasks.js";

interface Case {
  name: string;
  request: { method: string; params: Record<string, unknown> };
  reply: Record<string, unknown>;
  volatile: string[];
}
type Reply = Record<string, unknown>;

const ALL = vectors as unknown as Case[];
function vector(i: number): Case {
  const c = ALL[i];
  if (!c) throw new Error(`no vector ${i}`);
  return c;
}

const TIME_STR = /\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d/g;
const NOT_IMPLEMENTED = /is not implemented yet/;

/** Python's `datetime.fromtimestamp(t).strftime("%m/%d/%Y %H:%M:%S")`, written out here on its own. */
function pyTimeStr(t: number): string {
  const d = new Date(t * 1000);
  const two = (n: number) => (n < 10 ? `0${n}` : String(n));
  return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${d.getFullYear()} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/**
 * Compare a reply with a recorded one: same keys, types and values; a volatile
 * path only by type, except `msg`, which must equal the recorded text with the
 * lock time of this run (`timeStr`) in place of the recorded one.
 */
function compare(actual: unknown, expected: unknown, c: Case, timeStr: string, path = ""): void {
  const where = `${c.name}: ${path || "(reply)"}`;
  if (c.volatile.includes(path)) {
    if (path === "msg") {
      expect(actual, where).toBe((expected as string).replace(TIME_STR, timeStr));
    } else {
      expect(kind(actual), where).toBe(kind(expected));
    }
    return;
  }
  expect(kind(actual), where).toBe(kind(expected));
  if (Array.isArray(expected)) {
    const a = actual as unknown[];
    expect(a.length, where).toBe(expected.length);
    expected.forEach((e, i) => compare(a[i], e, c, timeStr, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    expect(Object.keys(a).sort(), `${where} keys`).toEqual(Object.keys(e).sort());
    for (const k of Object.keys(e)) compare(a[k], e[k], c, timeStr, path ? `${path}.${k}` : k);
    return;
  }
  expect(actual, where).toEqual(expected);
}

/** Send case `i`'s request (with `params` merged in) and compare the reply with the recorded one. */
async function replay(
  c: RawClient,
  i: number,
  timeStr: string,
  params: Record<string, unknown> = {},
): Promise<Reply> {
  const v = vector(i);
  const r = await c.request(v.request.method, { ...v.request.params, ...params });
  compare(r, v.reply, v, timeStr);
  return r;
}

/** A lock_info map of a lock set just now: time is now, time_str is its local time. */
function expectFreshLockInfo(info: Reply, before: number, after: number): void {
  expect(typeof info.time).toBe("number");
  const t = info.time as number;
  expect(t).toBeGreaterThanOrEqual(before / 1000 - 0.001);
  expect(t).toBeLessThanOrEqual(after / 1000 + 0.001);
  expect(info.time_str).toBe(pyTimeStr(t));
}

const UNLOCKED_INFO = {
  environment: false,
  queue: false,
  user: null,
  time: null,
  time_str: "",
  note: null,
  emergency_lock_key_is_set: false,
};

/** The Python server's refusal text, for a lock of this run. */
function invalidKey(prefix: string, info: Reply, emergency = "not set"): string {
  return (
    `${prefix}Invalid lock key: \nRE Manager is locked by ${String(info.user)} at ${String(info.time_str)}\n` +
    `Environment is locked: ${info.environment ? "True" : "False"}\n` +
    `Queue is locked:       ${info.queue ? "True" : "False"}\n` +
    `Emergency lock key:    ${emergency}\n` +
    `Note: ${(info.note as string | null) || "---"}`
  );
}

describe("the recorded Python session (vectors 134–150)", () => {
  let m: RunningManager;
  let c: RawClient;
  /** Replies seen, to check that no key ever comes back. */
  const seen: Reply[] = [];
  let info: Reply = {};
  let uid = "";

  beforeAll(async () => {
    m = await startManager();
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("134 lock (environment): the lock_info of a fresh lock", async () => {
    const before = Date.now();
    const r = await replay(c, 134, "");
    const after = Date.now();
    seen.push(r);
    expect(r.success).toBe(true);
    info = r.lock_info as Reply;
    uid = r.lock_info_uid as string;
    expectFreshLockInfo(info, before, after);
  });

  it("135 status shows the lock and its lock_info_uid", async () => {
    const s = await c.request("status");
    expect(s.lock).toEqual(vector(135).reply.lock);
    expect(s.lock_info_uid).toBe(uid);
  });

  it("136/137 function_execute is refused without the key and with a wrong one", async () => {
    seen.push(await replay(c, 136, info.time_str as string));
    seen.push(await replay(c, 137, info.time_str as string));
    // The exact text, built here independently of the recording.
    const r = await c.request("function_execute", vector(136).request.params);
    expect(r.msg).toBe(invalidKey("Error: ", info));
  });

  it("138 function_execute with the key runs", async () => {
    const r = await replay(c, 138, info.time_str as string);
    seen.push(r);
    expect((await waitCompleted(c, r.task_uid as string)).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  });

  it("139/140 queue editing is not guarded by the environment lock", async () => {
    const v = vector(139);
    const r = await c.request(v.request.method, v.request.params);
    seen.push(r);
    expect(String(r.msg)).not.toContain("Invalid lock key");
    if (NOT_IMPLEMENTED.test(String(r.msg))) return; // the queue handlers are not built yet
    compare(r, v.reply, v, "");
    seen.push(await replay(c, 140, ""));
  });

  it("141/142 lock_info without a key and with the key", async () => {
    const a = await replay(c, 141, "");
    const b = await replay(c, 142, "");
    seen.push(a, b);
    expect(a.lock_info).toEqual(info);
    expect(b.lock_info).toEqual(info);
    expect(a.lock_info_uid).toBe(uid);
    expect(b.lock_info_uid).toBe(uid);
  });

  it("143 lock_info with a wrong key fails and still reports the lock", async () => {
    const r = await replay(c, 143, info.time_str as string);
    seen.push(r);
    expect(r.lock_info).toEqual(info);
    expect(r.lock_info_uid).toBe(uid);
    expect(r.msg).toBe(invalidKey("Error: ", info));
  });

  it("144 lock without environment or queue is refused and changes nothing", async () => {
    seen.push(await replay(c, 144, ""));
    const s = await c.request("status");
    expect(s.lock).toEqual({ environment: true, queue: false });
    expect(s.lock_info_uid).toBe(uid);
  });

  it("145 lock with a different key is refused", async () => {
    const r = await replay(c, 145, info.time_str as string);
    seen.push(r);
    expect(String(r.msg)).toBe(
      invalidKey("Error: ", info).replace(
        "Error: Invalid lock key: ",
        "Error: RE Manager was locked with a different key: ",
      ),
    );
    // A different key with no options: the key is checked first.
    const n = await c.request("lock", { lock_key: "other-key", user: "Golden User" });
    expect(String(n.msg)).toMatch(/^Error: RE Manager was locked with a different key: \n/);
    expect((await c.request("status")).lock_info_uid).toBe(uid);
  });

  it("146 lock again with the same key replaces the scope, user, note and time", async () => {
    const before = Date.now();
    const r = await replay(c, 146, "");
    const after = Date.now();
    seen.push(r);
    const next = r.lock_info as Reply;
    expectFreshLockInfo(next, before, after);
    expect(next.note).toBeNull();
    expect(r.lock_info_uid).not.toBe(uid);
    info = next;
    uid = r.lock_info_uid as string;
    const s = await c.request("status");
    expect(s.lock).toEqual({ environment: false, queue: true });
    expect(s.lock_info_uid).toBe(uid);
  });

  it("147 a queue method is refused under the queue lock, with its own prefix", async () => {
    const r = await replay(c, 147, info.time_str as string);
    seen.push(r);
    expect(r.msg).toBe(invalidKey("Failed to add an item: ", info));
  });

  it("the environment is free under a queue-only lock", async () => {
    const r = await c.request("function_execute", { item: fn("function_sleep", [0]), ...USER });
    seen.push(r);
    expect(r.success, String(r.msg)).toBe(true);
    await waitCompleted(c, r.task_uid as string);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  });

  it("148 unlock with a wrong key fails and reports the lock", async () => {
    const r = await replay(c, 148, info.time_str as string);
    seen.push(r);
    expect(r.lock_info).toEqual(info);
    expect(r.lock_info_uid).toBe(uid);
    expect((await c.request("status")).lock).toEqual({ environment: false, queue: true });
  });

  it("149 unlock with the key", async () => {
    const r = await replay(c, 149, "");
    seen.push(r);
    expect(r.lock_info).toEqual(UNLOCKED_INFO);
    expect(r.lock_info_uid).not.toBe(uid);
    uid = r.lock_info_uid as string;
    const s = await c.request("status");
    expect(s.lock).toEqual({ environment: false, queue: false });
    expect(s.lock_info_uid).toBe(uid);
  });

  it("150 unlock when not locked succeeds and changes nothing", async () => {
    const r = await replay(c, 150, "");
    seen.push(r);
    expect(r.lock_info_uid).toBe(uid);
    expect((await c.request("status")).lock_info_uid).toBe(uid);
    // Unlocked: any key passes, lock_info with any key succeeds.
    const i = await c.request("lock_info", { lock_key: "anything" });
    expect(i).toEqual({ success: true, msg: "", lock_info: UNLOCKED_INFO, lock_info_uid: uid });
  });

  it("no reply carried the lock key", () => {
    expect(seen.length).toBeGreaterThan(15);
    for (const r of seen) expect(JSON.stringify(r)).not.toContain("golden-key");
  });
});

describe("lock rules", () => {
  let m: RunningManager;
  let c: RawClient;
  const KEY = "s3cret-k3y-value";
  const lock = (params: Record<string, unknown>) =>
    c.request("lock", { lock_key: KEY, user: "Ann", ...params });
  const unlock = async () => {
    expect((await c.request("unlock", { lock_key: KEY })).success).toBe(true);
  };

  beforeAll(async () => {
    m = await startManager({ encoding: "msgpack" });
    c = new RawClient(m.controlAddr, { encoding: "msgpack" });
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("refuses environment methods whose other errors have no prefix with 'Error: '", async () => {
    const r = await lock({ environment: true, note: "maintenance" });
    expect(r.success).toBe(true);
    const i = r.lock_info as Reply;
    for (const method of ["environment_open", "environment_close", "re_pause", "queue_start"]) {
      const x = await c.request(method, {});
      expect(x, method).toEqual({ success: false, msg: invalidKey("Error: ", i) });
    }
    // The right key passes the check: the method's own answer, not a lock refusal.
    const e = await c.request("environment_close", { lock_key: KEY });
    expect(e).toEqual({ success: false, msg: "RE Worker environment does not exist." });
    await unlock();
    expect(await c.request("environment_close", {})).toEqual(e);
  });

  it("words the refusals of batch add, update, kernel_interrupt and permissions as Python does", async () => {
    const r = await lock({ environment: true, queue: true });
    expect(r.success).toBe(true);
    const i = r.lock_info as Reply;
    const refusals: [string, Record<string, unknown>, string][] = [
      ["queue_item_add_batch", { items: [] }, "Failed to add an item: "],
      ["queue_item_update", {}, "Failed to add an item: "],
      ["kernel_interrupt", {}, "Error: "],
      ["permissions_reload", {}, "Error: "],
      ["permissions_set", { user_group_permissions: {} }, "Error: "],
    ];
    for (const [method, params, prefix] of refusals) {
      const x = await c.request(method, params);
      expect(x.success, method).toBe(false);
      expect(x.msg, method).toBe(invalidKey(prefix, i));
    }
    // With the key, permissions_reload is the method's own answer again.
    expect((await c.request("permissions_reload", { lock_key: KEY })).success).toBe(true);
    await unlock();
  });

  it("checks the lock before the parameters' types, after unsupported names (as Python)", async () => {
    const r = await lock({ environment: true });
    expect(r.success).toBe(true);
    const i = r.lock_info as Reply;
    const bad = { item: { item_type: "function", name: "f" }, user: "u", user_group: "primary" };
    const refused = await c.request("function_execute", { ...bad, run_in_background: "yes" });
    expect(refused.msg).toBe(invalidKey("Error: ", i));
    const unsupported = await c.request("function_execute", { ...bad, foo: 1 });
    expect(String(unsupported.msg)).toMatch(
      /^Error: API request contains unsupported parameters: 'foo'/,
    );
    const typed = await c.request("function_execute", {
      ...bad,
      run_in_background: "yes",
      lock_key: KEY,
    });
    expect(String(typed.msg)).toMatch(/run_in_background/);
    await unlock();
  });

  it("locks both when asked; each kind then needs the key", async () => {
    const r = await lock({ environment: true, queue: true });
    const i = r.lock_info as Reply;
    expect(i).toMatchObject({ environment: true, queue: true, user: "Ann", note: null });
    expect((await c.request("status")).lock).toEqual({ environment: true, queue: true });
    const q = await c.request("queue_clear", {});
    expect(q).toEqual({ success: false, msg: invalidKey("Error: ", i) });
    const h = await c.request("history_clear", { lock_key: "nope" });
    expect(h.msg).toBe(invalidKey("Error: ", i));
    const e = await c.request("function_execute", { item: fn("function_sleep", [0]), ...USER });
    expect(e).toEqual({
      success: false,
      msg: invalidKey("Error: ", i),
      item: null,
      task_uid: null,
    });
    // An empty key is a wrong key.
    const l = await c.request("lock_info", { lock_key: "" });
    expect(l).toMatchObject({ success: false, msg: invalidKey("Error: ", i), lock_info: i });
    // Unlocked methods are not affected.
    expect((await c.request("permissions_get", {})).success).toBe(true);
    await unlock();
  });

  it("an empty note shows as '---', a note as itself", async () => {
    let i = (await lock({ queue: true, note: "" })).lock_info as Reply;
    expect(i.note).toBe("");
    expect((await c.request("queue_clear", {})).msg).toMatch(/\nNote: ---$/);
    i = (await lock({ queue: true, note: "beam time 'A'" })).lock_info as Reply;
    expect((await c.request("queue_clear", {})).msg).toMatch(/\nNote: beam time 'A'$/);
    await unlock();
  });

  it("answers bad input with success: false and the empty lock_info", async () => {
    const empty = { lock_info: {}, lock_info_uid: null };
    const cases: [string, Record<string, unknown>, string | RegExp][] = [
      [
        "lock",
        { lock_key: KEY, environment: true },
        "Error: User name is not specified: 'user' is a required parameter",
      ],
      [
        "lock",
        { lock_key: KEY, user: "", environment: true },
        "Error: User name must be a non-empty string: user = ''",
      ],
      [
        "lock",
        { user: "Ann", environment: true },
        "Error: Lock key is not specified: 'lock_key' is a required parameter",
      ],
      [
        "lock",
        { lock_key: "", user: "Ann", environment: true },
        "Error: Lock key must be a non-empty string: lock_key = ''",
      ],
      [
        "lock",
        { lock_key: KEY, user: "Ann" },
        "Error: Invalid option: environment and/or queue must be selected: environment=False queue=False",
      ],
      [
        "lock",
        { lock_key: KEY, user: "Ann", environment: false, queue: false },
        "Error: Invalid option: environment and/or queue must be selected: environment=False queue=False",
      ],
      ["lock", { lock_key: 17, user: "Ann", environment: true }, /^Error: .*lock_key/],
      ["lock", { lock_key: KEY, user: "Ann", environment: "yes" }, /^Error: .*environment/],
      ["lock", { lock_key: KEY, user: "Ann", queue: true, note: 5 }, /^Error: .*note/],
      ["lock", { lock_key: KEY, user: ["Ann"], queue: true }, /^Error: .*user/],
      [
        "lock",
        { lock_key: KEY, user: "Ann", queue: true, scope: "all" },
        /^Error: API request contains unsupported parameters: 'scope'/,
      ],
      ["unlock", {}, "Error: Request contains no lock key: 'lock_key' parameter is required"],
      ["unlock", { lock_key: "" }, "Error: Lock key must be a non-empty string: lock_key = ''"],
      ["unlock", { lock_key: { k: 1 } }, /^Error: .*lock_key/],
      ["lock_info", { lock_key: 5 }, /^Error: .*lock_key/],
    ];
    for (const [method, params, msg] of cases) {
      const r = await c.request(method, params);
      const label = `${method} ${JSON.stringify(params)}`;
      expect(Object.keys(r).sort(), label).toEqual([
        "lock_info",
        "lock_info_uid",
        "msg",
        "success",
      ]);
      expect(r, label).toMatchObject({ success: false, ...empty });
      if (typeof msg === "string") expect(r.msg, label).toBe(msg);
      else expect(String(r.msg), label).toMatch(msg);
    }
    // A non-string key on a locked method is refused too, and nothing got locked.
    const f = await c.request("queue_clear", { lock_key: 42 });
    expect(f.success).toBe(false);
    expect(String(f.msg)).toMatch(/^Error: .*lock_key/);
    expect((await c.request("status")).lock).toEqual({ environment: false, queue: false });
  });

  it("gives the lock to exactly one of many clients locking at once", async () => {
    const clients = Array.from(
      { length: 8 },
      () => new RawClient(m.controlAddr, { encoding: "msgpack" }),
    );
    try {
      const replies = await Promise.all(
        clients.map((k, n) =>
          k.request("lock", { lock_key: `key-${n}`, user: `user-${n}`, environment: true }),
        ),
      );
      const won = replies.flatMap((r, n) => (r.success ? [n] : []));
      expect(won).toHaveLength(1);
      const w = won[0] as number;
      for (const [n, r] of replies.entries()) {
        if (n === w) continue;
        expect(String(r.msg)).toMatch(/^Error: RE Manager was locked with a different key: \n/);
        expect(String(r.msg)).toContain(`locked by user-${w} at`);
      }
      const i = await c.request("lock_info", { lock_key: `key-${w}` });
      expect(i.success).toBe(true);
      expect((i.lock_info as Reply).user).toBe(`user-${w}`);
      expect((await c.request("unlock", { lock_key: `key-${w}` })).success).toBe(true);
    } finally {
      for (const k of clients) k.close();
    }
  });

  it("publishes each lock change in status with a new lock_info_uid", async () => {
    const uids = new Set<string>();
    const status = async () => {
      const s = await c.request("status");
      return { lock: s.lock, uid: s.lock_info_uid as string };
    };
    uids.add((await status()).uid);
    const steps: [() => Promise<unknown>, unknown][] = [
      [() => lock({ environment: true }), { environment: true, queue: false }],
      [() => lock({ queue: true }), { environment: false, queue: true }],
      [() => lock({ environment: true, queue: true }), { environment: true, queue: true }],
      [() => c.request("unlock", { lock_key: KEY }), { environment: false, queue: false }],
    ];
    for (const [step, expected] of steps) {
      await step();
      const s = await status();
      expect(s.lock).toEqual(expected);
      expect(uids.has(s.uid), "a new lock_info_uid").toBe(false);
      uids.add(s.uid);
    }
  });

  it("never returns the key, nor stores it in lock_info", async () => {
    const r = await lock({ environment: true, queue: true, note: "n" });
    const replies = [
      r,
      await c.request("lock_info", {}),
      await c.request("lock_info", { lock_key: KEY }),
      await c.request("lock_info", { lock_key: "wrong" }),
      await c.request("queue_clear", {}),
      await c.request("lock", { lock_key: "other", user: "Bob", queue: true }),
      await c.request("unlock", { lock_key: "wrong" }),
      await c.request("status"),
      await c.request("unlock", { lock_key: KEY }),
    ];
    for (const x of replies) expect(JSON.stringify(x)).not.toContain(KEY);
    expect(Object.keys(r.lock_info as Reply).sort()).toEqual(Object.keys(UNLOCKED_INFO).sort());
  });
});

describe("the emergency lock key", () => {
  const EMERGENCY = "break-glass-7";
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    m = await startManager({ env: { QSERVER_EMERGENCY_LOCK_KEY_FOR_SERVER: EMERGENCY } });
    c = new RawClient(m.controlAddr);
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("is reported as set, unlocks a lock whose key is lost, and is not a lock key", async () => {
    const unlocked = await c.request("lock_info", {});
    expect((unlocked.lock_info as Reply).emergency_lock_key_is_set).toBe(true);

    const r = await c.request("lock", {
      lock_key: "lost-key",
      user: "Ann",
      environment: true,
      queue: true,
    });
    expect(r.success).toBe(true);
    const i = r.lock_info as Reply;
    expect(i.emergency_lock_key_is_set).toBe(true);

    // As in the Python server, only unlock accepts it.
    const refused = await c.request("environment_open", { lock_key: EMERGENCY });
    expect(refused).toEqual({ success: false, msg: invalidKey("Error: ", i, "set") });
    const info = await c.request("lock_info", { lock_key: EMERGENCY });
    expect(info.success).toBe(false);
    expect(info.msg).toBe(invalidKey("Error: ", i, "set"));
    const relock = await c.request("lock", { lock_key: EMERGENCY, user: "Bob", queue: true });
    expect(String(relock.msg)).toMatch(/^Error: RE Manager was locked with a different key: \n/);
    expect(String(relock.msg)).toContain("Emergency lock key:    set");

    const wrong = await c.request("unlock", { lock_key: "not-it" });
    expect(wrong.success).toBe(false);

    const u = await c.request("unlock", { lock_key: EMERGENCY });
    expect(u).toMatchObject({
      success: true,
      msg: "",
      lock_info: { ...UNLOCKED_INFO, emergency_lock_key_is_set: true },
    });
    expect((await c.request("status")).lock).toEqual({ environment: false, queue: false });
    for (const x of [unlocked, r, refused, info, relock, wrong, u]) {
      expect(JSON.stringify(x)).not.toContain(EMERGENCY);
      expect(JSON.stringify(x)).not.toContain("lost-key");
    }
  });
});
