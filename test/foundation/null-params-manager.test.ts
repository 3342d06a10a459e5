/**
 * Against a real manager, generated from the method table: every optional
 * parameter of every method, sent as `null`, gets the reply its absence gets
 * (the Python server reads optional parameters with `request.get(name, default)`,
 * so its clients send `null` for "not given", e.g. `lock_info` with
 * `{"lock_key": null}`).
 *
 * Each method is sent a request that works (its `base`), once without the
 * parameter and once with it as `null`, in a state where the reply does not
 * depend on the order: the queue is set up again before each request and the
 * manager is left idle after it. UIDs in replies are compared as "<uid>".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { METHOD_NAMES, methods, type MethodName } from "../../src/protocol/index.js";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { fn, USER } from "../tasks/helpers.js";

type Params = Record<string, unknown>;
type Reply = Record<string, unknown>;

const plan = (num: number) => ({
  item_type: "plan",
  name: "count",
  args: [["det1"]],
  kwargs: { num },
});

/** Clear the queue and add two items; their uids. */
async function twoItems(c: RawClient): Promise<[string, string]> {
  await c.request("queue_clear");
  const uids: string[] = [];
  for (const num of [1, 2]) {
    const r = await c.request("queue_item_add", { item: plan(num), ...USER });
    expect(r.success, String(r.msg)).toBe(true);
    uids.push((r.item as { item_uid: string }).item_uid);
  }
  return uids as [string, string];
}

interface Case {
  /** A request that works, made fresh before each send (it may set up the queue). */
  base?: (c: RawClient) => Promise<Params>;
  /** The environment this method is tried in (default: open). */
  env?: "open" | "closed";
}

/**
 * Requests for methods where `{}` alone would tell little (a failure before the
 * parameters are used) or would change the state for the next request.
 * Methods not listed are sent `{}` plus the parameter.
 */
const CASES: Partial<Record<MethodName, Case>> = {
  plans_allowed: { base: async () => ({ user_group: "primary" }) },
  devices_allowed: { base: async () => ({ user_group: "primary" }) },
  permissions_set: {
    base: async (c) => ({
      user_group_permissions: (await c.request("permissions_get")).user_group_permissions,
    }),
  },
  queue_mode_set: { base: async () => ({ mode: { loop: false } }) },
  queue_item_add: {
    base: async (c) => {
      await c.request("queue_clear");
      return { item: plan(1), ...USER };
    },
  },
  queue_item_add_batch: {
    base: async (c) => {
      await c.request("queue_clear");
      return { items: [plan(1), plan(2)], ...USER };
    },
  },
  queue_item_update: {
    base: async (c) => {
      const [, uid] = await twoItems(c);
      return { item: { ...plan(3), item_uid: uid }, ...USER };
    },
  },
  queue_item_get: { base: async (c) => (await twoItems(c), {}) },
  queue_item_remove: { base: async (c) => (await twoItems(c), {}) },
  queue_item_remove_batch: {
    base: async (c) => ({ uids: [(await twoItems(c))[1], "no-such-uid"] }),
  },
  queue_item_move: { base: async (c) => (await twoItems(c), { pos_dest: "front" }) },
  queue_item_move_batch: {
    base: async (c) => ({ uids: [(await twoItems(c))[1]], pos_dest: "front" }),
  },
  queue_item_execute: {
    base: async (c) => {
      await c.request("queue_clear");
      return { item: plan(1), ...USER };
    },
  },
  queue_autostart: { base: async () => ({ enable: false }) },
  queue_start: { env: "closed" },
  environment_close: { env: "closed" },
  environment_destroy: { env: "closed" },
  script_upload: { base: async () => ({ script: "export const x_from_null_test = 1;" }) },
  function_execute: { base: async () => ({ item: fn("function_sleep", [0]), ...USER }) },
  task_cancel: { base: async () => ({ task_uid: "no-such-task" }) },
  lock: { base: async () => ({ user: "Null Tester", lock_key: "null-key" }) },
  run_create: { base: async () => ({ function: fn("function_sleep", [0]), count: 2, ...USER }) },
  run_restart: { base: async () => ({ run_uid: "no-such-run" }) },
  run_delete: { base: async () => ({ run_uid: "no-such-run" }) },
  // Sent to managers of their own (it stops the manager): see below.
  manager_stop: {},
};

