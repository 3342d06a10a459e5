/**
 * Workers on other hosts (`zqs worker`), on loopback: each worker in its own
 * temporary folder with its own copy of the startup code. Tasks and runs are
 * dealt to them; workers_list and the QS_Task events say who ran what; a
 * worker lacking a function never gets it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { REManagerAPI } from "../../src/client/index.js";
import { waitUntil } from "../helpers/manager.js";
import { newGate } from "../helpers/startup.js";
import { execute, fn, info, USER, waitFinal, waitInfo } from "../helpers/tasks.js";
import { json, zqs } from "../cli/helpers.js";
import type { RemoteSetup, RunningWorker } from "./helpers.js";
import { setupRemote, startWorker, waitWorker, workersList } from "./helpers.js";
import { encodeWire } from "../../src/protocol/worker-wire.js";
import { RawWorker } from "./raw-worker.js";

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup.length = 0;
});

async function setup(args: string[] = []): Promise<RemoteSetup> {
  return setupRemote((f) => cleanup.push(f), { args, topics: ["QS_Task", "QS_Console"] });
}

function worker(addr: string, o: Parameters<typeof startWorker>[1]): RunningWorker {
  const w = startWorker(addr, o);
  cleanup.push(() => w.stop());
  return w;
}

type Payload = Record<string, unknown>;
const msgOf = (p: { payload: Payload }) => p.payload.msg as Payload;

describe("zqs worker: end to end", () => {
  it("tasks spread over two workers; a run of 200 completes with consistent counts", async () => {
    const { c, addr, events } = await setup();
    const a = worker(addr, { name: "wa" });
    const b = worker(addr, { name: "wb" });
    const rowA = await waitWorker(c, "wa");
    await waitWorker(c, "wb");
    expect(rowA).toMatchObject({ kind: "remote", slots: 1, pid: a.proc.pid, state: "online" });
    const online = await events.waitFor(
      (p) =>
        p.topic === "QS_Task" && msgOf(p).event === "worker-online" && msgOf(p).worker === "wb",
    );
    expect(msgOf(online)).toMatchObject({ pid: b.proc.pid, slots: 1 });
    // With --workers 0 the manager's own worker takes no background task.
    const local = (await workersList(c)).filter((w) => w.kind === "local");
    expect(local).toHaveLength(1);
    expect(local[0]?.slots).toBe(0);

    // Two tasks held at a gate: one on each worker (one slot each).
    const gate = newGate();
    const t1 = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const t2 = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
    const i1 = await waitInfo(c, t1, (i) => i.state === "running");
    const i2 = await waitInfo(c, t2, (i) => i.state === "running");
    expect(new Set([i1.worker, i2.worker])).toEqual(new Set(["wa", "wb"]));
    expect((await info(c, t1)).stats.active_workers).toBe(3);
    gate.open();
    for (const t of [t1, t2]) expect((await waitFinal(c, t)).state).toBe("completed");

    // Progress, outputs, console lines (prefixed with the worker's name) and events with the worker.
    const r = await execute(c, fn("report", ["hello"]), { run_in_background: true });
    const done = await waitFinal(c, r);
    expect(done).toMatchObject({ state: "completed", progress: 100, outputs: { x: "hello" } });
    const res = (await c.request("task_result", { task_uid: r })).result as Payload;
    const ranBy = done.worker === "wa" ? a : b;
    expect(res.return_value).toEqual({ agent: ranBy.proc.pid, x: "hello" });
    await events.waitFor(
      (p) =>
        p.topic === "QS_Console" &&
        String(p.payload.msg).includes(`[${done.worker}] report says hello`),
    );
    const started = await events.waitFor(
      (p) => p.topic === "QS_Task" && msgOf(p).task_uid === r && msgOf(p).event === "task-started",
    );
    expect(msgOf(started)).toMatchObject({ worker: done.worker, pid: ranBy.proc.pid });
    expect(typeof msgOf(started).hostname).toBe("string");
    const succeeded = await events.waitFor(
      (p) =>
        p.topic === "QS_Task" && msgOf(p).task_uid === r && msgOf(p).event === "task-succeeded",
    );
    expect(typeof msgOf(succeeded).runtime).toBe("number");

    // A run of 200 tasks over both.
    const created = await c.request("run_create", {
      ...USER,
      function: fn("agent_pid"),
      count: 200,
    });
    expect(created.success, String(created.msg)).toBe(true);
    const runUid = created.run_uid as string;
    const runInfo = await waitUntil(async () => {
      const ri = await c.request("run_info", { run_uid: runUid });
      return ri.num_done === 200 ? ri : undefined;
    });
    expect(runInfo).toMatchObject({
      num_tasks: 200,
      num_failed: 0,
      num_waiting: 0,
      num_computing: 0,
    });
    const rows = (await workersList(c)).filter((w) => w.kind === "remote");
    const total = rows.reduce((s, w) => s + w.tasks_done, 0);
    // 2 gate tasks + report + 200.
    expect(total).toBe(203);
    for (const w of rows) {
      expect(w.tasks_done).toBeGreaterThan(0);
      expect(w.tasks_failed).toBe(0);
      expect(w.busy).toBe(0);
    }
    // Each task's result names the agent its record names.
    const uids = created.task_uids as string[];
    const pids = { wa: a.proc.pid, wb: b.proc.pid } as Record<string, number | undefined>;
    for (const uid of uids.slice(0, 20)) {
      const rec = await info(c, uid);
      const result = (await c.request("task_result", { task_uid: uid })).result as Payload;
      expect(result.return_value).toBe(pids[rec.worker as string]);
    }
  });

  it("a worker whose startup code lacks a function never receives it; no one offering it: pending, saying so", async () => {
    const { c, addr } = await setup();
    const special = `export function special(x) { return { special: x, agent: process.ppid }; }\n`;
    worker(addr, { name: "plain" });
    const has = worker(addr, { name: "has", extra: { "30-special.mjs": special } });
    await waitWorker(c, "plain");
    await waitWorker(c, "has");
    const uids: string[] = [];
    for (let i = 0; i < 6; i++) {
      uids.push(await execute(c, fn("special", [i]), { run_in_background: true }));
    }
    for (const uid of uids) {
      const f = await waitFinal(c, uid);
      expect(f.state, String(f.message)).toBe("completed");
      expect(f.worker).toBe("has");
      const res = (await c.request("task_result", { task_uid: uid })).result as Payload;
      expect((res.return_value as Payload).agent).toBe(has.proc.pid);
    }
    // Nobody offers it: it waits, saying so, and expires as asked.
    const none = await execute(c, fn("nowhere"), { run_in_background: true, expires: 2 });
    const waiting = await waitInfo(c, none, (i) => i.message !== null);
    expect(waiting.state).toBe("pending");
    expect(waiting.message).toBe("Waiting: no connected worker offers the function 'nowhere'");
    const expired = await waitFinal(c, none);
    expect(expired.state).toBe("expired");
  });

  it("worker_tags: only a worker with every tag takes the task", async () => {
    const { m, c, addr } = await setup();
    worker(addr, { name: "cpu", tags: ["cpu"] });
    worker(addr, { name: "gpu", tags: ["gpu", "big"] });
    await waitWorker(c, "cpu");
    await waitWorker(c, "gpu");
    const uids: string[] = [];
    for (let i = 0; i < 4; i++) {
      uids.push(
        await execute(c, fn("agent_pid"), { run_in_background: true, worker_tags: ["gpu", "big"] }),
      );
    }
    for (const uid of uids) expect((await waitFinal(c, uid)).worker).toBe("gpu");
    const created = await c.request("run_create", {
      ...USER,
      function: fn("agent_pid"),
      count: 10,
      worker_tags: ["cpu"],
    });
    expect(created.success, String(created.msg)).toBe(true);
    for (const uid of created.task_uids as string[]) {
      expect((await waitFinal(c, uid)).worker).toBe("cpu");
    }
    // The CLI: --worker-tags, and `zqs workers`.
    const cli = await zqs([
      "-a",
      m.controlAddr,
      "--info-address",
      "off",
      "--json",
      "function",
      "execute",
      "agent_pid",
      "--background",
      "--worker-tags",
      "gpu,big",
    ]);
    const cliUid = json<{ task_uid: string }>(cli).task_uid;
    expect((await waitFinal(c, cliUid)).worker).toBe("gpu");
    const listed = await zqs(["-a", m.controlAddr, "--info-address", "off", "workers"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+KIND\s+HOST/);
    expect(listed.stdout).toMatch(/\ngpu\s+remote\s/);
    const odd = await execute(c, fn("agent_pid"), {
      run_in_background: true,
      worker_tags: ["cpu", "gpu"],
    });
    const w = await waitInfo(c, odd, (i) => i.message !== null);
    expect(w.message).toBe(
      "Waiting: no connected worker with the tags cpu, gpu offers the function 'agent_pid'",
    );
  });

  it("the client: workersList() and workerEvents()", async () => {
    const { m, addr } = await setup();
    const api = new REManagerAPI({ zmqControlAddr: m.controlAddr, zmqInfoAddr: m.infoAddr });
    cleanup.push(() => api.close());
    const events = api.workerEvents();
    await events.ready;
    const w = worker(addr, { name: "seen", slots: 2, tags: ["x"] });
    const online = await events.nextMessage(60);
    expect(online?.msg).toMatchObject({
      event: "worker-online",
      worker: "seen",
      pid: w.proc.pid,
      slots: 2,
      tags: ["x"],
    });
    const r = await api.workersList();
    const row = r.workers.find((x) => x.name === "seen");
    expect(row).toMatchObject({ kind: "remote", state: "online", slots: 2, tags: ["x"] });
    w.proc.kill("SIGTERM");
    let off = await events.nextMessage(60);
    // worker-heartbeat events (every 10 s) may come between.
    while (off?.msg.event === "worker-heartbeat") off = await events.nextMessage(60);
    expect(off?.msg).toMatchObject({ event: "worker-offline", worker: "seen", reason: "left" });
    events.close();
  });

  it("past --worker-heartbeat-rate the heartbeat pace slows; the manager tells joining and joined workers", async () => {
    // A quarter of 2 s is 500 ms: one worker beating twice a second and the manager to it
    // once (half the loss time) is past a rate of 2 both ways; at 1 s and 4 s, 1.5 a second.
    const { addr } = await setup(["--worker-timeout", "2", "--worker-heartbeat-rate", "2"]);
    const a = new RawWorker(addr);
    cleanup.push(() => a.close());
    await a.hello("pace-a");
    expect(await a.answer()).toEqual({ type: "welcome", heartbeat_ms: 1000, timeout_ms: 4000 });
    const b = new RawWorker(addr);
    cleanup.push(() => b.close());
    await b.hello("pace-b");
    // Two workers at 1 s: 3 a second; at 2 s and 8 s, 1.5.
    expect(await b.answer()).toEqual({ type: "welcome", heartbeat_ms: 2000, timeout_ms: 8000 });
    // The one that joined first hears the new pace in a heartbeat.
    await waitUntil(() =>
      a.got("heartbeat").find((h) => "timeout_ms" in h && h.timeout_ms === 8000),
    );
    expect(a.got("heartbeat").at(-1)).toEqual({
      type: "heartbeat",
      heartbeat_ms: 2000,
      timeout_ms: 8000,
    });
  });

  it("the manager beats to a worker after a silence of half the loss time, not every interval", async () => {
    // A quarter of 2 s is 500 ms: the worker beats every 500 ms, the manager every 1 s.
    const { addr } = await setup(["--worker-timeout", "2"]);
    const a = new RawWorker(addr);
    cleanup.push(() => a.close());
    await a.hello("quiet");
    expect(await a.answer()).toEqual({ type: "welcome", heartbeat_ms: 500, timeout_ms: 2000 });
    const beat = encodeWire({ type: "heartbeat", busy: 0 });
    const beating = setInterval(() => void a.sendRaw(beat), 500);
    cleanup.push(() => clearInterval(beating));
    const beats = () => a.receivedAt.filter((_, i) => a.received[i]?.type === "heartbeat");
    await waitUntil(() => beats().length >= 5);
    // Four gaps of at least 1 s each (a beat every 500 ms would take 2 s); a late first
    // one may shorten the span, never a load lengthen a gap below what the manager waits.
    const [first, , , , fifth] = beats() as [number, number, number, number, number];
    expect(fifth - first).toBeGreaterThan(3000);
    // Never lost meanwhile: it is asked no `who`.
    expect(a.got("who")).toEqual([]);
  });

  it("a message that is not one is dropped and logged: the manager goes on", async () => {
    const { m, c, addr } = await setup();
    const { Dealer } = await import("zeromq");
    const d = new Dealer({ linger: 0 });
    cleanup.push(() => d.close());
    d.connect(addr);
    await d.send(Buffer.from("not msgpack at all \xc1"));
    await d.send(
      Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]),
    );
    await waitUntil(() => m.output().includes("Dropped a message from a worker connection"));
    expect((await c.request("status")).manager_state).toBe("idle");
    expect((await workersList(c)).filter((w) => w.kind === "remote")).toEqual([]);
  });
});
