/**
 * A worker's name belongs to its live connection (its agent's instance) and,
 * with CURVE, to the key that first used it; a hello is bounded; a departed
 * worker is forgotten. Real `zqs worker` processes and raw DEALERs that speak
 * the wire protocol by hand.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateKeyPair } from "../../src/client/index.js";
import { encodeWire } from "../../src/protocol/worker-wire.js";
import type { CurveClientKeys, InfoListener } from "../helpers/manager.js";
import { freePort, RawClient, startManager, waitUntil } from "../helpers/manager.js";
import { gateModule, newGate } from "../helpers/startup.js";
import { execute, fn, openEnvironment, waitFinal, waitInfo } from "../helpers/tasks.js";
import type { RunningWorker } from "./helpers.js";
import {
  REMOTE_STARTUP,
  setupRemote,
  startWorker,
  useRemoteManager,
  waitWorker,
  workersList,
} from "./helpers.js";
import type { RawCurve } from "./raw-worker.js";
import { RawWorker } from "./raw-worker.js";

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup.length = 0;
});

const TIMEOUT_S = 2;

/** The manager of the tests that need no options of their own. */
const shared = useRemoteManager(["--worker-timeout", String(TIMEOUT_S)]);

async function setup(args: string[] = []) {
  return setupRemote((f) => cleanup.push(f), {
    args: ["--worker-timeout", String(TIMEOUT_S), ...args],
  });
}

function worker(addr: string, o: Parameters<typeof startWorker>[1]): RunningWorker {
  const w = startWorker(addr, o);
  cleanup.push(() => w.stop());
  return w;
}

function raw(addr: string, curve?: RawCurve): RawWorker {
  const r = new RawWorker(addr, curve);
  cleanup.push(() => r.close());
  return r;
}

type Payload = Record<string, unknown>;

function workerEvents(events: InfoListener, event: string, name: string): Payload[] {
  return events.messages
    .map((p) => p.payload.msg as Payload)
    .filter((e) => e.event === event && e.worker === name);
}

