/**
 * Workers on other hosts at local speed: the tasks of one turn go to a worker
 * as one message and its reports of one turn come back as one (wire 2, seen
 * through raw sockets on either side), and short tasks are dealt ahead to a
 * remote worker beyond its slots, waiting in it, as they are to a local one.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Router } from "zeromq";
import type { AgentMessage, AgentReport } from "../../src/protocol/worker-wire.js";
import {
  agentMessageSchema,
  decodeWire,
  encodeWire,
  WORKER_WIRE_VERSION,
} from "../../src/protocol/worker-wire.js";
import { freePort, RawClient, waitUntil } from "../helpers/manager.js";
import { newGate } from "../helpers/startup.js";
import { execute, fn, info, openEnvironment, USER, waitFinal } from "../helpers/tasks.js";
import { startRemoteManager, startWorker, waitWorker, workersList } from "./helpers.js";
import type { RunningWorker } from "./helpers.js";
import { RawWorker } from "./raw-worker.js";

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup.length = 0;
});

async function setup() {
  const { m, workerAddr } = await startRemoteManager({ args: ["--worker-timeout", "2"] });
  cleanup.push(() => m.stop());
  const c = new RawClient(m.controlAddr);
  cleanup.push(() => c.close());
  await openEnvironment(c);
  return { m, c, addr: workerAddr };
}

function worker(addr: string, o: Parameters<typeof startWorker>[1]): RunningWorker {
  const w = startWorker(addr, o);
  cleanup.push(() => w.stop());
  return w;
}

/** The task uids a raw worker was dealt, and in how many messages. */
function dealt(raw: RawWorker): { uids: string[]; batches: number[]; singles: number } {
  const uids: string[] = [];
  const batches: number[] = [];
  let singles = 0;
  for (const m of raw.received) {
    if (m.type === "execute") {
      uids.push(m.id);
      singles++;
    } else if (m.type === "execute_batch") {
      uids.push(...m.tasks.map((t) => t.id));
      batches.push(m.tasks.length);
    }
  }
  return { uids, batches, singles };
}

function done(id: string): AgentReport {
  const t = Date.now() / 1000;
  return {
    type: "task_done",
    id,
    success: true,
    msg: "",
    traceback: "",
    return_value: id,
    time_start: t,
    time_stop: t,
  };
}

describe("tasks and reports in batches (wire 2)", () => {
  it("a worker saying wire 2 is dealt a run's tasks in one message and ends them in one; one saying none gets one message a task", async () => {
    const { c, addr } = await setup();
    const raw = new RawWorker(addr);
    cleanup.push(() => raw.close());
    await raw.hello("raw-batch", { wire: WORKER_WIRE_VERSION, slots: 8 });
    expect((await raw.answer()).type).toBe("welcome");
    const run = await c.request("run_create", { ...USER, function: fn("agent_pid"), count: 8 });
    expect(run.success, String(run.msg)).toBe(true);
    const uids = run.task_uids as string[];
    await waitUntil(() => dealt(raw).uids.length === 8);
    const got = dealt(raw);
    expect(got.uids.sort()).toEqual([...uids].sort());
    expect(Math.max(...got.batches)).toBeGreaterThan(1);
    // Every end in one message.
    await raw.sendRaw(encodeWire({ type: "reports", reports: uids.map(done) }));
    for (const uid of uids) {
      const i = await waitFinal(c, uid);
      expect([i.state, i.worker]).toEqual(["completed", "raw-batch"]);
      expect((await c.request("task_result", { task_uid: uid })).result).toMatchObject({
        return_value: uid,
      });
    }
    await raw.sendRaw(encodeWire({ type: "bye", msg: "done" }));
    await waitWorker(c, "raw-batch", (w) => w.state === "offline");

    // A worker that says no wire version (1) is dealt one `execute` per task.
    const old = new RawWorker(addr);
    cleanup.push(() => old.close());
    await old.hello("raw-old", { slots: 8 });
    expect((await old.answer()).type).toBe("welcome");
    const run2 = await c.request("run_create", { ...USER, function: fn("agent_pid"), count: 8 });
    expect(run2.success, String(run2.msg)).toBe(true);
    await waitUntil(() => dealt(old).uids.length === 8);
    expect(dealt(old)).toMatchObject({ batches: [], singles: 8 });
  });

  it("zqs worker says wire 2, runs a batch of tasks, and sends the reports of a turn as one message, in order", async () => {
    const port = await freePort();
    const router = new Router({ linger: 0 });
    cleanup.push(() => router.close());
    await router.bind(`tcp://127.0.0.1:${port}`);
    const got: AgentMessage[][] = [];
    let route: Buffer | undefined;
    void (async () => {
      try {
        for await (const [r, body] of router) {
          const d = decodeWire(body as Buffer, agentMessageSchema);
          if (!d.ok) continue;
          route = r;
          got.push(d.msg.type === "reports" ? d.msg.reports : [d.msg]);
        }
      } catch {
        // closed
      }
    })();
    worker(`tcp://127.0.0.1:${port}`, { name: "batcher", slots: 2 });
    const hello = await waitUntil(() => got.flat().find((m) => m.type === "hello"));
    expect(hello).toMatchObject({ wire: WORKER_WIRE_VERSION, slots: 2 });
    const to = route as Buffer;
    await router.send([to, encodeWire({ type: "welcome", heartbeat_ms: 500, timeout_ms: 60_000 })]);
    const ids = Array.from({ length: 6 }, (_, i) => `t-${i}`);
    await router.send([
      to,
      encodeWire({
        type: "execute_batch",
        tasks: ids.map((id, i) => ({
          type: "execute",
          id,
          name: "report",
          args: [i],
          kwargs: {},
          background: true,
          attempt: 1,
        })),
      }),
    ]);
    const ends = () => got.flat().filter((m) => m.type === "task_done");
    await waitUntil(() => ends().length === 6);
    expect(ends().every((m) => m.type === "task_done" && m.success)).toBe(true);
    // `report` says progress, then ends, in one turn of its process: one message, in that order.
    const together = got.filter((batch) => batch.length > 1);
    expect(together.length).toBeGreaterThan(0);
    for (const batch of together) {
      for (const end of batch.filter((m) => m.type === "task_done")) {
        const progress = batch.findIndex((m) => m.type === "task_progress" && m.id === end.id);
        if (progress >= 0) expect(progress).toBeLessThan(batch.indexOf(end));
      }
    }
  });
});

