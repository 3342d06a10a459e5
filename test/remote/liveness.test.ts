/**
 * Workers on other hosts that die, stall, drain, or outlive a manager; the
 * cancel of a CPU-bound task on one; CURVE keys. Times are checked from the
 * manager's own timestamps (events, records), never from the test's clock.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateKeyPair } from "../../src/client/index.js";
import type { CurveClientKeys, InfoListener } from "../helpers/manager.js";
import {
  freePort,
  RawClient,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { gateModule, newGate } from "../helpers/startup.js";
import { execute, fn, info, openEnvironment, USER, waitFinal, waitInfo } from "../helpers/tasks.js";
import type { RunningWorker } from "./helpers.js";
import {
  REMOTE_STARTUP,
  setupRemote,
  startWorker,
  useRemoteManager,
  waitWorker,
  workersList,
} from "./helpers.js";

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup.length = 0;
});

const TIMEOUT_S = 2;

async function setup(args: string[] = [], storePath?: string, workerPort?: number) {
  return setupRemote((f) => cleanup.push(f), {
    args: ["--worker-timeout", String(TIMEOUT_S), ...args],
    ...(storePath ? { storePath } : {}),
    ...(workerPort ? { workerPort } : {}),
  });
}

function worker(addr: string, o: Parameters<typeof startWorker>[1]): RunningWorker {
  const w = startWorker(addr, o);
  cleanup.push(() => w.stop());
  return w;
}

type Payload = Record<string, unknown>;

/** The n-th (1-based) worker event of this name for this worker. */
function workerEvent(events: InfoListener, event: string, name: string, n = 1) {
  return waitUntil(() => {
    const hits = events.messages.filter((p) => {
      const e = p.payload.msg as Payload;
      return e.event === event && e.worker === name;
    });
    const hit = hits[n - 1];
    return hit ? { time: hit.payload.time as number, msg: hit.payload.msg as Payload } : undefined;
  });
}

function taskEvents(events: InfoListener, uid: string, event: string): Payload[] {
  return events.messages
    .map((p) => p.payload.msg as Payload)
    .filter((e) => e.task_uid === uid && e.event === event);
}