/** A TCP relay to `port` whose connections the test can cut (a network drop). */
async function relay(port: number): Promise<{ addr: string; cut: () => void; close: () => void }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((a) => {
    const b = net.connect(port, "127.0.0.1");
    for (const s of [a, b]) {
      open.add(s);
      s.on("error", () => undefined);
      s.on("close", () => open.delete(s));
    }
    a.pipe(b).pipe(a);
  });
  const local = await freePort();
  await new Promise<void>((r) => server.listen(local, "127.0.0.1", r));
  return {
    addr: `tcp://127.0.0.1:${local}`,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

describe("a worker's name", () => {
  it("a second zqs worker under a live name exits non-zero naming the conflict; the first runs on, no flapping", async () => {
    const { m, c, events } = shared;
    const first = shared.worker({ name: "first" });
    await waitWorker(c, "first");
    const gate = newGate();
    const t = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    await waitInfo(c, t, (i) => i.state === "running" && i.worker === "first");

    const second = shared.worker({ name: "first" });
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(
      `the manager refused this worker: the name 'first' is in use by a live worker on ${os.hostname()} (pid ${first.proc.pid})`,
    );
    // The log line comes on the manager\'s stdout pipe, after its reply.
    await waitUntil(() =>
      m.output().includes("Refused a worker named 'first': the name 'first' is in use"),
    );
    gate.open();
    expect(await waitFinal(c, t)).toMatchObject({ state: "completed", worker: "first" });
    expect(m.output()).not.toMatch(/Worker 'first' .* is back/);
    expect(workerEvents(events, "worker-online", "first")).toHaveLength(1);
    expect(workerEvents(events, "worker-offline", "first")).toHaveLength(0);
    expect((await waitWorker(c, "first")).pid).toBe(first.proc.pid);
  });

  it("a raw hello under a live worker's name fails nothing of it and gets no execute", async () => {
    const { c, addr, events } = shared;
    shared.worker({ name: "held" });
    await waitWorker(c, "held");
    const gate = newGate();
    const t1 = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    await waitInfo(c, t1, (i) => i.state === "running" && i.worker === "held");

    const intruder = raw(addr);
    await intruder.hello("held");
    const t2 = await execute(c, fn("agent_pid"), { run_in_background: true });
    const answer = await intruder.answer();
    expect(answer).toMatchObject({ type: "refused" });
    expect((answer as { reason: string }).reason).toContain("the name 'held' is in use");
    gate.open();
    expect(await waitFinal(c, t1)).toMatchObject({ state: "completed", worker: "held" });
    expect(await waitFinal(c, t2)).toMatchObject({ state: "completed", worker: "held" });
    expect(intruder.got("execute")).toHaveLength(0);
    expect(workerEvents(events, "worker-online", "held")).toHaveLength(1);
  });

  it("kill -9 and a restart at once under the same name: known again once the old one is lost", async () => {
    const { c, events } = shared;
    const old = shared.worker({ name: "reborn" });
    await waitWorker(c, "reborn");
    await old.kill9();
    const fresh = shared.worker({ name: "reborn" });
    const row = await waitWorker(
      c,
      "reborn",
      (w) => w.state === "online" && w.pid === fresh.proc.pid,
    );
    expect(row.pid).toBe(fresh.proc.pid);
    expect(workerEvents(events, "worker-offline", "reborn")).toMatchObject([{ reason: "lost" }]);
    const t = await execute(c, fn("agent_pid"), { run_in_background: true });
    expect(await waitFinal(c, t)).toMatchObject({ state: "completed", worker: "reborn" });
    expect(fresh.proc.exitCode).toBeNull();
  });

  it("a dropped connection: the same worker is known again at once on its new one", async () => {
    const { m, c, addr, events } = shared;
    const port = Number(addr.split(":").pop());
    const net1 = await relay(port);
    cleanup.push(() => net1.close());
    const w = shared.worker({ name: "relayed" }, net1.addr);
    await waitWorker(c, "relayed");
    net1.cut();
    await waitUntil(() => /Worker 'relayed' .* is back/.test(m.output()));
    expect(workerEvents(events, "worker-offline", "relayed")).toHaveLength(0);
    expect((await waitWorker(c, "relayed")).pid).toBe(w.proc.pid);
    const t = await execute(c, fn("agent_pid"), { run_in_background: true });
    expect(await waitFinal(c, t)).toMatchObject({ state: "completed", worker: "relayed" });
  });
});

describe("a worker's name with CURVE", () => {
  it("another allowed key cannot take a worker's name, live or lost", async () => {
    const server = generateKeyPair();
    const client = generateKeyPair();
    const owner = generateKeyPair();
    const other = generateKeyPair();
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-names-keys-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const allowed = path.join(dir, "workers.txt");
    writeFileSync(allowed, `${owner.publicKey}\n${other.publicKey}\n`);
    const addr = `tcp://127.0.0.1:${await freePort()}`;
    const curve: CurveClientKeys = {
      serverKey: server.publicKey,
      publicKey: client.publicKey,
      secretKey: client.secretKey,
    };
    const m = await startManager({
      startup: { "10-remote.mjs": REMOTE_STARTUP, "20-gate.mjs": gateModule() },
      args: [
        ...["--zmq-worker-addr", addr, "--workers", "0", "--worker-timeout", String(TIMEOUT_S)],
        ...["--zmq-private-key", server.secretKey, "--zmq-allowed-workers", allowed],
      ],
      probeCurve: curve,
    });
    cleanup.push(() => m.stop());
    const c = new RawClient(m.controlAddr, { curve });
    cleanup.push(() => c.close());
    await openEnvironment(c);
    const w1 = worker(addr, {
      name: "w1",
      args: [`--public-key=${server.publicKey}`, `--private-key=${owner.secretKey}`],
    });
    await waitWorker(c, "w1");
    const otherCurve = { serverKey: server.publicKey, ...other };

    // Live: refused for its key.
    const live = raw(addr, otherCurve);
    await live.hello("w1");
    const r1 = (await live.answer()) as { type: string; reason: string };
    expect(r1.type).toBe("refused");
    expect(r1.reason).toContain(`belongs to a worker with another CURVE key (${owner.publicKey})`);

    // A claim of the owner's key without its secret key proves nothing.
    const forger = raw(addr, otherCurve);
    await forger.hello("w1", { key: owner.publicKey });
    const r2 = (await forger.answer()) as { type: string; reason: string };
    expect(r2).toMatchObject({
      type: "refused",
      reason: `the hello does not prove that the worker holds the key ${owner.publicKey}`,
    });

    // Lost: still the owner's name.
    await w1.kill9();
    await waitWorker(c, "w1", (w) => w.state === "lost");
    const late = raw(addr, otherCurve);
    await late.hello("w1");
    expect(await late.answer()).toMatchObject({ type: "refused" });
    expect(late.got("execute")).toHaveLength(0);
    expect((await workersList(c)).find((w) => w.name === "w1")?.state).toBe("lost");
    // The owner's key gets it back.
    const back = worker(addr, {
      name: "w1",
      args: [`--public-key=${server.publicKey}`, `--private-key=${owner.secretKey}`],
    });
    const row = await waitWorker(c, "w1", (w) => w.state === "online" && w.pid === back.proc.pid);
    expect(row.pid).toBe(back.proc.pid);
  });
});

describe("bounds on a hello", () => {
  it("a hello of 500,000 functions is refused with the reason; the manager answers, a real worker is not lost", async () => {
    const { m, c, addr, events } = shared;
    shared.worker({ name: "steady" });
    await waitWorker(c, "steady");
    const functions: Record<string, string> = {};
    for (let i = 0; i < 500_000; i++) functions[`f${i}`] = "0123456789abcdef";
    const big = raw(addr);
    await big.hello("big", { functions });
    const answer = (await big.answer()) as { type: string; reason: string };
    expect(answer.type).toBe("refused");
    expect(answer.reason).toMatch(/more than the manager's --worker-max-hello-size \(1048576\)/);
    // The log line comes on the manager\'s stdout pipe, after its reply.
    await waitUntil(() => m.output().includes("Refused a worker: the hello is"));
    expect((await c.request("status")).manager_state).toBe("idle");
    const t = await execute(c, fn("agent_pid"), { run_in_background: true });
    expect(await waitFinal(c, t)).toMatchObject({ state: "completed", worker: "steady" });
    expect(workerEvents(events, "worker-offline", "steady")).toHaveLength(0);
    expect((await workersList(c)).map((w) => w.name)).not.toContain("big");
  });

  it("counts past --worker-max-functions and --worker-max-tags are refused, naming the option", async () => {
    const { c, addr } = await setup(["--worker-max-functions", "3", "--worker-max-tags", "1"]);
    const many = raw(addr);
    await many.hello("many");
    expect(await many.answer()).toMatchObject({
      type: "refused",
      reason: "the worker offers 4 functions, more than the manager's --worker-max-functions (3)",
    });
    const tagged = raw(addr);
    await tagged.hello("tagged", { functions: { gate: "0" }, tags: ["a", "b"] });
    expect(await tagged.answer()).toMatchObject({
      type: "refused",
      reason: "the worker has 2 tags, more than the manager's --worker-max-tags (1)",
    });
    const long = raw(addr);
    await long.hello("x".repeat(201), { functions: {} });
    const r = (await long.answer()) as { type: string; reason: string };
    expect(r.type).toBe("refused");
    expect(r.reason).toContain("name");
    const names = (await workersList(c)).map((w) => w.name);
    expect(names).not.toContain("many");
    expect(names).not.toContain("tagged");
  });

  it("a message past the size cap from a connection not joined is refused unread", async () => {
    const { addr } = await setup(["--worker-max-hello-size", "1000"]);
    const r = raw(addr);
    await r.sendRaw(encodeWire({ type: "output", text: "x".repeat(2000) }));
    expect(await r.answer()).toMatchObject({ type: "refused" });
  });
});

describe("departed workers", () => {
  it("are forgotten from workers_list after --worker-forget-after", async () => {
    const { c, addr, events } = await setup(["--worker-forget-after", "1"]);
    const w = worker(addr, { name: "passing" });
    await waitWorker(c, "passing");
    w.proc.kill("SIGTERM");
    await waitUntil(() => workerEvents(events, "worker-offline", "passing").length > 0);
    await waitUntil(async () => !(await workersList(c)).some((r) => r.name === "passing"));
    // Forgotten, the name is free again: a new worker takes it as a newcomer.
    worker(addr, { name: "passing" });
    await waitWorker(c, "passing");
  });
});
