/**
 * Every route of the method table through the gateway to a real manager, in
 * both encodings: the reply is the manager's map, the caller's user and group
 * are the key's (whatever the body says), 4xx carry a detail.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METHOD_ROUTES } from "../../src/http/routes.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, client, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

const plan = (name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}) => ({
  item_type: "plan",
  name,
  args,
  kwargs,
});
const func = (name: string, args: unknown[] = []) => ({ item_type: "function", name, args });

describe.each(["json", "msgpack"] as const)("every route, manager encoding %s", (encoding) => {
  let m: RunningManager;
  let g: TestGateway;
  const covered = new Set<string>();
  let api: ReturnType<typeof client>;
  /** One call; records the route as covered and returns the reply body (status 200 asserted). */
  const ok = async (verb: string, path: string, body?: unknown) => {
    const r = await api(verb, path, body);
    expect(r.status, `${verb} ${path}: ${r.text}`).toBe(200);
    covered.add(`${verb} ${path}`);
    return r.json;
  };
  const taskDone = (uid: string) =>
    waitUntil(async () => {
      const r = await ok("GET", "/api/task/status", { task_uid: uid });
      return r.status === "completed";
    });

  beforeAll(async () => {
    m = await startManager({ encoding });
    g = await startTestGateway(m, { encoding });
    api = client(g.url, SINGLE_KEY);
  });
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("status, configuration, environment, lists and permissions", async () => {
    expect((await ok("GET", "/api/ping")).manager_state).toBe("idle");
    const s = await ok("GET", "/api/status");
    expect(s.items_in_queue).toBe(0);
    expect(s.worker_environment_exists).toBe(false);
    expect((await ok("GET", "/api/config/get")).success).toBe(true);
    const metrics = (await ok("GET", "/api/metrics")).metrics as { worker_slots: unknown };
    expect(metrics.worker_slots).toEqual({ workers: 0, busy: 0, free: null });
    expect(await ok("POST", "/api/environment/open")).toEqual({ success: true, msg: "" });
    await waitStatus(
      api,
      (st) => st.worker_environment_exists === true && st.manager_state === "idle",
      ENV_OPEN_MS,
    );
    const pa = await ok("GET", "/api/plans/allowed", { user_group: "test_user" });
    // The key's group (primary) is used, not the one in the body: primary allows every plan.
    expect(Object.keys(pa.plans_allowed as object)).toContain("move_then_count");
    expect(
      Object.keys((await ok("GET", "/api/devices/allowed")).devices_allowed as object),
    ).toContain("det1");
    expect(
      Object.keys((await ok("GET", "/api/plans/existing")).plans_existing as object),
    ).toContain("count");
    expect(
      Object.keys((await ok("GET", "/api/devices/existing")).devices_existing as object),
    ).toContain("motor");
    const perms = await ok("GET", "/api/permissions/get");
    expect(perms.success).toBe(true);
    expect(
      await ok("POST", "/api/permissions/set", {
        user_group_permissions: perms.user_group_permissions,
      }),
    ).toEqual({ success: true, msg: "" });
    expect(await ok("POST", "/api/permissions/reload")).toEqual({ success: true, msg: "" });
    expect((await ok("POST", "/api/environment/update")).success).toBe(true);
    await waitStatus(api, (st) => st.manager_state === "idle");
  });

  it("queue editing as the key's user and group", async () => {
    const add = await ok("POST", "/api/queue/item/add", {
      item: plan("count", [["det1"]], { num: 1 }),
      user: "mallory",
      user_group: "root",
    });
    expect(add.success, String(add.msg)).toBe(true);
    const item = add.item as Record<string, unknown>;
    expect(item.user).toBe("Single User");
    expect(item.user_group).toBe("primary");
    const batch = await ok("POST", "/api/queue/item/add/batch", {
      items: [plan("count", [["det1"]]), plan("count", [["det2"]])],
    });
    expect(batch.success, String(batch.msg)).toBe(true);
    const q = await ok("GET", "/api/queue/get");
    const uids = (q.items as { item_uid: string }[]).map((i) => i.item_uid);
    expect(uids).toHaveLength(3);
    expect(
      ((await ok("GET", "/api/queue/item/get", { pos: "back" })).item as { item_uid: string })
        .item_uid,
    ).toBe(uids[2]);
    const upd = await ok("POST", "/api/queue/item/update", {
      item: { ...item, kwargs: { num: 2 } },
    });
    expect(upd.success, String(upd.msg)).toBe(true);
    expect((await ok("POST", "/api/queue/item/move", { pos: 0, pos_dest: "back" })).success).toBe(
      true,
    );
    expect(
      (await ok("POST", "/api/queue/item/move/batch", { uids: [uids[2]], pos_dest: "front" }))
        .success,
    ).toBe(true);
    const after = (await ok("GET", "/api/queue/get")).items as { item_uid: string }[];
    expect(after.map((i) => i.item_uid)).toEqual([uids[2], uids[1], uids[0]]);
    expect((await ok("POST", "/api/queue/item/remove", { pos: "back" })).success).toBe(true);
    expect((await ok("POST", "/api/queue/item/remove/batch", { uids: [uids[1]] })).success).toBe(
      true,
    );
    expect((await ok("GET", "/api/queue/get")).items).toHaveLength(1);
    expect(await ok("POST", "/api/queue/mode/set", { mode: { loop: false } })).toEqual({
      success: true,
      msg: "",
    });
    expect(await ok("POST", "/api/queue/clear")).toEqual({ success: true, msg: "" });
    expect((await ok("GET", "/api/status")).items_in_queue).toBe(0);
    // Bad parameters are the gateway's 400 (as the Python gateway's), named in the detail.
    const bad = await api("POST", "/api/queue/item/add", { item: plan("count"), pos: "middle" });
    expect(bad.status).toBe(400);
    expect(bad.detail).toContain("'pos'");
  });

  it("locks: the lock is taken as the key's user and refuses requests without the key", async () => {
    const l = await ok("POST", "/api/lock", { lock_key: "k1", environment: true, user: "mallory" });
    expect(l.success, String(l.msg)).toBe(true);
    expect((l.lock_info as { user: string }).user).toBe("Single User");
    expect((await ok("GET", "/api/lock/info", { lock_key: "k1" })).success).toBe(true);
    const refused = await ok("POST", "/api/queue/start");
    expect(refused.success).toBe(false);
    expect(String(refused.msg)).toMatch(/lock/i);
    expect((await ok("POST", "/api/unlock", { lock_key: "k1" })).success).toBe(true);
  });

  it("runs plans: start, history, execute, control of an idle manager", async () => {
    expect(
      (await ok("POST", "/api/queue/item/add", { item: plan("count", [["det1"]]) })).success,
    ).toBe(true);
    expect(await ok("POST", "/api/queue/start")).toEqual({ success: true, msg: "" });
    await waitStatus(api, (s) => s.items_in_history === 1 && s.manager_state === "idle");
    const h = await ok("GET", "/api/history/get");
    const done = (h.items as { result: { exit_status: string } }[])[0];
    expect(done?.result.exit_status).toBe("completed");
    expect(
      (await ok("POST", "/api/queue/item/execute", { item: plan("count", [["det2"]]) })).success,
    ).toBe(true);
    await waitStatus(api, (s) => s.items_in_history === 2 && s.manager_state === "idle");
    // Nothing runs: these are refused by the manager, through their own routes.
    expect((await ok("POST", "/api/queue/stop")).success).toBe(false);
    expect((await ok("POST", "/api/queue/stop/cancel")).success).toBe(true);
    for (const p of [
      "/api/re/pause",
      "/api/re/resume",
      "/api/re/stop",
      "/api/re/abort",
      "/api/re/halt",
    ]) {
      const r = await ok("POST", p);
      expect(r.success, p).toBe(false);
      expect(String(r.msg), p).not.toMatch(/unknown method/i);
    }
    expect((await ok("POST", "/api/re/runs", { option: "closed" })).run_list).toEqual([]);
    expect((await ok("GET", "/api/re/metadata")).success).toBe(true);
    expect(await ok("POST", "/api/queue/autostart", { enable: false })).toEqual({
      success: true,
      msg: "",
    });
    expect(await ok("POST", "/api/history/clear")).toEqual({ success: true, msg: "" });
    expect((await ok("GET", "/api/status")).items_in_history).toBe(0);
  });

  it("tasks: function_execute, status, result, info, cancel, script_upload", async () => {
    const ex = await ok("POST", "/api/function/execute", {
      item: func("function_sleep", [0.05]),
      run_in_background: true,
    });
    expect(ex.success, String(ex.msg)).toBe(true);
    const uid = ex.task_uid as string;
    await taskDone(uid);
    const res = await ok("GET", "/api/task/result", { task_uid: uid });
    expect((res.result as { success: boolean }).success).toBe(true);
    const info = await ok("GET", "/api/task/info", { task_uid: uid });
    expect((info.task_info as { state: string }).state).toBe("completed");
    expect((await ok("POST", "/api/task/cancel", { task_uid: uid })).result).toBe(
      "already_completed",
    );
    const retried = await ok("POST", "/api/task/retry", { task_uid: uid });
    expect(retried, String(retried.msg)).toMatchObject({ success: true, retry_of: uid });
    const up = await ok("POST", "/api/script/upload", {
      script: "export function func_for_test_http() { return 7; }\n",
    });
    expect(up.success, String(up.msg)).toBe(true);
    await taskDone(up.task_uid as string);
    await waitStatus(api, (s) => s.manager_state === "idle");
  });

  it("runs of many tasks: create, info, list, restart, delete", async () => {
    const c = await ok("POST", "/api/run/create", {
      function: func("function_sleep", [0]),
      count: 3,
    });
    expect(c.success, String(c.msg)).toBe(true);
    const run = c.run_uid as string;
    await waitUntil(
      async () => (await ok("GET", "/api/run/info", { run_uid: run })).percent_done === 100,
    );
    const list = (await ok("GET", "/api/runs/list")).runs as { run_uid: string }[];
    expect(list.map((r) => r.run_uid)).toContain(run);
    // Its tasks, listed and counted; the worker that ran them.
    const tasks = await ok("GET", "/api/tasks/list", { run_uid: run, state: "completed" });
    expect((tasks.tasks as { run_uid: string }[]).map((t) => t.run_uid)).toEqual([run, run, run]);
    const counts = await ok("GET", "/api/tasks/counts");
    const sleeps = (counts.by_name as Record<string, Record<string, number>>).function_sleep;
    expect(sleeps?.completed).toBeGreaterThanOrEqual(3); // earlier tests ran it too
    const workers = await ok("GET", "/api/workers/list");
    expect((workers.workers as { kind: string }[]).map((w) => w.kind)).toContain("local");
    const rs = await ok("POST", "/api/run/restart", { run_uid: run, everything: true });
    expect(rs.success, String(rs.msg)).toBe(true);
    expect(rs.task_uids).toHaveLength(3);
    expect((await ok("POST", "/api/run/delete", { run_uid: run })).success).toBe(true);
  });

  it("schedules: create, list, get, pause, resume, update, trigger, delete", async () => {
    const task = { item_type: "function", name: "function_sleep", args: [0] };
    const c = await ok("POST", "/api/schedule/create", { every: 3600, task, name: "hourly" });
    expect(c.success, String(c.msg)).toBe(true);
    const uid = c.schedule_uid as string;
    const list = (await ok("GET", "/api/schedule/list")).schedules as { schedule_uid: string }[];
    expect(list.map((x) => x.schedule_uid)).toContain(uid);
    expect((await ok("GET", "/api/schedule/get", { schedule_uid: uid })).success).toBe(true);
    expect((await ok("POST", "/api/schedule/pause", { schedule_uid: uid })).success).toBe(true);
    expect((await ok("POST", "/api/schedule/resume", { schedule_uid: uid })).success).toBe(true);
    const u = await ok("POST", "/api/schedule/update", { schedule_uid: uid, every: 7200 });
    expect(u.success, String(u.msg)).toBe(true);
    const t = await ok("POST", "/api/schedule/trigger", { schedule_uid: uid });
    expect(t.success, String(t.msg)).toBe(true);
    expect((await ok("POST", "/api/schedule/delete", { schedule_uid: uid })).success).toBe(true);
  });

  it("refused test hooks, environment close/destroy, then manager_stop", async () => {
    expect((await ok("POST", "/api/kernel/interrupt")).success).toBe(false);
    expect((await ok("POST", "/api/test/manager/test")).success).toBe(false);
    expect((await ok("POST", "/api/test/manager/kill")).success).toBe(false);
    expect(await ok("POST", "/api/environment/close")).toEqual({ success: true, msg: "" });
    await waitStatus(
      api,
      (s) => s.worker_environment_exists === false && s.manager_state === "idle",
    );
    expect((await ok("POST", "/api/environment/destroy")).success).toBe(false);
    expect(await ok("POST", "/api/manager/stop")).toEqual({ success: true, msg: "" });
    expect(await m.exited).toBe(0);
  });

  it("covered every route of the table", () => {
    const missing = METHOD_ROUTES.map((r) => `${r.verb} ${r.path}`).filter((r) => !covered.has(r));
    expect(missing).toEqual([]);
  });
});

