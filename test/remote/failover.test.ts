/**
 * A worker agent given several managers (`zqs worker --connect a,b`): it joins
 * the second when the first is gone, and when its manager is lost mid-task it
 * says hello to the next one listing the task it still runs (`running`), then
 * reports the task there. Two raw ROUTER sockets play the managers, so the
 * test sees exactly what the agent says to each. And the manager's side: a
 * manager killed and restarted on its store takes back the task a worker
 * still runs, and keeps its result.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Router } from "zeromq";
import type { AgentMessage } from "../../src/protocol/worker-wire.js";
import {
  agentMessageSchema,
  decodeWire,
  encodeWire,
  WORKER_WIRE_MAX_BYTES,
} from "../../src/protocol/worker-wire.js";
import { freePort, RawClient, type RunningManager } from "../helpers/manager.js";
import { execute, fn, info, openEnvironment, waitFinal, waitInfo } from "../helpers/tasks.js";
import { newGate } from "../helpers/startup.js";
import { RawWorker } from "./raw-worker.js";
import { waitUntil } from "../helpers/wait.js";
import type { RunningWorker } from "./helpers.js";
import { startRemoteManager, startWorker, waitWorker, workersList } from "./helpers.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

function worker(
  addr: string,
  name: string,
  args: string[] = [],
  env?: Record<string, string>,
): RunningWorker {
  const w = startWorker(addr, { name, args: ["--worker-timeout", "3", ...args], env });
  cleanup.push(() => w.stop());
  return w;
}

/** A ROUTER playing a manager: what each agent said (reports unpacked), in order. */
class FakeManager {
  readonly sock = new Router({ linger: 0, maxMessageSize: WORKER_WIRE_MAX_BYTES });
  readonly heard: AgentMessage[] = [];
  private peer: Buffer | undefined;

  static async start(): Promise<FakeManager> {
    const m = new FakeManager();
    m.address = `tcp://127.0.0.1:${await freePort()}`;
    await m.sock.bind(m.address);
    void m.loop();
    cleanup.push(async () => m.sock.close());
    return m;
  }

  address = "";

  private async loop(): Promise<void> {
    try {
      for await (const [id, body] of this.sock) {
        const r = decodeWire(body as Buffer, agentMessageSchema);
        if (!r.ok) continue;
        this.peer = id;
        const msgs = r.msg.type === "reports" ? r.msg.reports : [r.msg];
        this.heard.push(...msgs);
      }
    } catch {
      // closed
    }
  }

