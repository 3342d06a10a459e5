/**
 * The gateway answers as the Python gateway does, through the routes the
 * Python client's HTTP flavour calls (a real manager behind a real gateway):
 * parameters the method does not take, of the wrong type or missing are a 400
 * `{"detail"}` naming the parameter, checked against the method table before
 * anything is sent; the manager's own refusals stay 200 with success: false.
 * Also: a body nested too deep is a 400 naming the limit; tasks_list's `user`
 * is a filter, not the caller; the single-user key runs as
 * UNAUTHENTICATED_SINGLE_USER in the group primary.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_NESTING_DEPTH } from "../../src/protocol/index.js";
import { startGateway, type StartedGateway } from "../../src/http/start.js";
import { resolveHttpOptions } from "../../src/http/options.js";
import { freePort, startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, client, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

const plan = (name: string, args: unknown[] = []) => ({ item_type: "plan", name, args });
const func = (name: string, args: unknown[] = []) => ({ item_type: "function", name, args });
/** `n` lists, one inside the other: n levels deep. */
const nestedText = (n: number) => "[".repeat(n) + "]".repeat(n);

let m: RunningManager;
let g: TestGateway;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  m = await startManager();
  g = await startTestGateway(m);
  api = client(g.url, SINGLE_KEY);
});
afterAll(async () => {
  await g?.close();
  await m?.stop();
});

describe("parameters are checked against the method table: 400 with a detail", () => {
  it("a parameter the method does not take, on status too", async () => {
    const add = await api("POST", "/api/queue/item/add", { item: plan("count"), colour: "red" });
    expect(add.status, add.text).toBe(400);
    expect(add.detail).toMatch(/unsupported parameters: 'colour'/);
    expect(add.detail).toContain("'item'");
    const st = await api("GET", "/api/status", { reload: true });
    expect(st.status, st.text).toBe(400);
    expect(st.detail).toMatch(/unsupported parameters: 'reload'.*Supported parameters: \[\]/);
    // `user` is not a parameter of status: only where the method takes one is it the caller's.
    expect((await api("GET", "/api/status", { user: "x" })).status).toBe(400);
    expect((await api("GET", "/api/ping", { x: 1 })).status).toBe(400);
    expect((await api("GET", "/api/status", {})).status).toBe(200);
    expect((await api("GET", "/api/status")).status).toBe(200);
  });

  it("a parameter of the wrong type, a required one missing", async () => {
    const wrong = await api("GET", "/api/task/status", { task_uid: 5 });
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.detail).toMatch(/'task_uid' must be a string.*int/);
    const result = await api("GET", "/api/task/result", { task_uid: [1] });
    expect(result.status, result.text).toBe(400);
    expect(result.detail).toMatch(/'task_uid' must be a string/);
    const pos = await api("POST", "/api/queue/item/add", { item: plan("count"), pos: "middle" });
    expect(pos.status, pos.text).toBe(400);
    expect(pos.detail).toMatch(/'pos'/);
    const missing = await api("GET", "/api/task/result", {});
    expect(missing.status, missing.text).toBe(400);
    expect(missing.detail).toMatch(/Required 'task_uid' parameter is missing/);
    const run = await api("GET", "/api/run/info", {});
    expect(run.status, run.text).toBe(400);
    expect(run.detail).toMatch(/run_uid/);
    // Nothing was sent: the queue is as it was.
    expect((await api("GET", "/api/status")).json.items_in_queue).toBe(0);
  });

  it("the caller's user and group replace the body's, whatever their type", async () => {
    const add = await api("POST", "/api/queue/item/add", {
      item: { item_type: "instruction", name: "queue_stop" },
      user: 5,
      user_group: ["root"],
    });
    expect(add.status, add.text).toBe(200);
    expect((add.json.item as { user: string }).user, add.text).toBe("Single User");
    expect((await api("POST", "/api/queue/clear")).json.success).toBe(true);
  });

  it("the manager's own refusals stay 200 with success: false", async () => {
    const empty = await api("POST", "/api/queue/start");
    expect(empty.status).toBe(200);
    expect(empty.json.success).toBe(false);
    expect(String(empty.json.msg)).not.toBe("");
    const lock = await api("POST", "/api/lock", { lock_key: "k7", environment: true, queue: true });
    expect(lock.json.success, lock.text).toBe(true);
    const locked = await api("POST", "/api/queue/item/add", { item: plan("count") });
    expect(locked.status).toBe(200);
    expect(locked.json.success).toBe(false);
    expect(String(locked.json.msg)).toMatch(/lock/i);
    expect((await api("POST", "/api/unlock", { lock_key: "k7" })).json.success).toBe(true);
    const notFound = await api("POST", "/api/queue/item/remove", { uid: "no-such-uid" });
    expect(notFound.status).toBe(200);
    expect(notFound.json.success).toBe(false);
  });
});