describe("HTTP errors carry a detail", () => {
  let m: RunningManager;
  let g: TestGateway;
  beforeAll(async () => {
    m = await startManager({ examples: false, startup: {} });
    g = await startTestGateway(m);
  });
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("400 for a body that is not JSON or not a map, 404 for an unknown route", async () => {
    const bad = await call(g.url, "GET", "/api/task/status", { key: SINGLE_KEY, rawBody: "{nope" });
    expect(bad.status).toBe(400);
    expect(bad.detail).toMatch(/not valid JSON/);
    const list = await call(g.url, "POST", "/api/queue/item/add", { key: SINGLE_KEY, body: [1] });
    expect(list.status).toBe(400);
    expect(list.detail).toMatch(/JSON object/);
    const none = await call(g.url, "GET", "/api/no/such/route", { key: SINGLE_KEY });
    expect(none.status).toBe(404);
    expect(none.detail).toContain("/api/no/such/route");
    // No body at all is an empty map; a GET body is read.
    const empty = await call(g.url, "POST", "/api/queue/clear", { key: SINGLE_KEY });
    expect(empty.json).toEqual({ success: true, msg: "" });
    const st = await call(g.url, "GET", "/api/task/status", {
      key: SINGLE_KEY,
      body: { task_uid: "x" },
    });
    expect(st.json).toMatchObject({ success: true, task_uid: "x", status: "not_found" });
  });
});