  /** The first message of `type` (and `pred`) heard, once it is. */
  async heardOne<T extends AgentMessage["type"]>(
    type: T,
    pred: (m: Extract<AgentMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<AgentMessage, { type: T }>> {
    return waitUntil(() =>
      this.heard.find(
        (m): m is Extract<AgentMessage, { type: T }> =>
          m.type === type && pred(m as Extract<AgentMessage, { type: T }>),
      ),
    );
  }

  async say(msg: Record<string, unknown>): Promise<void> {
    if (!this.peer) throw new Error("no agent has spoken yet");
    await this.sock.send([this.peer, encodeWire(msg as never)]);
  }
}

/** A welcome whose timeout makes the agent give up on a silent manager after 1.5 s. */
const WELCOME = { type: "welcome", heartbeat_ms: 300, timeout_ms: 1500 };

describe("a worker agent with several managers", () => {
  it("lost mid-task, it says hello to the next with its running task and reports it there", async () => {
    const [first, second] = await Promise.all([FakeManager.start(), FakeManager.start()]);
    const w = worker(`${first.address},${second.address}`, "follower");
    const hello1 = await first.heardOne("hello");
    expect(hello1.running).toBeUndefined();
    await first.say(WELCOME);
    const gate = newGate();
    await first.say({
      type: "execute",
      id: "task-1",
      name: "gate",
      args: [gate.path],
      kwargs: {},
      background: true,
      attempt: 1,
    });
    await first.heardOne("task_started", (m) => m.id === "task-1");
    // The first manager goes silent (as a killed one): nothing it is sent from now on counts.
    first.sock.close();

    const hello2 = await second.heardOne("hello");
    expect(hello2).toMatchObject({
      name: "follower",
      instance: hello1.instance,
      running: ["task-1"],
    });
    await second.say(WELCOME);
    // Taken back while it runs (the gate opened before the welcome is read, it would have ended).
    await waitUntil(() => w.output().includes("takes back 1 running task(s)"));
    gate.open();
    const done = await second.heardOne("task_done", (m) => m.id === "task-1");
    expect(done.success).toBe(true);
    // The end names the attempt it was dealt as.
    expect(done.attempt).toBe(1);
    // Said to the second manager after its hello: nothing of it was lost or given up.
    expect(second.heard.indexOf(done)).toBeGreaterThan(second.heard.indexOf(hello2));
    expect(w.output()).toContain(
      `Leaving the manager at ${first.address} (nothing heard for 1.5 s); joining ${second.address}`,
    );
    expect(w.output()).not.toContain("finishes unreported");
  });

  it("joins the second manager when nothing answers at the first", async () => {
    const gone = `tcp://127.0.0.1:${await freePort()}`;
    const { m, workerAddr } = await startRemoteManager();
    cleanup.push(() => m.stop());
    const w = worker(`${gone},${workerAddr}`, "second-choice");
    const c = new RawClient(m.controlAddr);
    cleanup.push(async () => c.close());
    await waitWorker(c, "second-choice");
    expect(w.output()).toContain(
      `Leaving the manager at ${gone} (no welcome within 3 s); joining ${workerAddr}`,
    );
  });
});

/** A manager on a store of its own in a temp dir, its client, and how to start it again there. */
async function managerOnStore(prefix: string, args: string[], firstEnv?: Record<string, string>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const storePath = path.join(dir, "store");
  const workerPort = await freePort();
  const start = async (env?: Record<string, string>) => {
    const r = await startRemoteManager({ storePath, workerPort, args, env });
    cleanup.push(() => r.m.stop());
    const c = new RawClient(r.m.controlAddr);
    cleanup.push(async () => c.close());
    return { ...r, c };
  };
  const first = await start(firstEnv);
  await openEnvironment(first.c);
  return { first, again: () => start() };
}

/** A worker agent joined to `m` (its environment open), once the manager lists it online. */
async function joined(
  m: { workerAddr: string; c: RawClient },
  name: string,
  args: string[] = [],
  env?: Record<string, string>,
): Promise<RunningWorker> {
  const w = worker(m.workerAddr, name, args, env);
  await waitWorker(m.c, name);
  return w;
}

/** A gated task running on worker `name`; then kill -9 of its manager once its start mark is durable. */
async function gatedTaskThenKill(
  first: { m: RunningManager; c: RawClient },
  name: string,
): Promise<{ uid: string; gate: ReturnType<typeof newGate> }> {
  const gate = newGate();
  const uid = await execute(first.c, fn("gate", [gate.path]), { run_in_background: true });
  await waitInfo(first.c, uid, (i) => i.state === "running" && i.worker === name);
  // Writes reach the store in order: once a later task's accepted mark is durable (its
  // reply waits for it), so is the start mark written when the first was dealt.
  await execute(first.c, fn("agent_pid"), { run_in_background: true });
  await first.m.kill9();
  return { uid, gate };
}

describe("a manager restarted on its store (LMDB, no standby)", () => {
  it("takes back the task a worker still runs (kill -9): its result is kept", async () => {
    const { first, again } = await managerOnStore("zqs-adopt-restart-", ["--worker-timeout", "2"]);
    const w = await joined(first, "keeper");
    const { uid, gate } = await gatedTaskThenKill(first, "keeper");

    const second = await again();
    const c2 = second.c;
    expect((await c2.request("task_status", { task_uid: uid })).status).toBe("running");
    // Another worker that claims the task (a guessed uid, a borrowed task) does not get it.
    const impostor = new RawWorker(second.workerAddr);
    cleanup.push(async () => impostor.close());
    await impostor.hello("impostor", { running: [uid] });
    expect((await impostor.answer()).type).toBe("welcome");
    await waitUntil(() => second.m.output().includes("Ignored worker 'impostor''s claim of 1"));
    // One that claims more tasks than it has slots is refused, naming why.
    const greedy = new RawWorker(second.workerAddr);
    cleanup.push(async () => greedy.close());
    await greedy.hello("greedy", { running: [uid, "another"] });
    expect(await greedy.answer()).toMatchObject({
      type: "refused",
      reason: "the worker lists 2 running tasks, more than its 1 slot(s) (zqs worker --slots)",
    });
    const row = await waitWorker(c2, "keeper", (r) => r.state === "online" && r.busy === 1);
    expect(row.pid).toBe(w.proc.pid);
    expect(await info(c2, uid)).toMatchObject({ state: "running", worker: "keeper" });
    gate.open();
    expect(await waitFinal(c2, uid)).toMatchObject({ state: "completed", worker: "keeper" });
    const res = await c2.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true });
    expect(typeof (res.result as { return_value: unknown }).return_value).toBe("number");
    expect(second.m.output()).toContain("Worker 'keeper' took back 1 running task(s)");
    expect((await workersList(c2)).find((r) => r.name === "impostor")?.busy).toBe(0);
    expect(second.m.output()).not.toContain(`Dropped the result of task '${uid}'`);
    // The worker's slot is free again: it takes the next task.
    await openEnvironment(c2);
    const next = await execute(c2, fn("agent_pid"), { run_in_background: true });
    expect(await waitFinal(c2, next)).toMatchObject({ state: "completed", worker: "keeper" });
  });

  it("a task that ends while the manager is down (kill -9): its end, answered 'who' by the restarted one, goes again after the welcome", async () => {
    const { first, again } = await managerOnStore("zqs-adopt-down-", ["--worker-timeout", "2"]);
    const w = await joined(first, "finisher");
    const { uid, gate } = await gatedTaskThenKill(first, "finisher");
    // The task ends while no manager is there: its end waits for one (or went nowhere).
    await waitUntil(() => w.output().includes("Lost the manager"));
    gate.open();
    await waitUntil(() => w.output().includes(`Task '${uid}' ended while the manager is lost`));

    const second = await again();
    const c2 = second.c;
    expect(await waitFinal(c2, uid)).toMatchObject({ state: "completed", worker: "finisher" });
    const res = await c2.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true });
    expect(typeof (res.result as { return_value: unknown }).return_value).toBe("number");
    expect(second.m.output()).toContain("Worker 'finisher' took back 1 running task(s)");
    expect(w.output()).toMatch(/1 task end\(s\) go to the manager at \S+ again once it welcomes/);
    expect(w.output()).not.toContain("finishes unreported");
  });

  it("a task end in flight when the manager is killed (-9), the manager heard from after it: kept by the worker until acknowledged, it is applied by the restarted one", async () => {
    // Every commit of the first manager takes 2 s (ZQS_TEST_STORE_DELAY_MS): the end it
    // receives is not durable when it is killed, though it has told the worker other things.
    const { first, again } = await managerOnStore("zqs-ack-inflight-", ["--worker-timeout", "2"], {
      ZQS_TEST_STORE_DELAY_MS: "2000",
    });
    // ZQS_TRACE_TASKS=1: the worker logs each task end it sent.
    const w = await joined(first, "acked", ["--slots", "2"], { ZQS_TRACE_TASKS: "1" });
    const gate = newGate();
    const uid = await execute(first.c, fn("gate", [gate.path]), { run_in_background: true });
    await waitInfo(first.c, uid, (i) => i.state === "running" && i.worker === "acked");
    // The store writes in order: once this task's accepted mark is durable, the start mark is too.
    await execute(first.c, fn("agent_pid"), { run_in_background: true });
    const sentLine = `Sent the end of task '${uid}'`;
    gate.open();
    await waitUntil(() => w.output().includes(sentLine));
    // The manager deals the worker another task after the end reached it (its reply waits
    // for the store; not awaited): once the worker sent that one's end, it has heard from
    // the manager since it sent the first.
    void execute(first.c, fn("agent_pid"), { run_in_background: true }).catch(() => undefined);
    await waitUntil(() => {
      const out = w.output();
      return out.indexOf("Sent the end of task", out.indexOf(sentLine) + 1) >= 0;
    });
    await first.m.kill9();

    const second = await again();
    const c2 = second.c;
    expect(await waitFinal(c2, uid)).toMatchObject({ state: "completed", worker: "acked" });
    const res = await c2.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true });
    expect(typeof (res.result as { return_value: unknown }).return_value).toBe("number");
    expect(w.output()).toMatch(/task end\(s\) go to the manager at \S+ again once it welcomes/);
  });

  it("a task that ended while its worker was away: its end, sent after a hello that no longer lists it, is kept from that worker only", async () => {
    const { first, again } = await managerOnStore("zqs-adopt-ended-", ["--worker-timeout", "10"]);
    const c1 = first.c;
    const before = new RawWorker(first.workerAddr);
    cleanup.push(async () => before.close());
    await before.hello("raw");
    expect((await before.answer()).type).toBe("welcome");
    const uid = await execute(c1, fn("agent_pid"), { run_in_background: true });
    await waitUntil(() => before.got("execute").some((m) => m.type === "execute" && m.id === uid));
    // The store writes in order: once this mark is durable, the start mark is too.
    await execute(c1, fn("agent_pid"), { run_in_background: true });
    await first.m.kill9();
    before.close();

    const second = await again();
    const c2 = second.c;
    const end = {
      type: "task_done",
      id: uid,
      success: true,
      msg: "",
      traceback: "",
      return_value: 7,
      time_start: Date.now() / 1000,
      time_stop: Date.now() / 1000,
    };
    // Another instance under the same name (it was not dealt the task): its end is dropped.
    const other = new RawWorker(second.workerAddr);
    cleanup.push(async () => other.close());
    await other.hello("raw");
    expect((await other.answer()).type).toBe("welcome");
    await other.sendRaw(encodeWire({ ...end, return_value: 666 } as never));
    await waitUntil(() => second.m.output().includes(`Dropped the result of task '${uid}'`));
    expect((await c2.request("task_status", { task_uid: uid })).status).toBe("running");
    await other.sendRaw(encodeWire({ type: "bye", msg: "done" }));
    // The worker it was dealt to (same name and instance) ended it meanwhile: its hello
    // lists nothing, its end comes after; it is kept.
    const back = new RawWorker(second.workerAddr);
    cleanup.push(async () => back.close());
    await back.hello("raw", { instance: before.instance });
    await back.sendRaw(encodeWire(end as never));
    expect(await waitFinal(c2, uid)).toMatchObject({ state: "completed", worker: "raw" });
    const res = await c2.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true, return_value: 7 });
  });

  it("a copy of a task's end that reaches a restarted manager after the end was applied is dropped quietly, not as a result given up", async () => {
    const { first, again } = await managerOnStore("zqs-end-copy-", ["--worker-timeout", "10"]);
    const raw = new RawWorker(first.workerAddr);
    cleanup.push(async () => raw.close());
    await raw.hello("copier", { wire: 3 });
    expect((await raw.answer()).type).toBe("welcome");
    const uid = await execute(first.c, fn("agent_pid"), { run_in_background: true });
    const dealt = await waitUntil(() =>
      raw.received
        .flatMap((m) => (m.type === "execute_batch" ? m.tasks : m.type === "execute" ? [m] : []))
        .find((t) => t.id === uid),
    );
    const now = Date.now() / 1000;
    const end = (id: string) =>
      encodeWire({
        type: "task_done",
        id,
        attempt: dealt.attempt,
        success: true,
        msg: "",
        traceback: "",
        return_value: 7,
        time_start: now,
        time_stop: now,
      } as never);
    await raw.sendRaw(end(uid));
    expect(await waitFinal(first.c, uid)).toMatchObject({ state: "completed", worker: "copier" });
    // Applied and durable (the manager stops cleanly); the worker never saw the ack.
    await first.m.stop();
    raw.close();

    const second = await again();
    const back = new RawWorker(second.workerAddr);
    cleanup.push(async () => back.close());
    await back.hello("copier", { wire: 3, instance: raw.instance });
    expect((await back.answer()).type).toBe("welcome");
    await back.sendRaw(end(uid));
    // An end of a task that never ran anywhere, after it: the manager logs in order, so
    // once its line is out, a line about the copy would be too.
    const bogus = "not-a-task-uid";
    await back.sendRaw(end(bogus));
    await waitUntil(() => second.m.output().includes(`Dropped the result of task '${bogus}'`));
    expect(second.m.output()).not.toContain(`Dropped the result of task '${uid}'`);
    const res = await second.c.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true, return_value: 7 });
  });
});