describe("a body nested too deep is refused with the limit named", () => {
  const deepBody = (levels: number) =>
    `{"item": {"item_type": "function", "name": "function_sleep", "args": ${nestedText(levels - 2)}}}`;
  const limit = MAX_NESTING_DEPTH - 1;

  it("100,000 levels", async () => {
    const r = await call(g.url, "POST", "/api/function/execute", {
      key: SINGLE_KEY,
      rawBody: deepBody(100_000),
    });
    expect(r.status, r.text.slice(0, 300)).toBe(400);
    expect(r.detail).toContain(
      `more than ${limit} levels deep (at item.args); the limit is ${limit} levels`,
    );
  });

  it("one level past the limit, and at the limit", async () => {
    const past = await call(g.url, "POST", "/api/function/execute", {
      key: SINGLE_KEY,
      rawBody: deepBody(limit + 1),
    });
    expect(past.status, past.text.slice(0, 300)).toBe(400);
    expect(past.detail).toContain(`the limit is ${limit} levels`);
    // At the limit the manager reads it (and refuses it for its own reason: no environment).
    const at = await call(g.url, "POST", "/api/function/execute", {
      key: SINGLE_KEY,
      rawBody: deepBody(limit),
    });
    expect(at.status, at.text.slice(0, 300)).toBe(200);
    expect(String(at.json.msg)).toMatch(/environment is not open/);
  });

  it("on the gateway's own routes too", async () => {
    const r = await call(g.url, "GET", "/api/console_output_update", {
      key: SINGLE_KEY,
      rawBody: `{"last_msg_uid": ${nestedText(100_000)}}`,
    });
    expect(r.status).toBe(400);
    expect(r.detail).toContain(`the limit is ${limit} levels`);
  });
});

describe("GET routes take their parameters as a query string too (a browser's fetch)", () => {
  it("text, numbers, repeated names as lists; checked as a body is", async () => {
    // A uid that looks like a number stays text where the schema takes text.
    const st = await api("GET", "/api/task/status?task_uid=123");
    expect(st.status, st.text).toBe(200);
    expect(st.json).toMatchObject({ task_uid: "123", status: "not_found" });
    const many = await api("GET", "/api/task/status?task_uid=a&task_uid=b");
    expect(many.json.status).toEqual({ a: "not_found", b: "not_found" });
    const list = await api("GET", "/api/tasks/list?state=failed&state=completed&limit=2");
    expect(list.status, list.text).toBe(200);
    expect(list.json).toMatchObject({ success: true, tasks: [] });
    const bad = await api("GET", "/api/tasks/list?limit=many");
    expect(bad.status, bad.text).toBe(400);
    expect(bad.detail).toMatch(/limit/);
    const unknown = await api("GET", "/api/status?reload=1");
    expect(unknown.status).toBe(400);
    expect(unknown.detail).toMatch(/unsupported parameters: 'reload'/);
    const both = await api("GET", "/api/task/status?task_uid=a", { task_uid: "a" });
    expect(both.status).toBe(400);
    expect(both.detail).toMatch(/'task_uid' is given both in the query string and in the body/);
    const nlines = await api("GET", "/api/console_output?nlines=0");
    expect(nlines.status, nlines.text).toBe(200);
    expect(nlines.json.text).toBe("");
  });
});

