/**
 * Auth through the gateway to a real manager: no key, a wrong key, a read-only
 * key writing, an expired key, a key's user and group applied on the manager,
 * keys created/listed/deleted over HTTP (kept as hashes), the `/?token=`
 * session cookie, Bearer session tokens, logout, anonymous read.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { hashKey } from "../../src/http/api-keys.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, client, startTestGateway, waitStatus } from "./helpers.js";

const ALICE = "alice-key-0000000000000000000000000001"; // write, group test_user
const BOB = "bob-key-00000000000000000000000000000002"; // read, group primary
const DAVE = "dave-key-0000000000000000000000000000003"; // expired
const ROOT = "root-key-0000000000000000000000000000004"; // admin

const plan = (name: string, args: unknown[] = []) => ({ item_type: "plan", name, args });

function keysYaml(): string {
  return [
    "api_keys:",
    `  ${hashKey(ALICE)}: {user: alice, user_group: test_user, scopes: [write]}`,
    `  ${hashKey(BOB)}: {user: bob, user_group: primary, scopes: [read]}`,
    `  ${hashKey(DAVE)}: {user: dave, user_group: primary, scopes: [write], expires: 2001-01-01T00:00:00Z}`,
    `  ${hashKey(ROOT)}: {user: root, user_group: primary, scopes: [admin]}`,
    "",
  ].join("\n");
}

/** The status of a WebSocket upgrade: "open" or the HTTP status that refused it. */
function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), { headers });
    ws.on("open", () => {
      ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => {
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on("error", (err) => reject(err));
  });
}

