/**
 * Timeouts and late replies: a server that does not answer, nothing listening
 * at the address, a manager that is stopped (SIGSTOP) and resumed, CURVE keys
 * that do not match. After a timeout the client stays usable, and a reply that
 * comes late is never taken for the answer to a later request.
 *
 * How long a timeout took is read against a timer of this process armed
 * after the client's own (settlesBefore): timers of one event loop fire in
 * order, so "it fired before the reference" holds however busy the machine.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { curveKeyPair } from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { REManagerAPI, RequestTimeoutError } from "../../src/client/index.js";
import { CLI, freePort, startManager, type RunningManager } from "../helpers/manager.js";
import { settlesBefore, waitUntil } from "../helpers/wait.js";
import { clientOf, GUARDS, SilentServer } from "./helpers.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function silent(addr?: string): Promise<SilentServer> {
  const s = await SilentServer.start("json", addr);
  cleanup.push(() => s.close());
  return s;
}

function client(
  addr: string,
  opts: ConstructorParameters<typeof REManagerAPI>[0] = {},
): REManagerAPI {
  const c = new REManagerAPI({ zmqControlAddr: addr, zmqInfoAddr: null, ...opts });
  cleanup.push(() => c.close());
  return c;
}

async function timed<T>(p: Promise<T>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ms: Date.now() - t0 };
}

/** Whether the request fails before a reference timer of `ms` (armed now) fires; and how. */
async function failsBefore(p: Promise<unknown>, ms: number) {
  const caught = p.then(
    () => undefined,
    (e: unknown) => e,
  );
  const before = await settlesBefore(caught, ms);
  return { before, err: await caught };
}

describe("a server that does not answer", () => {
  it("gives RequestTimeoutError after timeoutRecv; the late reply is dropped and the next call gets its own", async () => {
    const srv = await silent();
    const c = client(srv.address, { timeoutRecv: 0.3, timeoutSend: GUARDS.timeoutSend });
    const t0 = Date.now();
    const call = c.configGet();
    // Once the request is out, the client's 0.3 s timer is armed: it fires before a 1.5 s one.
    await waitUntil(() => srv.held.length === 1);
    const { before, err } = await failsBefore(call, 1500);
    const ms = Date.now() - t0;
    expect(before).toBe(true);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    const e = err as RequestTimeoutError;
    expect(e.code).toBe("ERR_REQUEST_TIMEOUT");
    expect(e.phase).toBe("receive");
    expect(e.timeout).toBe(0.3);
    expect(e.request).toEqual({ method: "config_get", params: {} });
    expect(ms).toBeGreaterThanOrEqual(290);

    // The next request goes out on the same connection...
    const next = c.configGet();
    await waitUntil(() => srv.held.length === 2);
    const [first, second] = srv.held;
    // ...the server now answers the first (too late), then the second.
    await srv.answer(first!, { success: true, msg: "answer to the FIRST request", config: {} });
    await srv.answer(second!, { success: true, msg: "answer to the second request", config: {} });
    expect(await next).toEqual({ success: true, msg: "answer to the second request", config: {} });
    await waitUntil(() => c.lateReplies === 1);
  });

  it("matches replies that come out of order; a per-call timeout beats timeoutRecv", async () => {
    const srv = await silent();
    const c = client(srv.address, { timeoutRecv: 5, timeoutSend: GUARDS.timeoutSend });
    const a = c.taskStatus("a");
    const b = c.taskStatus("b");
    await waitUntil(() => srv.held.length === 2);
    const reply = (uid: string) => ({ success: true, msg: "", task_uid: uid, status: "running" });
    await srv.answer(srv.held[1]!, reply("b"));
    await srv.answer(srv.held[0]!, reply("a"));
    expect(await a).toEqual(reply("a"));
    expect(await b).toEqual(reply("b"));

    const call = c.status({ reload: true, timeout: 0.1 });
    await waitUntil(() => srv.held.length === 3);
    const { before, err } = await failsBefore(call, 1000);
    expect(before).toBe(true);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).timeout).toBe(0.1);
  });
});

