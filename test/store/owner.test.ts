/**
 * One owner per store (issue 10, defect 5): a second manager on a store in use
 * exits at start with an error naming the owner (pid, host, since when); the
 * owner keeps serving and keeps what it acknowledged; a `kill -9` of the owner
 * does not block a restart. On Redis, a manager that loses its lease stops
 * writing, says so (log and replies) and exits; a lease of a manager on another
 * host is waited for, and refused when it is renewed. Real manager processes,
 * LMDB in a temp dir, a real redis-server.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it, type TestContext } from "vitest";
import {
  CLI,
  freePort,
  RawClient,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { STORES } from "../helpers/stores.js";
import { openEnvironment, USER } from "../tasks/helpers.js";

const HOST = os.hostname();
const SINCE = String.raw`since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`;
/** The Redis key of the lease, with the default name prefix. */
const LEASE_KEY = "qserverzqs:owner";
const FOREIGN = {
  pid: 4242,
  host: "elsewhere.example",
  since: "2026-12-02T03:00:00.000Z",
  token: "foreign-token",
};

/**
 * How long a request to a manager that lost its store may wait for a reply it
 * may never get (it may exit first). Only a failure to notice: a reply later
 * than this counts as none, which the test accepts anyway.
 */
const LATE_REPLY_MS = 5_000;

/**
 * The managers and clients of one test, stopped when it ends (then `after`):
 * each test keeps its own, since some run side by side.
 */
function tracked(onTestFinished: TestContext["onTestFinished"], after?: () => Promise<void>) {
  const managers: RunningManager[] = [];
  const clients: RawClient[] = [];
  onTestFinished(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const m of managers.splice(0)) await m.stop();
    await after?.();
  });
  return {
    managers,
    clients,
    start: async (args: string[]): Promise<{ m: RunningManager; c: RawClient }> => {
      const m = await startManager({ args });
      managers.push(m);
      const c = new RawClient(m.controlAddr);
      clients.push(c);
      return { m, c };
    },
  };
}

function ownedBy(pid: number | undefined, host = HOST): RegExp {
  return new RegExp(`in use by the manager pid ${String(pid)} on host ${host} ${SINCE}`);
}