describe("identities", () => {
  it("a refused function_execute echoes the user and group applied, not the item's", async () => {
    const r = await api("POST", "/api/function/execute", {
      item: { ...func("pop_buffer_element"), user: "root", user_group: "admin" },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.success).toBe(false);
    expect(String(r.json.msg)).toMatch(/not allowed/);
    expect(r.json.item).toEqual({
      ...func("pop_buffer_element"),
      user: "Single User",
      user_group: "primary",
    });
  });

  it("tasks_list: another user's tasks are listed, `user` filters", async () => {
    const alice = g.keys.create({
      user: "alice",
      userGroup: "primary",
      scopes: ["write"],
      expiresIn: 3600,
    });
    const bob = g.keys.create({
      user: "bob",
      userGroup: "primary",
      scopes: ["read"],
      expiresIn: 3600,
    });
    const asAlice = client(g.url, alice.secret);
    const asBob = client(g.url, bob.secret);
    expect((await asAlice("POST", "/api/environment/open")).json.success).toBe(true);
    await waitStatus(
      asAlice,
      (s) => s.worker_environment_exists === true && s.manager_state === "idle",
      ENV_OPEN_MS,
    );
    const ex = await asAlice("POST", "/api/function/execute", {
      item: func("function_sleep", [0]),
      run_in_background: true,
    });
    expect(ex.json.success, ex.text).toBe(true);
    const uid = ex.json.task_uid as string;
    await waitUntil(
      async () =>
        (await asBob("GET", "/api/task/status", { task_uid: uid })).json.status === "completed",
    );
    const uids = async (body: Record<string, unknown>) => {
      const r = await asBob("GET", "/api/tasks/list", body);
      expect(r.status, r.text).toBe(200);
      return (r.json.tasks as { task_uid: string; user: string }[]).map((t) => [
        t.task_uid,
        t.user,
      ]);
    };
    expect(await uids({})).toContainEqual([uid, "alice"]);
    expect(await uids({ user: "alice" })).toContainEqual([uid, "alice"]);
    expect(await uids({ user: "bob" })).toEqual([]);
    const mine = await asAlice("GET", "/api/tasks/list", {});
    expect((mine.json.tasks as { task_uid: string }[]).map((t) => t.task_uid)).toContain(uid);
  });
});

describe("the single-user key runs as UNAUTHENTICATED_SINGLE_USER in primary", () => {
  const started: StartedGateway[] = [];
  afterAll(async () => {
    for (const s of started) await s.close();
  });
  const start = async (singleUserApiKey: string | undefined) => {
    const s = await startGateway({
      ...resolveHttpOptions({}, {}),
      zqsAddr: m.controlAddr,
      zqsInfoAddr: null,
      listen: `127.0.0.1:${await freePort()}`,
      singleUserApiKey,
      timeout: 30,
    });
    started.push(s);
    return s;
  };

  it.each([
    ["given", "the-single-user-key-0123456789"],
    ["made by the gateway", undefined],
  ])("key %s: queue items and the lock carry it", async (_how, given) => {
    const s = await start(given);
    const key = given ?? s.generatedKey;
    if (key === undefined) throw new Error("the gateway made no key");
    const su = client(s.url, key);
    const add = await su("POST", "/api/queue/item/add", { item: plan("count", [["det1"]]) });
    expect(add.json.success, add.text).toBe(true);
    expect(add.json.item).toMatchObject({
      user: "UNAUTHENTICATED_SINGLE_USER",
      user_group: "primary",
    });
    const q = await su("GET", "/api/queue/get");
    expect((q.json.items as { user: string; user_group: string }[])[0]).toMatchObject({
      user: "UNAUTHENTICATED_SINGLE_USER",
      user_group: "primary",
    });
    const lock = await su("POST", "/api/lock", { lock_key: "su", queue: true });
    expect(lock.json.success, lock.text).toBe(true);
    const info = await su("GET", "/api/lock/info", {});
    expect((info.json.lock_info as { user: string }).user).toBe("UNAUTHENTICATED_SINGLE_USER");
    expect((await su("POST", "/api/unlock", { lock_key: "su" })).json.success).toBe(true);
    const who = await su("GET", "/api/auth/whoami");
    expect(who.json).toMatchObject({ user: "UNAUTHENTICATED_SINGLE_USER", user_group: "primary" });
    expect((await su("POST", "/api/queue/clear")).json.success).toBe(true);
  });
});