describe("nothing listening at the address", () => {
  it("fails to send within timeoutSend, then works once a server answers there", async () => {
    const addr = `tcp://127.0.0.1:${await freePort()}`;
    const c = client(addr, { timeoutSend: 0.2, timeoutRecv: 1 });
    // The send's 0.2 s timer is armed at the call: it fires before a 1.5 s one.
    const { before, err } = await failsBefore(c.ping(), 1500);
    expect(before).toBe(true);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe("send");
    expect((err as RequestTimeoutError).timeout).toBe(0.2);

    const srv = await silent(addr);
    srv.autoReply = () => ({ success: true, msg: "now I answer", config: {} });
    // The client reconnects by itself (ZeroMQ retries every 100 ms).
    expect(
      await waitUntil(() => c.configGet().catch(() => undefined), undefined, 50),
    ).toMatchObject({ msg: "now I answer" });
    // Nothing sent while no server listened was queued for it.
    expect(c.lateReplies).toBe(0);
  });

  it("a burst of requests fails together within timeoutSend, not one after another", async () => {
    const c = client(`tcp://127.0.0.1:${await freePort()}`, { timeoutSend: 0.2 });
    const burst = Promise.all(Array.from({ length: 50 }, () => c.ping().catch((e: unknown) => e)));
    // One after another would take 50 × 0.2 s; together, they end before a 1.5 s timer.
    expect(await settlesBefore(burst, 1500)).toBe(true);
    for (const e of await burst) expect(e).toBeInstanceOf(RequestTimeoutError);
  });
});

describe("a stopped manager", () => {
  let m: RunningManager | undefined;
  afterEach(async () => {
    if (m?.proc.pid) process.kill(m.proc.pid, "SIGCONT");
    await m?.stop();
    m = undefined;
  });

  it("times out while stopped (SIGSTOP) and answers the next call once resumed", async () => {
    m = await startManager({ examples: false });
    const c = clientOf(m);
    cleanup.push(() => c.close());
    expect((await c.status({ reload: true })).manager_state).toBe("idle");
    process.kill(m.proc.pid!, "SIGSTOP");
    const { err } = await timed(c.status({ reload: true, timeout: 0.5 }));
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).phase).toBe("receive");
    process.kill(m.proc.pid!, "SIGCONT");
    const r = await c.taskStatus("after-resume");
    expect(r).toEqual({ success: true, msg: "", task_uid: "after-resume", status: "not_found" });
    // The stopped request was answered after all, and dropped.
    await waitUntil(() => c.lateReplies === 1);
  });
});

describe("CURVE", () => {
  it("talks to a manager with a private key only when given its public key", async () => {
    const server = curveKeyPair();
    const port = await freePort();
    const addr = `tcp://127.0.0.1:${port}`;
    const tmp = mkdtempSync(path.join(os.tmpdir(), "zqs-curve-"));
    const proc = spawn(
      process.execPath,
      [
        CLI,
        "manager",
        "--zmq-control-addr",
        addr,
        "--zmq-info-addr",
        `tcp://127.0.0.1:${await freePort()}`,
        "--store-path",
        path.join(tmp, "store"),
      ],
      {
        env: { ...process.env, QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: server.secretKey },
        stdio: "ignore",
      },
    );
    const exited = new Promise((r) => proc.on("exit", r));
    cleanup.push(async () => {
      proc.kill("SIGTERM");
      await exited;
      rmSync(tmp, { recursive: true, force: true });
    });
    const good = client(addr, { zmqPublicKey: server.publicKey, timeoutRecv: 0.5 });
    const s = await waitUntil(
      () => good.status({ reload: true }).catch(() => undefined),
      undefined,
      100,
    );
    expect(s?.manager_state).toBe("idle");

    const plain = client(addr, { timeoutRecv: 0.3, timeoutSend: 0.3 });
    expect((await timed(plain.ping())).err).toBeInstanceOf(RequestTimeoutError);
    const wrong = client(addr, {
      zmqPublicKey: curveKeyPair().publicKey,
      timeoutRecv: 0.3,
      timeoutSend: 0.3,
    });
    expect((await timed(wrong.ping())).err).toBeInstanceOf(RequestTimeoutError);
    // The right key still works afterwards, with the client's own key pair given explicitly too.
    const mine = curveKeyPair();
    const explicit = client(addr, {
      zmqPublicKey: server.publicKey,
      zmqClientKeyPair: mine,
      ...GUARDS,
    });
    expect((await explicit.ping()).manager_state).toBe("idle");
  });
});