describe("liveness of workers on other hosts", () => {
  /** The manager of the tests that need neither options nor a restart of their own. */
  const shared = useRemoteManager(["--worker-timeout", String(TIMEOUT_S)]);

  it("kill -9 of a worker mid-run: its tasks are retried elsewhere or fail naming it, within --worker-timeout + 1 s", async () => {
    const { c, events } = shared;
    const doomed = shared.worker({ name: "doomed", slots: 2, tags: ["t"] });
    await waitWorker(c, "doomed");
    const gate = newGate();
    const tags = { run_in_background: true, worker_tags: ["t"] };
    const x = await execute(c, fn("gate", [gate.path]), { ...tags, max_retries: 1 });
    const y = await execute(c, fn("gate", [gate.path]), tags);
    for (const t of [x, y]) {
      const r = await waitInfo(c, t, (i) => i.state === "running");
      expect(r.worker).toBe("doomed");
      await waitUntil(() => taskEvents(events, t, "task-started").length > 0);
    }
    await doomed.kill9();

    const off = await workerEvent(events, "worker-offline", "doomed");
    expect(off.msg.reason).toBe("lost");
    // Declared lost only once the timeout has passed since the last thing heard from it, by
    // the manager's clock (how soon after is a matter of speed: printed, not bounded here).
    const silentFor = off.time - (off.msg.last_seen as number);
    expect(silentFor).toBeGreaterThanOrEqual(TIMEOUT_S);
    console.log(`worker lost after ${silentFor.toFixed(2)} s of silence (timeout ${TIMEOUT_S} s)`);
    const host = off.msg.hostname as string;
    const failed = await waitFinal(c, y);
    expect(failed.state).toBe("failed");
    expect(failed.message).toBe(
      `The worker 'doomed' on ${host} was lost (no heartbeat for ${TIMEOUT_S} s) while the task was running`,
    );
    // The one with a retry left waits for a worker that has the tag.
    const waiting = await waitInfo(c, x, (i) => i.message?.startsWith("Waiting") === true);
    expect(waiting.message).toBe(
      "Waiting: no connected worker with the tags t offers the function 'gate'",
    );
    expect(waiting.state).toBe("retrying");
    expect((await workersList(c)).find((w) => w.name === "doomed")?.state).toBe("lost");

    shared.worker({ name: "rescue", tags: ["t"] });
    const running = await waitInfo(c, x, (i) => i.state === "running" && i.worker === "rescue");
    expect(running.attempts).toBe(2);
    gate.open();
    const done = await waitFinal(c, x);
    expect(done).toMatchObject({ state: "completed", worker: "rescue", attempts: 2 });
  });

  it("SIGSTOP then SIGCONT of a worker: lost, then known again by name; no task completed twice", async () => {
    const { c, events } = shared;
    const workers = [
      shared.worker({ name: "one", tags: ["one"] }),
      shared.worker({ name: "two", tags: ["two"] }),
    ];
    await waitWorker(c, "one");
    await waitWorker(c, "two");
    const gate = newGate();
    const x = await execute(c, fn("gate", [gate.path]), {
      run_in_background: true,
      max_retries: 1,
      retry_backoff: 0,
    });
    const first = await waitInfo(c, x, (i) => i.state === "running");
    await waitUntil(() => taskEvents(events, x, "task-started").length > 0);
    const stalled = workers.find((w) => w.name === first.worker) as RunningWorker;
    const other = workers.find((w) => w !== stalled) as RunningWorker;
    stalled.proc.kill("SIGSTOP");

    const off = await workerEvent(events, "worker-offline", stalled.name);
    expect(off.time - (off.msg.last_seen as number)).toBeGreaterThanOrEqual(TIMEOUT_S);
    const moved = await waitInfo(c, x, (i) => i.state === "running" && i.attempts === 2);
    expect(moved.worker).toBe(other.name);
    gate.open();
    expect(await waitFinal(c, x)).toMatchObject({ state: "completed", worker: other.name });

    // The stalled worker comes back and is known again by name. Its late result is dropped
    // (by the worker, which learns that the manager gave the task up, or by the manager).
    stalled.proc.kill("SIGCONT");
    const again = await workerEvent(events, "worker-online", stalled.name, 2);
    expect(again.msg.pid).toBe(stalled.proc.pid);
    await waitWorker(c, stalled.name);
    // A task only it may take ends after its one process has finished the old one.
    const next = await execute(c, fn("agent_pid"), {
      run_in_background: true,
      worker_tags: [stalled.name],
    });
    expect(await waitFinal(c, next)).toMatchObject({ state: "completed", worker: stalled.name });
    const row = await waitWorker(c, stalled.name);
    expect(row.tasks_done).toBe(1);
    expect(taskEvents(events, x, "task-succeeded")).toHaveLength(1);
    expect(await info(c, x)).toMatchObject({ state: "completed", worker: other.name, attempts: 2 });
  });

  it("manager kill -9 and restart with workers attached: they reconnect, nothing acknowledged is lost", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-remote-restart-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = path.join(dir, "store");
    const port = await freePort();
    const first = await setup([], store, port);
    const w = worker(first.addr, { name: "steady" });
    await waitWorker(first.c, "steady");
    const done = await execute(first.c, fn("agent_pid"), { run_in_background: true });
    expect((await waitFinal(first.c, done)).state).toBe("completed");
    const gate = newGate();
    // A run's reply waits until its tasks' accepted marks are in the store (function_execute's
    // reply does not: a kill -9 right after it may find the mark not written yet).
    const created = await first.c.request("run_create", {
      ...USER,
      function: fn("gate", [gate.path]),
      count: 1,
    });
    expect(created.success, String(created.msg)).toBe(true);
    const cut = (created.task_uids as string[])[0] as string;
    await waitInfo(first.c, cut, (i) => i.state === "running");
    await first.m.kill9();

    const second = await setup([], store, port);
    const row = await waitWorker(second.c, "steady");
    expect(row.pid).toBe(w.proc.pid);
    const kept = (await second.c.request("task_result", { task_uid: done })).result as Payload;
    expect(kept).toMatchObject({ success: true, return_value: w.proc.pid });
    const lost = (await second.c.request("task_result", { task_uid: cut })).result as Payload;
    expect(lost).toMatchObject({
      success: false,
      msg: "The manager stopped before the task ended: its outcome is unknown",
    });
    gate.open();
    // The worker takes tasks of the new manager.
    const fresh = await execute(second.c, fn("agent_pid"), { run_in_background: true });
    expect(await waitFinal(second.c, fresh)).toMatchObject({
      state: "completed",
      worker: "steady",
    });
  });

  it("SIGTERM drains a worker: its running task finishes, it takes no new one, it leaves", async () => {
    const { c, events } = shared;
    const d = shared.worker({ name: "drained" });
    await waitWorker(c, "drained");
    const gate = newGate();
    const t = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    await waitInfo(c, t, (i) => i.state === "running" && i.worker === "drained");
    d.proc.kill("SIGTERM");
    await waitWorker(c, "drained", (r) => r.state === "draining");
    const later = await execute(c, fn("agent_pid"), { run_in_background: true });
    await waitInfo(c, later, (i) => i.message?.startsWith("Waiting") === true);
    gate.open();
    expect(await waitFinal(c, t)).toMatchObject({ state: "completed", worker: "drained" });
    expect(await d.exited).toBe(0);
    const off = await workerEvent(events, "worker-offline", "drained");
    expect(off.msg.reason).toBe("left");
    expect((await info(c, later)).state).toBe("pending");
    shared.worker({ name: "fresh" });
    expect(await waitFinal(c, later)).toMatchObject({ state: "completed", worker: "fresh" });
  });

  it("cancel of a CPU-bound task: the worker replaces its own process after the grace and goes on", async () => {
    const { c, addr } = await setup(["--cancel-grace", "1"]);
    const w = worker(addr, { name: "cpu" });
    await waitWorker(c, "cpu");
    const t = await execute(c, fn("spin", [600]), { run_in_background: true });
    await waitInfo(c, t, (i) => i.state === "running" && i.worker === "cpu");
    const r = await c.request("task_cancel", { task_uid: t });
    expect(r.result).toBe("cancelling");
    const end = await waitFinal(c, t);
    expect(end.state).toBe("cancelled");
    expect(end.message).toContain("its worker process was replaced");
    expect(w.output()).toContain("Replacing the worker process");
    const next = await execute(c, fn("agent_pid"), { run_in_background: true });
    const after = await waitFinal(c, next);
    expect(after).toMatchObject({ state: "completed", worker: "cpu" });
    expect((await waitWorker(c, "cpu")).state).toBe("online");
  });
});

