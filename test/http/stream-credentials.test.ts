/**
 * Open streams end with their credential: an SSE stream and WebSockets opened
 * with an API key close when the key expires or is deleted, and those of a
 * session when it logs out (real gateway, real manager, real sockets). And
 * keys created over HTTP: a lifetime beyond the limit is a 400 that leaves
 * nothing behind, and a key change that cannot be written is undone.
 */
import http from "node:http";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { GUARD_MS, waitUntil } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, SINGLE_KEY, startTestGateway } from "./helpers.js";

interface Stream {
  /** Resolves once the stream is open; rejects with the HTTP status that refused it. */
  opened: Promise<void>;
  /** Resolves when the server ends the stream: why, as it said. */
  closed: Promise<string>;
  /** End it from this side. */
  end(): void;
}

/** `/api/events` as SSE; `closed` resolves with the detail of its last `closed` event. */
function openSse(url: string, headers: Record<string, string>): Stream {
  let ok!: () => void;
  let refuse!: (err: Error) => void;
  const opened = new Promise<void>((res, rej) => ((ok = res), (refuse = rej)));
  let req!: http.ClientRequest;
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error("SSE: still open"));
    }, GUARD_MS);
    req = http.get(`${url}/api/events`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        res.resume();
        refuse(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
        return;
      }
      ok();
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("end", () => {
        clearTimeout(timer);
        const last = /event: closed\ndata: (.*)\n/.exec(text)?.[1];
        resolve(last ? String((JSON.parse(last) as { detail: string }).detail) : "(no reason)");
      });
    });
    req.on("error", reject);
  });
  closed.catch(() => undefined);
  return { opened, closed, end: () => req.destroy() };
}

/** A WebSocket; `closed` resolves with "code reason". */
function openWs(url: string, headers: Record<string, string>): Stream {
  const ws = new WebSocket(url.replace(/^http/, "ws"), { headers });
  const opened = new Promise<void>((resolve, reject) => {
    ws.on("open", () => resolve());
    ws.on("unexpected-response", (_req, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
  });
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("ws: still open"));
    }, GUARD_MS);
    ws.on("close", (code, reason) => {
      clearTimeout(timer);
      resolve(`${code} ${reason.toString("utf8")}`);
    });
    ws.on("error", () => undefined);
  });
  opened.catch(() => undefined);
  return { opened, closed, end: () => ws.close() };
}

let m: RunningManager;
let g: TestGateway;
let keysFile: string;

beforeAll(async () => {
  m = await startManager({ examples: false, startup: {} });
  keysFile = path.join(m.tmpDir, "keys.yaml");
  writeFileSync(keysFile, "api_keys: {}\n");
  g = await startTestGateway(m, { keysFile });
  await waitUntil(() => g.gateway.events.lastStatus !== undefined);
});

afterAll(async () => {
  await g?.close();
  await m?.stop();
});

async function newKey(expiresIn: number): Promise<{ secret: string; expires: number }> {
  const r = await call(g.url, "POST", "/api/auth/apikey", {
    key: SINGLE_KEY,
    body: { expires_in: expiresIn },
  });
  expect(r.status, r.text).toBe(200);
  return {
    secret: r.json.secret as string,
    expires: Date.parse(r.json.expiration_time as string),
  };
}

const byKey = (secret: string) => ({ Authorization: `ApiKey ${secret}` });

