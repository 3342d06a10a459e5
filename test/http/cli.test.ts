/**
 * The gateway as users start it: `zqs http` in front of a manager (a key made
 * and printed when none is given, or the single-user key from the
 * environment), and `zqs manager --http-addr` with the gateway inside.
 */
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { curveKeyPair } from "zeromq";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CLI, freePort, startManager, type RunningManager } from "../helpers/manager.js";
import { waitUntil } from "../helpers/wait.js";
import { call, readSse, SINGLE_KEY, startTestGateway } from "./helpers.js";

let m: RunningManager;
beforeAll(async () => {
  m = await startManager({ examples: false, startup: {} });
});
afterAll(async () => {
  await m?.stop();
});

/** Run `zqs http ...`; resolves once `ready` matches its output. */
async function zqsHttp(args: string[], env: Record<string, string> = {}, ready = /gateway at/) {
  const proc = spawn(process.execPath, [CLI, "http", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  await waitUntil(() => ready.test(out) || proc.exitCode !== null);
  return { proc, output: () => out, exited };
}

it("zqs http with no key makes one, prints the login URL, serves with it, stops on SIGTERM", async () => {
  const port = await freePort();
  const g = await zqsHttp(
    ["--zqs-addr", m.controlAddr, "--zqs-info-addr", m.infoAddr, "--listen", `127.0.0.1:${port}`],
    {},
    /Dashboard: .*token=[0-9a-f]{64}/,
  );
  const key = /token=([0-9a-f]{64})/.exec(g.output())?.[1] as string;
  const url = `http://127.0.0.1:${port}`;
  expect((await call(url, "GET", "/api/status")).status).toBe(401);
  const st = await call(url, "GET", "/api/status", { key });
  expect(st.status).toBe(200);
  expect(st.json.manager_state).toBe("idle");
  g.proc.kill("SIGTERM");
  expect(await g.exited).toBe(0);
});

it("zqs http takes the single-user key from QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY", async () => {
  const port = await freePort();
  const g = await zqsHttp(
    ["--zqs-addr", m.controlAddr, "--zqs-info-addr", m.infoAddr, "--listen", `127.0.0.1:${port}`],
    { QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY: "from-the-environment" },
  );
  expect(g.output()).not.toContain("token=");
  const who = await call(`http://127.0.0.1:${port}`, "GET", "/api/auth/whoami", {
    key: "from-the-environment",
  });
  expect(who.json.scopes).toEqual(["read", "write", "admin"]);
  g.proc.kill("SIGTERM");
  expect(await g.exited).toBe(0);
});

it("zqs http refuses a bad option with exit code 2", async () => {
  const g = await zqsHttp(["--listen", "nowhere"], {}, /zqs http:/);
  expect(await g.exited).toBe(2);
  expect(g.output()).toContain("--listen: expected HOST:PORT");
  // `--timeout` is the program's option too; its value must still be this command's, checked.
  const t = await zqsHttp(["--timeout", "0"], {}, /zqs http:/);
  expect(await t.exited).toBe(2);
  expect(t.output()).toContain("--timeout");
});

it("zqs manager --http-addr runs the gateway inside, with its info socket on", async () => {
  const port = await freePort();
  const mm = await startManager({
    examples: false,
    startup: {},
    publishConsole: false,
    args: ["--http-addr", `127.0.0.1:${port}`, "--http-single-user-api-key", "inside"],
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    const st = await waitUntil(async () => {
      const r = await call(url, "GET", "/api/status", { key: "inside" }).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    expect(st.json.manager_state).toBe("idle");
    const evs = await readSse(url, "/api/events", "inside", (e) =>
      e.some((x) => x.event === "status"),
    );
    expect(evs.some((e) => e.event === "status")).toBe(true);
  } finally {
    await mm.stop();
  }
});

it("reaches a manager with CURVE: --zmq-public-key", async () => {
  const server = curveKeyPair();
  const mm = await startManager({
    examples: false,
    startup: {},
    args: ["--zmq-private-key", server.secretKey],
    probeCurve: { serverKey: server.publicKey, ...curveKeyPair() },
  });
  const port = await freePort();
  const g = await zqsHttp([
    "--zqs-addr",
    mm.controlAddr,
    "--zqs-info-addr",
    mm.infoAddr,
    "--listen",
    `127.0.0.1:${port}`,
    "--zmq-public-key",
    server.publicKey,
    "--single-user-api-key",
    "curve",
  ]);
  // Without the key the gateway cannot talk to it: 408.
  const plain = await startTestGateway(mm, { timeout: 1 });
  try {
    const st = await call(`http://127.0.0.1:${port}`, "GET", "/api/status", { key: "curve" });
    expect(st.status).toBe(200);
    expect(st.json.manager_state).toBe("idle");
    expect((await call(plain.url, "GET", "/api/status", { key: SINGLE_KEY })).status).toBe(408);
  } finally {
    g.proc.kill("SIGTERM");
    await g.exited;
    await plain.close();
    await mm.stop();
  }
});

it("zqs manager --http-addr with CURVE and an allow-list: the gateway's own key is let in", async () => {
  const server = curveKeyPair();
  const probe = curveKeyPair();
  const allowed = path.join(os.tmpdir(), `zqs-allowed-${process.pid}-${Date.now()}.txt`);
  writeFileSync(allowed, `${probe.publicKey}\n`);
  const port = await freePort();
  const mm = await startManager({
    examples: false,
    startup: {},
    args: [
      "--zmq-private-key",
      server.secretKey,
      "--zmq-allowed-clients",
      allowed,
      "--http-addr",
      `127.0.0.1:${port}`,
      "--http-single-user-api-key",
      "inside",
    ],
    probeCurve: { serverKey: server.publicKey, ...probe },
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    const st = await waitUntil(async () => {
      const r = await call(url, "GET", "/api/status", { key: "inside" }).catch(() => undefined);
      return r && r.status !== 0 ? r : undefined;
    });
    expect(st.status).toBe(200);
    expect(st.json.manager_state).toBe("idle");
  } finally {
    await mm.stop();
    rmSync(allowed, { force: true });
  }
});
