/**
 * Names that are properties of every JavaScript object (`constructor`,
 * `toString`, `__proto__`, ...) are names like any other, wherever a client
 * sends a name: a method, a parameter, a plan, an instruction, a function, a
 * device, a user group, a run, a task, a queue item, a lock key, a mode key,
 * an option, a keyword argument. Against a real manager with the example
 * startup code, each such name gets the reply an unknown ordinary name gets,
 * with the name put in; never "Internal error", and the log has no
 * error-level record. The ordinary name has the same length and shape (its
 * letters replaced by `q`: `__proto__` → `__qqqqq__`), so that the permissions'
 * patterns treat both alike and messages that wrap long values wrap both alike.
 *
 * The places are generated from the method table where the table says where
 * names go (every method's parameter names, every method that takes a
 * `user_group`, a `run_uid`, a `task_uid`, a queue item uid).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METHOD_NAMES, methods, type MethodName } from "../../src/protocol/index.js";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { fn } from "../tasks/helpers.js";

type Params = Record<string, unknown>;
type Reply = Record<string, unknown>;

/** Every property name of Object.prototype (`__proto__` among them). */
const NAMES = Object.getOwnPropertyNames(Object.prototype);
const GROUPS = ["primary", "test_user", "root"];
const USER = "Prototype Tester";

const plan = (name: string, args: unknown[] = [["det1"]], kwargs: Params = {}) => ({
  item_type: "plan",
  name,
  args,
  kwargs,
});

let m: RunningManager;
let c: RawClient;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** The lock's time in messages. */
const TIME_STR = /\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d/g;
/** Times change from request to request. */
const VOLATILE = new Set(["time", "time_str", "time_start", "time_stop"]);

/** A reply as comparable data: uids as "<uid>", times left out, `from` replaced by `to`. */
function comparable(r: unknown, from?: string, to?: string): unknown {
  let text = JSON.stringify(r).replace(UUID, "<uid>").replace(TIME_STR, "<time>");
  if (from !== undefined && to !== undefined) text = text.split(from).join(to);
  return JSON.parse(text, (k, v: unknown) => (VOLATILE.has(k) ? undefined : v));
}

/** Clear the queue and add two items; their uids. */
async function twoItems(): Promise<[string, string]> {
  await c.request("queue_clear");
  const uids: string[] = [];
  for (const num of [1, 2]) {
    const r = await c.request("queue_item_add", {
      item: plan("count", [["det1"]], { num }),
      user: USER,
      user_group: "primary",
    });
    expect(r.success, String(r.msg)).toBe(true);
    uids.push((r.item as { item_uid: string }).item_uid);
  }
  return uids as [string, string];
}

/** Wait until nothing runs. */
async function settle(): Promise<void> {
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.manager_state === "idle" && s.worker_background_tasks === 0;
  }, 60_000);
}

/** An unknown ordinary name of the same length and shape. */
function ordinaryName(name: string): string {
  const o = name.replace(/[A-Za-z]/g, "q");
  expect(o).not.toBe(name);
  return o;
}

/** Where a name goes: the request that carries it (and what to do around it). */
interface Place {
  request: (name: string) => Promise<[string, Params?]> | [string, Params?];
  /** Read the outcome (default: the reply). */
  outcome?: (reply: Reply, name: string) => Promise<unknown>;
}

/**
 * Send the request with an ordinary unknown name and with `name`; the two
 * outcomes must be the same with the name put in.
 */
async function sameAsOrdinary(place: Place, name: string): Promise<void> {
  const ordinary = ordinaryName(name);
  const run = async (n: string) => {
    const [method, params] = await place.request(n);
    const reply = params === undefined ? await c.request(method) : await c.request(method, params);
    expect(String(reply.msg), `${method} with ${n}`).not.toMatch(/Internal error/);
    const out = place.outcome ? await place.outcome(reply, n) : reply;
    await settle();
    return out;
  };
  const expected = comparable(await run(ordinary), ordinary, name);
  const actual = comparable(await run(name));
  expect(actual, `with the name ${name}`).toEqual(expected);
}

async function forEveryName(place: Place): Promise<void> {
  for (const name of NAMES) await sameAsOrdinary(place, name);
}

/** Parameters that make a request of these methods reach the part that uses the name. */
function itemFor(method: MethodName): Params {
  switch (method) {
    case "queue_item_add":
    case "queue_item_execute":
      return { item: plan("count"), user: USER };
    case "queue_item_add_batch":
      return { items: [plan("count")], user: USER };
    case "queue_item_update":
      return { item: { ...plan("count"), item_uid: "no-such-uid" }, user: USER };
    case "function_execute":
      return { item: fn("function_sleep", [0]), user: USER };
    case "run_create":
      return { function: fn("function_sleep", [0]), count: 1, user: USER };
    default:
      return {};
  }
}

const takes = (param: string) =>
  METHOD_NAMES.filter((n) => Object.prototype.hasOwnProperty.call(methods[n].params, param));