/** A manager process not waited for: what it prints, as it prints it. */
async function spawnManager(args: string[]) {
  const [cport, iport] = [await freePort(), await freePort()];
  const proc = spawn(
    process.execPath,
    [
      CLI,
      "manager",
      "--zmq-control-addr",
      `tcp://127.0.0.1:${cport}`,
      "--zmq-info-addr",
      `tcp://127.0.0.1:${iport}`,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
  return {
    proc,
    exited,
    /** Resolves when the output matches; rejects if the process exits first. */
    waitFor: (re: RegExp) =>
      waitUntil(() => {
        if (re.test(out)) return true;
        if (proc.exitCode !== null) throw new Error(`manager exited:\n${out}`);
        return false;
      }, 20_000),
  };
}

/** The state letter of a process (/proc/<pid>/stat field 3: R, S, Z...), undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/**
 * A manager whose parent never waits for it: a shell starts it in the
 * background, then becomes `sleep` (exec), which does not reap children. Killed,
 * the manager stays a zombie until `stop()` ends the sleep (then init reaps it).
 */
async function startUnreaped(args: string[]) {
  const [cport, iport] = [await freePort(), await freePort()];
  const controlAddr = `tcp://127.0.0.1:${cport}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-zombie-"));
  const log = path.join(dir, "manager.log");
  const parent = spawn(
    "sh",
    [
      "-c",
      `"$@" >"${log}" 2>&1 & echo $!; exec sleep 100000`,
      "sh",
      process.execPath,
      CLI,
      "manager",
      "--zmq-control-addr",
      controlAddr,
      "--zmq-info-addr",
      `tcp://127.0.0.1:${iport}`,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => parent.on("exit", () => resolve()));
  let out = "";
  parent.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const pid = Number(await waitUntil(() => /^(\d+)\n/.exec(out)?.[1]));
  const output = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
  await waitUntil(() => {
    if (processState(pid) !== undefined && processState(pid) !== "Z")
      return /zqs manager is ready/.test(output());
    throw new Error(`the manager exited:\n${output()}`);
  });
  return {
    pid,
    controlAddr,
    output,
    async stop() {
      parent.kill("SIGKILL");
      await exited;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Add an instruction to the queue (no environment needed); its uid. */
async function addItem(c: RawClient): Promise<string> {
  const r = await c.request("queue_item_add", {
    item: { item_type: "instruction", name: "queue_stop" },
    ...USER,
  });
  expect(r.success, String(r.msg)).toBe(true);
  return (r.item as { item_uid: string }).item_uid;
}

async function queueUids(c: RawClient): Promise<string[]> {
  const r = await c.request("queue_get");
  return (r.items as { item_uid: string }[]).map((i) => i.item_uid);
}

/** Start a manager expected to refuse the store: the error startManager gives (code and output). */
async function refused(args: string[]): Promise<string> {
  const err = await startManager({ args }).then(
    async (m) => {
      await m.stop();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err, "the second manager started on a store in use").toBeInstanceOf(Error);
  const msg = (err as Error).message;
  expect(msg).toMatch(/manager exited early \(code [1-9]\d*\)/);
  return msg;
}

// Each test has its own store: they run side by side (most of their time is
// managers starting and stopping, waited for).
describe.concurrent.each(STORES)("one owner per store (%s)", (label, makeStore) => {
  /** The test's own store, and its managers and clients. */
  async function begin(onTestFinished: TestContext["onTestFinished"]) {
    const store = await makeStore();
    return { store, ...tracked(onTestFinished, () => store.cleanup()) };
  }
  const otherPlace = label === "LMDB" ? "--store-path" : "--redis-name-prefix";

  it("a second manager exits naming the owner; the owner keeps serving and keeps its items", async ({
    onTestFinished,
  }) => {
    const { store, ...t } = await begin(onTestFinished);
    const { m: m1, c: c1 } = await t.start(store.args);
    const a = await addItem(c1);
    const msg = await refused(store.args);
    expect(msg).toMatch(ownedBy(m1.proc.pid));
    expect(msg).toContain(`stop it first or use another ${otherPlace}`);
    // The owner goes on, and what it acknowledged is what a restart finds.
    const b = await addItem(c1);
    expect(await queueUids(c1)).toEqual([a, b]);
    await m1.stop();
    const { c: c2 } = await t.start(store.args);
    expect(await queueUids(c2)).toEqual([a, b]);
  });

  it("after kill -9 of the owner a new manager starts at once, has every item, and owns the store", async ({
    onTestFinished,
  }) => {
    const { store, ...t } = await begin(onTestFinished);
    // A Redis lease far longer than the test: the new manager must take over
    // because the owner's process is gone, not because its lease ran out
    // meanwhile (which it may on a busy machine with the default 5 s).
    const args = label === "Redis" ? [...store.args, "--redis-lease", "600"] : store.args;
    const { m: m1, c: c1 } = await t.start(args);
    // A worker of the killed manager may outlive it: it must not hold the store.
    await openEnvironment(c1);
    const items = [await addItem(c1), await addItem(c1)];
    m1.proc.kill("SIGKILL");
    await m1.exited;
    const { m: m2, c: c2 } = await t.start(args);
    expect(m2.output()).toMatch(
      new RegExp(`pid ${String(m1.proc.pid)} on host ${HOST} .*no longer running`),
    );
    expect(await queueUids(c2)).toEqual(items);
    expect(await refused(args)).toMatch(ownedBy(m2.proc.pid));
  });

  it("a killed manager its parent has not reaped (a zombie) does not hold the store", async ({
    onTestFinished,
  }) => {
    const { store, ...t } = await begin(onTestFinished);
    const args = label === "Redis" ? [...store.args, "--redis-lease", "600"] : store.args;
    const z = await startUnreaped(args);
    try {
      const c1 = new RawClient(z.controlAddr);
      t.clients.push(c1);
      const items = [await addItem(c1), await addItem(c1)];
      process.kill(z.pid, "SIGKILL");
      await waitUntil(() => processState(z.pid) === "Z");
      const { m: m2, c: c2 } = await t.start(args);
      expect(m2.output()).toMatch(
        new RegExp(`pid ${String(z.pid)} on host ${HOST} .*no longer running`),
      );
      expect(processState(z.pid), "still a zombie while the new manager took over").toBe("Z");
      expect(await queueUids(c2)).toEqual(items);
      expect(await refused(args)).toMatch(ownedBy(m2.proc.pid));
    } finally {
      await z.stop();
    }
  });

  it("of two managers started at once on a fresh store, exactly one starts", async ({
    onTestFinished,
  }) => {
    const { store, ...t } = await begin(onTestFinished);
    const results = await Promise.allSettled([
      startManager({ args: store.args }),
      startManager({ args: store.args }),
    ]);
    const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    t.managers.push(...started);
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    expect(started).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.message).toMatch(ownedBy(started[0]?.proc.pid));
  });
});

describe("one owner per LMDB store: the owner record", () => {
  let dir: string;
  let storeDir: string;
  let args: string[];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-owner-"));
    storeDir = path.join(dir, "store");
    fs.mkdirSync(storeDir);
    args = ["--store-path", storeDir];
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const writeRecord = (rec: Record<string, unknown>) =>
    fs.writeFileSync(path.join(storeDir, "owner.json"), JSON.stringify(rec));

  it("takes over the record of a process of this host that is gone", async ({ onTestFinished }) => {
    const t = tracked(onTestFinished);
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    writeRecord({ ...FOREIGN, pid: gone, host: HOST });
    const { m } = await t.start(args);
    expect(m.output()).toMatch(new RegExp(`pid ${gone} on host ${HOST} .*no longer running`));
    const rec = JSON.parse(fs.readFileSync(path.join(storeDir, "owner.json"), "utf8")) as {
      pid: number;
    };
    expect(rec.pid).toBe(m.proc.pid);
  });

  it("takes over the record of a pid now used by another process (start time differs)", async ({
    onTestFinished,
  }) => {
    const t = tracked(onTestFinished);
    const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeRecord({ ...FOREIGN, pid: process.pid, host: HOST, boot, start: "1" });
    const { m } = await t.start(args);
    expect(m.output()).toMatch(/no longer running/);
  });

  it("refuses a record of another host, naming the file to remove", async () => {
    writeRecord(FOREIGN);
    const msg = await refused(args);
    expect(msg).toMatch(ownedBy(FOREIGN.pid, FOREIGN.host));
    expect(msg).toContain(path.join(storeDir, "owner.json"));
  });
});

describe("one owner per Redis store: the lease", () => {
  let server: RunningRedis;
  let redis: Redis;
  beforeEach(async () => {
    server = await startRedis();
    redis = new Redis(server.port, "127.0.0.1");
  });
  afterEach(async () => {
    redis.disconnect();
    await server.stop();
  });

  it("a manager whose lease is taken refuses to write, says so and exits", async ({
    onTestFinished,
  }) => {
    const t = tracked(onTestFinished);
    // A long lease: the write, not the renewal, finds the lease gone.
    const { m: m1, c: c1 } = await t.start(["--redis-addr", server.addr, "--redis-lease", "60"]);
    const a = await addItem(c1);
    const held = JSON.parse((await redis.get(LEASE_KEY)) ?? "null") as Record<string, unknown>;
    expect(held).toMatchObject({ pid: m1.proc.pid, host: HOST });
    await redis.set(LEASE_KEY, JSON.stringify(FOREIGN), "PX", 60_000);

    const r = await c1.request("queue_item_add", {
      item: { item_type: "instruction", name: "queue_stop" },
      ...USER,
    });
    expect(r.success).toBe(false);
    expect(String(r.msg)).toMatch(/the manager lost ownership of the store/);
    expect(String(r.msg)).toMatch(ownedBy(FOREIGN.pid, FOREIGN.host));
    expect(await m1.exited).not.toBe(0);
    expect(m1.output()).toMatch(/lost ownership of the store/);
    // Nothing after the loss was written, and the new owner's lease is left alone.
    const queue = JSON.parse((await redis.get("qserverzqs:queue")) ?? "[]") as {
      item_uid: string;
    }[];
    expect(queue.map((i) => i.item_uid)).toEqual([a]);
    expect(await redis.get(LEASE_KEY)).toBe(JSON.stringify(FOREIGN));
  });

  it("a manager stopped past its lease loses the store to another and writes nothing after", async ({
    onTestFinished,
  }) => {
    const t = tracked(onTestFinished);
    const args = ["--redis-addr", server.addr, "--redis-lease", "1"];
    const { m: m1, c: c1 } = await t.start(args);
    const a = await addItem(c1);
    // The client of the late request, connected before the stop.
    const lateClient = new RawClient(m1.controlAddr);
    t.clients.push(lateClient);
    await lateClient.request("status");
    m1.proc.kill("SIGSTOP");
    try {
      await waitUntil(async () => (await redis.exists(LEASE_KEY)) === 0, 20_000);
    } catch (err) {
      m1.proc.kill("SIGCONT");
      throw err;
    }
    const { m: m2, c: c2 } = await t.start(args);
    const b = await addItem(c2);
    // A request to the stopped manager waits in its socket. The manager may exit
    // without a reply: a shorter receive timeout ends that wait (the default
    // guard, 30 s, held the test that long).
    lateClient.sock.receiveTimeout = LATE_REPLY_MS;
    const late = lateClient
      .request("queue_item_add", {
        item: { item_type: "instruction", name: "queue_stop" },
        ...USER,
      })
      .catch((e: unknown) => e);
    m1.proc.kill("SIGCONT");
    expect(await m1.exited).not.toBe(0);
    expect(m1.output()).toMatch(/lost ownership of the store/);
    expect(m1.output()).toMatch(ownedBy(m2.proc.pid));
    // Refused, or not answered at all when the manager exited first; never acknowledged.
    const reply = (await late) as Record<string, unknown> | Error;
    if (!(reply instanceof Error)) {
      expect(reply.success).toBe(false);
      expect(String(reply.msg)).toMatch(/lost ownership of the store/);
    }
    expect(await queueUids(c2)).toEqual([a, b]);
    await m2.stop();
    const { c: c3 } = await t.start(args);
    expect(await queueUids(c3)).toEqual([a, b]);
  });

  it("a lease of a manager on another host: refused while renewed, waited for until it ends", async () => {
    const args = ["--redis-addr", server.addr];
    await redis.set(LEASE_KEY, JSON.stringify(FOREIGN), "PX", 3000);
    // The test renews it, as a live owner would.
    const renew = setInterval(() => void redis.pexpire(LEASE_KEY, 3000), 200);
    try {
      const msg = await refused(args);
      expect(msg).toMatch(ownedBy(FOREIGN.pid, FOREIGN.host));
      expect(msg).toContain("stop it first or use another --redis-name-prefix");
    } finally {
      clearInterval(renew);
    }
    // Not renewed: the new manager says it waits; once the lease is gone, it takes the store.
    await redis.set(LEASE_KEY, JSON.stringify(FOREIGN), "PX", 60_000);
    const m = await spawnManager(args);
    try {
      await m.waitFor(/held by the manager pid 4242 on host elsewhere\.example .*waiting up to/);
      expect(await redis.get(LEASE_KEY)).toBe(JSON.stringify(FOREIGN));
      await redis.del(LEASE_KEY);
      await m.waitFor(/zqs manager is ready/);
      const held = JSON.parse((await redis.get(LEASE_KEY)) ?? "null") as Record<string, unknown>;
      expect(held).toMatchObject({ pid: m.proc.pid, host: HOST });
    } finally {
      m.proc.kill("SIGTERM");
      await m.exited;
    }
  });
});