describe("CURVE and allowed workers", () => {
  it("a worker with an unknown key gets nothing; an allowed one joins", async () => {
    const server = generateKeyPair();
    const client = generateKeyPair();
    const good = generateKeyPair();
    const bad = generateKeyPair();
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-remote-keys-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const allowed = path.join(dir, "workers.txt");
    writeFileSync(allowed, `# workers\n${good.publicKey}\n`);
    const port = await freePort();
    const addr = `tcp://127.0.0.1:${port}`;
    const curve: CurveClientKeys = {
      serverKey: server.publicKey,
      publicKey: client.publicKey,
      secretKey: client.secretKey,
    };
    const m: RunningManager = await startManager({
      startup: { "10-remote.mjs": REMOTE_STARTUP, "20-gate.mjs": gateModule() },
      args: [
        "--zmq-worker-addr",
        addr,
        "--workers",
        "0",
        "--zmq-private-key",
        server.secretKey,
        "--zmq-allowed-workers",
        allowed,
      ],
      probeCurve: curve,
    });
    cleanup.push(() => m.stop());
    const c = new RawClient(m.controlAddr, { curve });
    cleanup.push(() => c.close());
    await openEnvironment(c);
    // KEY=VALUE: a key may begin with '-'.
    const keys = (k: { secretKey: string }) => [
      `--public-key=${server.publicKey}`,
      `--private-key=${k.secretKey}`,
    ];
    worker(addr, { name: "intruder", args: keys(bad) });
    worker(addr, { name: "member", args: keys(good) });
    await waitWorker(c, "member");
    await waitUntil(() =>
      m
        .output()
        .includes(`Refused a worker whose public key is not on the allow-list: ${bad.publicKey}`),
    );
    const t = await execute(c, fn("agent_pid"), { run_in_background: true });
    expect((await waitFinal(c, t)).worker).toBe("member");
    expect((await workersList(c)).map((w) => w.name)).not.toContain("intruder");
  });
});