describe("streams end with their credential", () => {
  it("an SSE stream and WebSockets close when their key expires", async () => {
    // A short-lived key; the streams must open before it expires (a longer life if not).
    let lifetime = 1;
    for (;;) {
      const { secret, expires } = await newKey(lifetime);
      const streams = [
        openSse(g.url, byKey(secret)),
        openWs(`${g.url}/api/events`, byKey(secret)),
        openWs(`${g.url}/api/info/ws`, byKey(secret)),
      ];
      const opened = await Promise.allSettled(streams.map((s) => s.opened));
      if (opened.some((o) => o.status === "rejected")) {
        lifetime *= 2; // expired before it opened, on a busy machine
        for (const s of streams) await s.closed.catch(() => undefined);
        continue;
      }
      const why = await Promise.all(streams.map((s) => s.closed));
      expect(Date.now()).toBeGreaterThanOrEqual(expires);
      expect(why).toEqual([
        "The API key has expired",
        "1008 The API key has expired",
        "1008 The API key has expired",
      ]);
      break;
    }
    await waitUntil(() => g.gateway.streams.size === 0);
  });

  it("deleting a key closes its streams at once; others stay open", async () => {
    const { secret } = await newKey(3600);
    const other = openWs(`${g.url}/api/events`, byKey(SINGLE_KEY));
    const mine = [openSse(g.url, byKey(secret)), openWs(`${g.url}/api/events`, byKey(secret))];
    await Promise.all([other.opened, ...mine.map((s) => s.opened)]);
    expect(g.gateway.streams.size).toBe(3);
    const del = await call(g.url, "DELETE", `/api/auth/apikey?first_eight=${secret.slice(0, 8)}`, {
      key: SINGLE_KEY,
    });
    expect(del.json).toEqual({ success: true, msg: "" });
    expect(await Promise.all(mine.map((s) => s.closed))).toEqual([
      "The API key was deleted",
      "1008 The API key was deleted",
    ]);
    // The single key's stream is still kept open by the gateway.
    expect(g.gateway.streams.size).toBe(1);
    other.end();
    await other.closed;
    await waitUntil(() => g.gateway.streams.size === 0);
  });

  it("logging out closes the streams of the session (cookie and Bearer)", async () => {
    const login = await call(g.url, "GET", `/?token=${SINGLE_KEY}`);
    const cookie = String(login.headers["set-cookie"]).split(";")[0] as string;
    const refresh = await call(g.url, "POST", "/api/auth/session/refresh", { key: SINGLE_KEY });
    const bearer = { Authorization: `Bearer ${refresh.json.access_token as string}` };
    const byCookie = [
      openSse(g.url, { Cookie: cookie }),
      openWs(`${g.url}/api/info/ws`, { Cookie: cookie }),
    ];
    const byBearer = openWs(`${g.url}/api/events`, bearer);
    await Promise.all([...byCookie, byBearer].map((s) => s.opened));
    const out = await call(g.url, "POST", "/api/auth/logout", { cookie });
    expect(out.status).toBe(200);
    expect(await Promise.all(byCookie.map((s) => s.closed))).toEqual([
      "The session has ended",
      "1008 The session has ended",
    ]);
    expect(
      (await call(g.url, "POST", "/api/auth/logout", { auth: bearer.Authorization })).status,
    ).toBe(200);
    expect(await byBearer.closed).toBe("1008 The session has ended");
    await waitUntil(() => g.gateway.streams.size === 0);
  });
});

describe("keys created over HTTP", () => {
  const mine = async () =>
    ((await call(g.url, "GET", "/api/auth/apikey", { key: SINGLE_KEY })).json.api_keys as unknown[])
      .length;

  it("an expires_in beyond the limit is a 400 naming it, and key creation goes on working", async () => {
    const before = await mine();
    for (const expiresIn of [1e13, 1e300, 365 * 24 * 3600 + 1]) {
      const r = await call(g.url, "POST", "/api/auth/apikey", {
        key: SINGLE_KEY,
        body: { expires_in: expiresIn },
      });
      expect(r.status, r.text).toBe(400);
      expect(r.detail).toContain("31536000");
      expect(r.detail).toContain("--api-key-max-lifetime");
    }
    expect(await mine()).toBe(before);
    const { secret } = await newKey(365 * 24 * 3600);
    expect((await call(g.url, "GET", "/api/status", { key: secret })).status).toBe(200);
    expect(await mine()).toBe(before + 1);
  });

  it("a key change that cannot be written to the file is undone", async () => {
    const { secret } = await newKey(600);
    const before = await mine();
    // The file cannot be replaced: its temporary file's path is taken by a folder.
    const blocker = `${keysFile}.tmp-${process.pid}`;
    mkdirSync(blocker);
    try {
      const made = await call(g.url, "POST", "/api/auth/apikey", {
        key: SINGLE_KEY,
        body: { expires_in: 600 },
      });
      expect(made.status).toBe(500);
      expect(await mine()).toBe(before);
      expect(made.detail).toContain("Cannot write the API keys file");
      const del = await call(
        g.url,
        "DELETE",
        `/api/auth/apikey?first_eight=${secret.slice(0, 8)}`,
        {
          key: SINGLE_KEY,
        },
      );
      expect(del.status).toBe(500);
      // Not deleted: the key still works, as the file still says.
      expect((await call(g.url, "GET", "/api/status", { key: secret })).status).toBe(200);
      expect(await mine()).toBe(before);
    } finally {
      rmSync(blocker, { recursive: true, force: true });
    }
    const del = await call(g.url, "DELETE", `/api/auth/apikey?first_eight=${secret.slice(0, 8)}`, {
      key: SINGLE_KEY,
    });
    expect(del.json).toEqual({ success: true, msg: "" });
    expect(await mine()).toBe(before - 1);
  });
});