beforeAll(async () => {
  m = await startManager();
  c = new RawClient(m.controlAddr, { timeoutMs: 15_000 });
  expect(await c.request("environment_open")).toEqual({ success: true, msg: "" });
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.worker_environment_exists === true && s.manager_state === "idle";
  }, 60_000);
}, 90_000);
afterAll(async () => {
  c?.close();
  await m?.stop();
});

describe("names of Object.prototype are ordinary names", () => {
  it("the names include __proto__, constructor and toString", () => {
    expect(NAMES).toEqual(expect.arrayContaining(["__proto__", "constructor", "toString"]));
  });

  it("as a method name", async () => {
    await forEveryName({ request: (n) => [n] });
  });

  it.each(METHOD_NAMES.filter((n) => !(methods[n] as { ignoreParams?: boolean }).ignoreParams))(
    "as a parameter name of %s",
    async (method) => {
      await forEveryName({ request: (n) => [method, { [n]: 1 }] });
    },
  );

  it.each(takes("user_group"))("as the user group of %s", async (method) => {
    await forEveryName({ request: (n) => [method, { ...itemFor(method), user_group: n }] });
  });

  it.each(["queue_item_add", "queue_item_add_batch", "queue_item_update", "queue_item_execute"])(
    "as a plan name and an instruction name in %s, for each group",
    async (method) => {
      for (const group of GROUPS) {
        const wrap = (item: Params): Params =>
          method === "queue_item_add_batch"
            ? { items: [item], user: USER, user_group: group }
            : method === "queue_item_update"
              ? { item: { ...item, item_uid: "no-such-uid" }, user: USER, user_group: group }
              : { item, user: USER, user_group: group };
        await forEveryName({ request: (n) => [method, wrap(plan(n))] });
        await forEveryName({
          request: (n) => [method, wrap({ item_type: "instruction", name: n })],
        });
      }
    },
  );

  it.each(["function_execute", "run_create"])(
    "as a function name in %s, for each group (the environment runs what is allowed)",
    async (method) => {
      for (const group of GROUPS) {
        await forEveryName({
          request: (n) =>
            method === "run_create"
              ? [method, { function: fn(n), count: 1, user: USER, user_group: group }]
              : [method, { item: fn(n), user: USER, user_group: group }],
          // What the worker answered, when the task started.
          outcome: async (reply) => {
            const uid = reply.task_uid ?? (reply.task_uids as string[] | undefined)?.[0];
            if (typeof uid !== "string") return reply;
            await waitUntil(
              async () =>
                (await c.request("task_status", { task_uid: uid })).status === "completed",
              60_000,
            );
            const r = (await c.request("task_result", { task_uid: uid })).result as Reply;
            return { reply, success: r.success, msg: r.msg };
          },
        });
      }
    },
    120_000,
  );

  it("as a device name in plan arguments (queue_item_add), for each group", async () => {
    for (const group of GROUPS) {
      for (const item of [
        (n: string) => plan("count", [[n]]),
        (n: string) => plan("count", [], { detectors: ["det1", n] }),
        (n: string) => plan("move_then_count", [[n], ["det1"], [1]]),
      ]) {
        await forEveryName({
          request: async (n) => {
            await c.request("queue_clear");
            return ["queue_item_add", { item: item(n), user: USER, user_group: group }];
          },
        });
      }
    }
  });

  it("as a keyword argument and a dictionary key in plan arguments (queue_item_add)", async () => {
    for (const item of [
      (n: string) => plan("count", [["det1"]], { [n]: 1 }),
      (n: string) => plan("marked_up_count", [["det1"]], { md: { [n]: 1 } }),
    ]) {
      await forEveryName({
        request: async (n) => {
          await c.request("queue_clear");
          return ["queue_item_add", { item: item(n), user: USER, user_group: "primary" }];
        },
      });
    }
  });

  it("as a device name and a dictionary key in a plan that runs (queue_item_execute)", async () => {
    const lastResult = async (reply: Reply) => {
      await settle();
      const h = (await c.request("history_get")).items as Reply[];
      const r = h[h.length - 1]?.result as Reply | undefined;
      return { reply, exit_status: r?.exit_status, msg: r?.msg };
    };
    for (const item of [
      (n: string) => plan("count", [[n]]),
      (n: string) => plan("count", [["det1"]], { md: { [n]: 1 } }),
    ]) {
      await forEveryName({
        request: (n) => ["queue_item_execute", { item: item(n), user: USER, user_group: "root" }],
        outcome: lastResult,
      });
    }
  }, 120_000);

  it("as a keyword argument of a function that runs (function_execute)", async () => {
    await forEveryName({
      request: (n) => [
        "function_execute",
        { item: fn("function_sleep", [0], { [n]: 1 }), user: USER, user_group: "primary" },
      ],
      outcome: async (reply) => {
        const uid = reply.task_uid as string;
        await waitUntil(
          async () => (await c.request("task_status", { task_uid: uid })).status === "completed",
          60_000,
        );
        const r = (await c.request("task_result", { task_uid: uid })).result as Reply;
        return { reply, success: r.success, msg: r.msg };
      },
    });
  }, 120_000);

  it.each(takes("run_uid"))("as the run uid of %s", async (method) => {
    await forEveryName({ request: (n) => [method, { run_uid: n }] });
  });

  it.each(takes("task_uid"))("as a task uid of %s (one, and in a list)", async (method) => {
    await forEveryName({ request: (n) => [method, { task_uid: n }] });
    if (method !== "task_result") {
      await forEveryName({ request: (n) => [method, { task_uid: [n, "another-uid"] }] });
    }
  });

  it("as a task uid in function_execute's 'after'", async () => {
    await forEveryName({
      request: (n) => [
        "function_execute",
        { item: fn("function_sleep", [0]), user: USER, user_group: "primary", after: [n] },
      ],
    });
  });

  const UID_PARAMS = ["uid", "before_uid", "after_uid", "item_uid", "uids"];
  const withUids = METHOD_NAMES.flatMap((method) =>
    UID_PARAMS.filter((p) => Object.prototype.hasOwnProperty.call(methods[method].params, p)).map(
      (p) => [method, p] as [MethodName, string],
    ),
  );
  it.each(withUids)("as an item uid: %s's %s", async (method, param) => {
    await forEveryName({
      request: async (n) => {
        const [first] = await twoItems();
        const value = param === "uids" ? [n] : n;
        const base: Params =
          method === "queue_item_move"
            ? param === "uid"
              ? { pos_dest: "front" }
              : { uid: first }
            : method === "queue_item_move_batch"
              ? param === "uids"
                ? { pos_dest: "front" }
                : { uids: [first] }
              : method === "queue_item_remove_batch"
                ? { ignore_missing: false }
                : { ...itemFor(method), user_group: "primary" };
        return [method, { ...base, [param]: value }];
      },
    });
  });

  it("as a queue item uid in queue_item_update's item", async () => {
    await forEveryName({
      request: async (n) => {
        await twoItems();
        return [
          "queue_item_update",
          { item: { ...plan("count"), item_uid: n }, user: USER, user_group: "primary" },
        ];
      },
    });
  });

  it("as a lock key: lock, lock_info, a locked method, unlock", async () => {
    for (const step of [
      (n: string): [string, Params] => [
        "lock",
        { lock_key: n, user: USER, environment: true, queue: true },
      ],
      (n: string): [string, Params] => ["lock_info", { lock_key: n }],
      (n: string): [string, Params] => ["queue_clear", { lock_key: n }],
      (n: string): [string, Params] => ["lock_info", { lock_key: `${n}_wrong` }],
      (n: string): [string, Params] => ["unlock", { lock_key: n }],
    ]) {
      // Each step once with the ordinary key and once with the name, from the same state.
      for (const name of NAMES) {
        const ordinary = ordinaryName(name);
        const replies: unknown[] = [];
        for (const key of [ordinary, name]) {
          const locked = await c.request("lock", {
            lock_key: key,
            user: USER,
            environment: true,
            queue: true,
          });
          expect(locked.success, String(locked.msg)).toBe(true);
          const [method, params] = step(key);
          replies.push(await c.request(method, params));
          await c.request("unlock", { lock_key: key });
        }
        expect(comparable(replies[1]), `lock key ${name}`).toEqual(
          comparable(replies[0], ordinary, name),
        );
      }
    }
    expect((await c.request("lock_info")).lock_info).toMatchObject({
      environment: false,
      queue: false,
    });
  });

  it("as a key of queue_mode_set's mode", async () => {
    await forEveryName({ request: (n) => ["queue_mode_set", { mode: { [n]: true } }] });
  });

  it.each([
    ["manager_stop", "option"],
    ["re_pause", "option"],
    ["re_runs", "option"],
    ["manager_test", "test_name"],
  ])("as %s's %s", async (method, param) => {
    await forEveryName({ request: (n) => [method, { [param]: n }] });
    expect(m.proc.exitCode).toBeNull();
  });

  it("as the name of a user group in the permissions (permissions_set, then plans_allowed)", async () => {
    const doc = (await c.request("permissions_get")).user_group_permissions as {
      user_groups: Params;
    };
    try {
      await forEveryName({
        request: async (n) => {
          const set = await c.request("permissions_set", {
            user_group_permissions: {
              user_groups: {
                ...doc.user_groups,
                [n]: { allowed_plans: [":^count$"], allowed_devices: [":^det1$"] },
              },
            },
          });
          expect(set, `permissions_set with a group ${n}`).toEqual({ success: true, msg: "" });
          return ["plans_allowed", { user_group: n }];
        },
        outcome: async (reply, n) => ({
          reply,
          devices: await c.request("devices_allowed", { user_group: n }),
        }),
      });
    } finally {
      expect((await c.request("permissions_reload")).success).toBe(true);
    }
  });
});

describe("the manager's log", () => {
  it("has no error-level record after all of the above", () => {
    const errors = m
      .output()
      .split("\n")
      .filter((l) => /^\[[EC] /.test(l));
    expect(errors).toEqual([]);
  });
});