describe("keys from a file", () => {
  let m: RunningManager;
  let g: TestGateway;
  let keysFile: string;
  let dashboardDir: string;
  beforeAll(async () => {
    m = await startManager();
    keysFile = path.join(m.tmpDir, "keys.yaml");
    writeFileSync(keysFile, keysYaml());
    dashboardDir = path.join(m.tmpDir, "dash");
    mkdirSync(dashboardDir);
    writeFileSync(path.join(dashboardDir, "index.html"), "<p id=marker>the dashboard</p>");
    writeFileSync(path.join(dashboardDir, "app.js"), "console.log(1)");
    g = await startTestGateway(m, { keysFile, singleKey: null, dashboardDir });
    const alice = client(g.url, ALICE);
    expect((await alice("POST", "/api/environment/open")).json).toEqual({ success: true, msg: "" });
    await waitStatus(
      alice,
      (s) => s.worker_environment_exists === true && s.manager_state === "idle",
      ENV_OPEN_MS,
    );
  });
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("no credentials, a wrong key, an unknown scheme: 401 with a detail", async () => {
    const none = await call(g.url, "GET", "/api/status");
    expect(none.status).toBe(401);
    expect(none.detail).toMatch(/Not authenticated/);
    expect(none.headers["www-authenticate"]).toContain("ApiKey");
    const wrong = await call(g.url, "GET", "/api/status", { key: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.detail).toBe("Invalid API key");
    const basic = await call(g.url, "GET", "/api/status", { auth: "Basic YWxpY2U6eA==" });
    expect(basic.status).toBe(401);
    expect((await call(g.url, "GET", "/metrics")).status).toBe(401);
    expect(await wsOutcome(`${g.url}/api/info/ws`)).toBe(401);
    expect(await wsOutcome(`${g.url}/api/info/ws`, { Authorization: `ApiKey ${BOB}` })).toBe(
      "open",
    );
  });

  it("an expired key: 401", async () => {
    const r = await call(g.url, "GET", "/api/status", { key: DAVE });
    expect(r.status).toBe(401);
    expect(r.detail).toMatch(/expired/);
  });

  it("a read-only key reads but may not write (403); write keys may not administer", async () => {
    expect((await call(g.url, "GET", "/api/queue/get", { key: BOB })).status).toBe(200);
    expect((await call(g.url, "GET", "/metrics", { key: BOB })).text).toContain(
      "zqs_http_requests_total",
    );
    const w = await call(g.url, "POST", "/api/queue/item/add", {
      key: BOB,
      body: { item: plan("count", [["det1"]]) },
    });
    expect(w.status).toBe(403);
    expect(w.detail).toMatch(/'write' scope/);
    expect((await call(g.url, "GET", "/api/status", { key: BOB })).json.items_in_queue).toBe(0);
    const stop = await call(g.url, "POST", "/api/manager/stop", { key: ALICE });
    expect(stop.status).toBe(403);
    expect(stop.detail).toMatch(/'admin' scope/);
    expect((await call(g.url, "POST", "/api/permissions/reload", { key: ALICE })).status).toBe(403);
    expect((await call(g.url, "POST", "/api/permissions/reload", { key: ROOT })).json.success).toBe(
      true,
    );
  });

  it("requests run as the key's user and group: the group's permissions apply", async () => {
    const alice = client(g.url, ALICE);
    const allowed = Object.keys(
      (await alice("GET", "/api/plans/allowed")).json.plans_allowed as object,
    );
    expect(allowed).toContain("count");
    expect(allowed).not.toContain("move_then_count"); // test_user: count* and *scan only
    const bobAllowed = Object.keys(
      (await call(g.url, "GET", "/api/plans/allowed", { key: BOB })).json.plans_allowed as object,
    );
    expect(bobAllowed).toContain("move_then_count");
    const add = await alice("POST", "/api/queue/item/add", {
      item: plan("count", [["det1"]]),
      user: "bob",
      user_group: "primary",
    });
    expect(add.json.success, String(add.json.msg)).toBe(true);
    expect(add.json.item).toMatchObject({ user: "alice", user_group: "test_user" });
    // A plan primary may run but test_user may not: refused for alice, whatever the body says.
    const refused = await alice("POST", "/api/queue/item/add", {
      item: plan("move_then_count", [["motor1"], ["det1"], [0]]),
      user_group: "primary",
    });
    expect(refused.json.success).toBe(false);
    expect(String(refused.json.msg)).toMatch(/not in the list of allowed plans|not allowed/i);
    expect((await alice("POST", "/api/queue/clear")).json.success).toBe(true);
    const who = await alice("GET", "/api/auth/whoami");
    expect(who.json).toMatchObject({ user: "alice", user_group: "test_user", auth: "apikey" });
    expect(who.json.scopes).toEqual(["read", "write"]);
    expect((await alice("GET", "/api/auth/scopes")).json).toMatchObject({
      scopes: ["read", "write"],
      roles: ["test_user"],
    });
  });

  it("keys created over HTTP: scopes at most the caller's, stored as hashes, listed, deleted", async () => {
    const alice = client(g.url, ALICE);
    expect((await alice("POST", "/api/auth/apikey", { scopes: ["read"] })).status).toBe(400);
    const tooMuch = await alice("POST", "/api/auth/apikey", { expires_in: 60, scopes: ["admin"] });
    expect(tooMuch.status).toBe(403);
    const made = await alice("POST", "/api/auth/apikey", {
      expires_in: 3600,
      scopes: ["read"],
      note: "ci",
    });
    expect(made.status).toBe(200);
    const secret = made.json.secret as string;
    expect(made.json.first_eight).toBe(secret.slice(0, 8));
    const file = readFileSync(keysFile, "utf8");
    expect(file).toContain(hashKey(secret));
    expect(file).not.toContain(secret);
    expect(file).toContain(hashKey(ALICE)); // the file's keys are kept
    // The new key: alice's user and group, read only.
    const who = await call(g.url, "GET", "/api/auth/whoami", { key: secret });
    expect(who.json).toMatchObject({ user: "alice", user_group: "test_user", scopes: ["read"] });
    expect((await call(g.url, "POST", "/api/queue/clear", { key: secret })).status).toBe(403);
    const info = await call(g.url, "GET", "/api/auth/apikey", { key: secret });
    expect(info.json).toMatchObject({
      first_eight: secret.slice(0, 8),
      note: "ci",
      scopes: ["read"],
    });
    expect((info.json.api_keys as { first_eight: string }[]).map((k) => k.first_eight)).toContain(
      secret.slice(0, 8),
    );
    // Bob cannot delete alice's key; alice can.
    const byBob = await call(
      g.url,
      "DELETE",
      `/api/auth/apikey?first_eight=${secret.slice(0, 8)}`,
      { key: BOB },
    );
    expect(byBob.status).toBe(404);
    const del = await call(g.url, "DELETE", `/api/auth/apikey?first_eight=${secret.slice(0, 8)}`, {
      key: ALICE,
    });
    expect(del.json).toEqual({ success: true, msg: "" });
    expect((await call(g.url, "GET", "/api/status", { key: secret })).status).toBe(401);
    expect(readFileSync(keysFile, "utf8")).not.toContain(hashKey(secret));
  });

  it("/?token=KEY logs in with an HttpOnly cookie and redirects; logout ends the session", async () => {
    const form = await call(g.url, "GET", "/");
    expect(form.status).toBe(200);
    expect(form.text).toContain('id="login-form"');
    expect(form.text).not.toContain("marker");
    const badToken = await call(g.url, "GET", "/?token=wrong");
    expect(badToken.status).toBe(401);
    expect(badToken.text).toContain("Invalid API key");
    const login = await call(g.url, "GET", `/?token=${BOB}`);
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe("/");
    const setCookie = String(login.headers["set-cookie"]);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toContain(BOB);
    const cookie = setCookie.split(";")[0] as string;
    const page = await call(g.url, "GET", "/", { cookie });
    expect(page.text).toContain("marker");
    expect((await call(g.url, "GET", "/app.js")).text).toBe("console.log(1)");
    expect((await call(g.url, "GET", "/../keys.yaml")).status).toBe(404);
    expect((await call(g.url, "GET", "/%2e%2e/keys.yaml")).status).toBe(404);
    const who = await call(g.url, "GET", "/api/auth/whoami", { cookie });
    expect(who.json).toMatchObject({ user: "bob", auth: "session" });
    expect((await call(g.url, "POST", "/api/queue/clear", { cookie })).status).toBe(403);
    expect((await call(g.url, "POST", "/api/auth/logout", { cookie })).status).toBe(200);
    expect((await call(g.url, "GET", "/api/status", { cookie })).status).toBe(401);
  });

  it("Bearer: an API key or a session token from session/refresh", async () => {
    expect((await call(g.url, "GET", "/api/status", { auth: `Bearer ${BOB}` })).status).toBe(200);
    const r = await call(g.url, "POST", "/api/auth/session/refresh", { key: ALICE });
    const token = r.json.access_token as string;
    expect(token).toBeTruthy();
    const who = await call(g.url, "GET", "/api/auth/whoami", { auth: `Bearer ${token}` });
    expect(who.json).toMatchObject({ user: "alice", auth: "session" });
    await call(g.url, "POST", "/api/auth/logout", { auth: `Bearer ${token}` });
    expect((await call(g.url, "GET", "/api/status", { auth: `Bearer ${token}` })).status).toBe(401);
  });
});

describe("anonymous access", () => {
  let m: RunningManager;
  let open: TestGateway;
  let closed: TestGateway;
  beforeAll(async () => {
    m = await startManager({ examples: false, startup: {} });
    open = await startTestGateway(m, { allowAnonymous: "read" });
    closed = await startTestGateway(m);
  });
  afterAll(async () => {
    await open?.close();
    await closed?.close();
    await m?.stop();
  });

  it("--allow-anonymous read: reads and /metrics without a key, nothing else", async () => {
    expect((await call(open.url, "GET", "/api/status")).status).toBe(200);
    expect((await call(open.url, "GET", "/metrics")).text).toContain("zqs_queue_items 0");
    const w = await call(open.url, "POST", "/api/queue/clear");
    expect(w.status).toBe(401);
    expect(w.detail).toMatch(/'write' scope/);
    expect((await call(open.url, "GET", "/api/auth/whoami")).status).toBe(401);
    expect((await call(open.url, "GET", "/")).text).toContain("zqs");
  });

  it("off by default", async () => {
    expect((await call(closed.url, "GET", "/api/status")).status).toBe(401);
    expect((await call(closed.url, "GET", "/metrics")).status).toBe(401);
  });
});