/** Every (method, parameter) whose schema takes absence but not null. */
function optionalParams(name: MethodName): string[] {
  if ((methods[name] as { ignoreParams?: boolean }).ignoreParams) return [];
  return Object.entries(methods[name].params as Record<string, z.ZodType>)
    .filter(([, s]) => s.safeParse(undefined).success && !s.safeParse(null).success)
    .map(([p]) => p);
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
function normalize(r: Reply): unknown {
  return JSON.parse(JSON.stringify(r).replace(UUID, "<uid>"));
}

let m: RunningManager;
let c: RawClient;

/** Open the environment and wait until it is ready (a generous guard: the machine may be busy). */
async function openEnvironment(): Promise<void> {
  expect(await c.request("environment_open", {})).toEqual({ success: true, msg: "" });
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.worker_environment_exists === true && s.manager_state === "idle";
  }, 60_000);
}

/** Wait until nothing runs (a request may have started a task, a run or a plan). */
async function settle(): Promise<void> {
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.manager_state === "idle" && s.worker_background_tasks === 0;
  }, 60_000);
}

async function compare(name: MethodName, param: string): Promise<void> {
  const base = CASES[name]?.base ?? (async (): Promise<Params> => ({}));
  const { [param]: _left, ...without } = await base(c);
  const absent = await c.request(name, without);
  await settle();
  const asNull = await c.request(name, { ...(await base(c)), [param]: null });
  await settle();
  expect(normalize(asNull), `${name} with ${param}: null`).toEqual(normalize(absent));
}

const ALL = METHOD_NAMES.filter((n) => n !== "manager_stop").flatMap((n) =>
  optionalParams(n).map((p) => [n, p] as [MethodName, string]),
);
const IN_OPEN = ALL.filter(([n]) => CASES[n]?.env !== "closed");
const IN_CLOSED = ALL.filter(([n]) => CASES[n]?.env === "closed");

beforeAll(async () => {
  m = await startManager();
  c = new RawClient(m.controlAddr, { timeoutMs: 15_000 });
  await openEnvironment();
}, 90_000);
afterAll(async () => {
  c?.close();
  await m?.stop();
});

describe("an optional parameter sent as null is the same as leaving it out", () => {
  it("covers every method that has optional parameters", () => {
    const covered = new Set(ALL.map(([n]) => n));
    const withOptional = METHOD_NAMES.filter(
      (n) => n !== "manager_stop" && optionalParams(n).length > 0,
    );
    expect([...covered].sort()).toEqual([...withOptional].sort());
    expect(withOptional.length).toBeGreaterThan(40);
  });

  it.each(IN_OPEN)(
    "%s: %s (environment open)",
    async (name, param) => {
      await compare(name, param);
    },
    150_000,
  );

  describe("with the environment closed", () => {
    beforeAll(async () => {
      await c.request("queue_clear");
      expect(await c.request("environment_close")).toEqual({ success: true, msg: "" });
      await waitUntil(
        async () => (await c.request("status")).worker_environment_exists === false,
        60_000,
      );
    }, 90_000);

    it.each(IN_CLOSED)(
      "%s: %s (environment closed)",
      async (name, param) => {
        await compare(name, param);
      },
      150_000,
    );

    it("environment_open: lock_key as null opens the environment", async () => {
      expect(await c.request("environment_open", { lock_key: null })).toEqual({
        success: true,
        msg: "",
      });
      await waitUntil(async () => {
        const s = await c.request("status");
        return s.worker_environment_exists === true && s.manager_state === "idle";
      }, 60_000);
    }, 90_000);
  });

  it("lock_info with lock_key: null while locked answers as without a key (the Python client's call)", async () => {
    const locked = await c.request("lock", {
      lock_key: "k1",
      user: "Null Tester",
      environment: true,
      note: null,
    });
    expect(locked.success, String(locked.msg)).toBe(true);
    try {
      const asNull = await c.request("lock_info", { lock_key: null });
      expect(asNull.success, String(asNull.msg)).toBe(true);
      expect(asNull).toEqual(await c.request("lock_info", {}));
      // A method under the lock: null is no key at all, refused as without one.
      const refused = await c.request("queue_start", { lock_key: null });
      expect(refused.success).toBe(false);
      expect(normalize(refused)).toEqual(normalize(await c.request("queue_start", {})));
    } finally {
      expect((await c.request("unlock", { lock_key: "k1" })).success).toBe(true);
    }
  });
});

describe("manager_stop", () => {
  it("option: null stops the manager as option left out does (safe_on)", async () => {
    const [a, b] = await Promise.all([startManager(), startManager()]);
    const ca = new RawClient(a.controlAddr);
    const cb = new RawClient(b.controlAddr);
    try {
      const absent = await ca.request("manager_stop", {});
      const asNull = await cb.request("manager_stop", { option: null });
      expect(asNull).toEqual(absent);
      expect(absent).toEqual({ success: true, msg: "" });
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
    } finally {
      ca.close();
      cb.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 60_000);
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
