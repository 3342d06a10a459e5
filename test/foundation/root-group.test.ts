/**
 * `user_group: "root"` in a request, as the Python server takes it: root is a
 * group like the others, whose own lists apply alone (every other group must
 * pass root's lists and then its own). Against a real manager with the
 * example startup code and permissions, where root allows every plan,
 * device and function not starting with `_`, and `primary`/`test_user` allow
 * fewer (`test_user` forbids `adaptive_scan`; `primary` allows two functions).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { fn } from "../tasks/helpers.js";

type Reply = Record<string, unknown>;
const ROOT = { user: "Root User", user_group: "root" };

let m: RunningManager;
let c: RawClient;

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

const notPrivate = (names: string[]) => names.filter((n) => !n.startsWith("_")).sort();

describe("user_group root", () => {
  it("plans_allowed: every existing plan not starting with '_' (root's lists alone)", async () => {
    const existing = Object.keys((await c.request("plans_existing")).plans_existing as Reply);
    expect(existing).toEqual(expect.arrayContaining(["count", "adaptive_scan", "_sim_plan_inner"]));
    const r = await c.request("plans_allowed", { user_group: "root" });
    expect(r.success, String(r.msg)).toBe(true);
    expect(Object.keys(r.plans_allowed as Reply).sort()).toEqual(notPrivate(existing));
    // Another group passes root's lists and then its own: fewer plans.
    const t = await c.request("plans_allowed", { user_group: "test_user" });
    expect(Object.keys(t.plans_allowed as Reply)).not.toContain("adaptive_scan");
  });

  it("devices_allowed: every existing device not starting with '_', with its components", async () => {
    const existing = (await c.request("devices_existing")).devices_existing as Reply;
    const r = await c.request("devices_allowed", { user_group: "root" });
    expect(r.success, String(r.msg)).toBe(true);
    const allowed = r.devices_allowed as Reply;
    expect(Object.keys(allowed).sort()).toEqual(notPrivate(Object.keys(existing)));
    expect(allowed.sim_bundle_A).toEqual(existing.sim_bundle_A);
  });

  it("queue_item_add: a plan root allows (and test_user does not) is added for root", async () => {
    const item = {
      item_type: "plan",
      name: "adaptive_scan",
      args: [["det1"], "det1", "motor1", 0, 1, 0.1, 0.5, 0.1, true],
    };
    const refused = await c.request("queue_item_add", {
      item,
      user: "Test User",
      user_group: "test_user",
    });
    expect(refused.success).toBe(false);
    expect(String(refused.msg)).toContain("is not in the list of allowed plans");
    const r = await c.request("queue_item_add", { item, ...ROOT });
    expect(r.success, String(r.msg)).toBe(true);
    expect(r.item).toMatchObject({ name: "adaptive_scan", user_group: "root" });
    // ... and a private plan is not.
    const p = await c.request("queue_item_add", {
      item: { item_type: "plan", name: "_sim_plan_inner" },
      ...ROOT,
    });
    expect(p.success).toBe(false);
    expect(String(p.msg)).toContain("Plan '_sim_plan_inner' is not in the list of allowed plans.");
    await c.request("queue_clear");
  });

  it("queue_item_execute: a plan runs for root", async () => {
    const r = await c.request("queue_item_execute", {
      item: { item_type: "plan", name: "count", args: [["det1"]] },
      ...ROOT,
    });
    expect(r.success, String(r.msg)).toBe(true);
    await waitUntil(async () => {
      const s = await c.request("status");
      return s.manager_state === "idle" && s.items_in_history === 1;
    }, 60_000);
    const h = (await c.request("history_get")).items as Reply[];
    expect(h[0]).toMatchObject({ name: "count", user_group: "root" });
    expect((h[0]?.result as Reply).exit_status).toBe("completed");
  });

  it("function_execute: a function root allows (and primary does not) runs for root", async () => {
    const refused = await c.request("function_execute", {
      item: fn("clear_buffer"),
      user: "Primary User",
      user_group: "primary",
    });
    expect(refused.success).toBe(false);
    expect(String(refused.msg)).toContain("is not allowed for users from 'primary' group");
    const r = await c.request("function_execute", { item: fn("clear_buffer"), ...ROOT });
    expect(r.success, String(r.msg)).toBe(true);
    const uid = r.task_uid as string;
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: uid })).status === "completed",
      60_000,
    );
    const result = (await c.request("task_result", { task_uid: uid })).result as Reply;
    expect(result).toMatchObject({ success: true, msg: "" });
    // ... and a private one is not.
    const p = await c.request("function_execute", { item: fn("_private_function"), ...ROOT });
    expect(p.success).toBe(false);
    expect(String(p.msg)).toContain("is not allowed for users from 'root' group");
  });

  it("run_create: a run of a function root allows", async () => {
    const r = await c.request("run_create", { function: fn("clear_buffer"), count: 2, ...ROOT });
    expect(r.success, String(r.msg)).toBe(true);
    await waitUntil(
      async () => (await c.request("run_info", { run_uid: r.run_uid })).num_done === 2,
      60_000,
    );
  });

  it("a group the permissions do not name is still unknown", async () => {
    const r = await c.request("plans_allowed", { user_group: "no_such_group" });
    expect(r).toMatchObject({ success: false, msg: "Unknown user group: 'no_such_group'" });
  });
});