/** A function that leaves a file named for its argument: whether it ran. */
const MARK = `
import { writeFileSync } from "node:fs";
import path from "node:path";
export function mark(dir, name) {
  writeFileSync(path.join(dir, name), "");
  return name;
}
`;

/**
 * A manager and a 1-slot worker `name` (with the `mark` function, writing in
 * `marks`) whose calls are known to be short, running a gated task `g`.
 */
async function gatedWorker(name: string) {
  const { c, addr } = await setup();
  const marks = mkdtempSync(path.join(os.tmpdir(), "zqs-marks-"));
  cleanup.push(() => rmSync(marks, { recursive: true, force: true }));
  const w = worker(addr, { name, slots: 1, extra: { "30-mark.mjs": MARK } });
  await waitWorker(c, name);
  // Short calls: its call times are known (the agent gives its process several at once).
  const warm = await c.request("run_create", { ...USER, function: fn("agent_pid"), count: 10 });
  for (const uid of warm.task_uids as string[]) await waitFinal(c, uid);
  const gate = newGate();
  const g = await execute(c, fn("gate", [gate.path]), { run_in_background: true });
  await waitUntil(async () => (await info(c, g)).started_at !== null);
  return { c, addr, marks, w, gate, g };
}

describe("dealing ahead to a worker on another host", () => {
  it("a 1-slot worker holds more than its slot; a cancel of a waiting task takes it out unrun; its loss puts the waiting ones back, unharmed", async () => {
    const { c, addr, marks, w: w1, gate } = await gatedWorker("ahead-1");
    const [a, b, x] = [
      await execute(c, fn("mark", [marks, "a"]), { run_in_background: true }),
      await execute(c, fn("mark", [marks, "b"]), { run_in_background: true }),
      await execute(c, fn("mark", [marks, "x"]), { run_in_background: true }),
    ];
    // Dealt ahead: all four are the worker's while its only slot is held.
    const row = await waitUntil(async () =>
      (await workersList(c)).find((r) => r.name === "ahead-1" && r.busy === 4),
    );
    expect(row.slots).toBe(1);
    for (const uid of [a, b, x]) {
      const i = await info(c, uid);
      expect([i.state, i.worker, i.started_at]).toEqual(["running", "ahead-1", null]);
    }

    // A cancel of a waiting one: it ends unrun, the others stay with the worker.
    const cancelled = await c.request("task_cancel", { task_uid: b });
    expect(cancelled.success, String(cancelled.msg)).toBe(true);
    expect((await waitFinal(c, b)).state).toBe("cancelled");
    await waitUntil(async () =>
      (await workersList(c)).find((r) => r.name === "ahead-1" && r.busy === 3),
    );

    // Its loss: the waiting ones go back to wait, their attempts not spent.
    await w1.kill9();
    await waitWorker(c, "ahead-1", (r) => r.state === "lost");
    for (const uid of [a, x]) {
      const i = await info(c, uid);
      expect([i.state, i.attempts]).toEqual(["pending", 0]);
    }
    gate.open();
    worker(addr, { name: "ahead-2", slots: 1, extra: { "30-mark.mjs": MARK } });
    for (const uid of [a, x]) {
      const i = await waitFinal(c, uid);
      expect([i.state, i.worker, i.attempts]).toEqual(["completed", "ahead-2", 1]);
    }
    expect(existsSync(path.join(marks, "a"))).toBe(true);
    expect(existsSync(path.join(marks, "x"))).toBe(true);
    expect(existsSync(path.join(marks, "b"))).toBe(false);
  });

  it("a slot process killed (-9) while it holds tasks dealt ahead: its running task fails, those waiting in it complete on its new process", async () => {
    const { c, marks, w, g } = await gatedWorker("ahead-3");
    const waiting = [
      await execute(c, fn("mark", [marks, "a"]), { run_in_background: true }),
      await execute(c, fn("mark", [marks, "b"]), { run_in_background: true }),
    ];
    await waitUntil(async () =>
      (await workersList(c)).find((r) => r.name === "ahead-3" && r.busy === 3),
    );
    // The slot process (the agent's only child) holds the gate task and the two behind it.
    const [pid] = execFileSync("pgrep", ["-P", String(w.proc.pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map(Number);
    process.kill(pid as number, "SIGKILL");

    const failed = await waitFinal(c, g);
    expect(failed.state).toBe("failed");
    for (const uid of waiting) {
      const i = await waitFinal(c, uid);
      expect([i.state, i.worker, i.attempts]).toEqual(["completed", "ahead-3", 1]);
    }
    expect(existsSync(path.join(marks, "a"))).toBe(true);
    expect(existsSync(path.join(marks, "b"))).toBe(true);
  });
});
