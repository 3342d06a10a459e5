/**
 * Task ends on the remote-worker wire (wire 3): the manager acknowledges every
 * end it receives (`ack`, or `acked` on an `execute_batch`), applies the end of
 * the attempt it dealt and drops an end that names another attempt, and drops
 * a copy of an end it applied already quietly. A raw worker plays the agent,
 * so the test says exactly what the manager is sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeWire } from "../../src/protocol/worker-wire.js";
import type { ManagerMessage } from "../../src/protocol/worker-wire.js";
import { RawClient, type RunningManager } from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitFinal } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";
import { startRemoteManager } from "./helpers.js";
import { RawWorker } from "./raw-worker.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** The uids acknowledged to `raw` so far (by `ack` or on an `execute_batch`). */
function acked(raw: RawWorker): string[] {
  return raw.received.flatMap((m: ManagerMessage) =>
    m.type === "ack" || m.type === "execute_batch" ? (m.acked ?? []) : [],
  );
}

/** The attempt `uid` was dealt as to `raw`. */
async function dealtAttempt(raw: RawWorker, uid: string): Promise<number> {
  return waitUntil(() => {
    for (const m of raw.received) {
      const tasks = m.type === "execute" ? [m] : m.type === "execute_batch" ? m.tasks : [];
      const t = tasks.find((x) => x.id === uid);
      if (t) return { a: t.attempt };
    }
    return undefined;
  }).then((r) => r.a);
}

function end(uid: string, extra: Record<string, unknown>): Buffer {
  const now = Date.now() / 1000;
  return encodeWire({
    type: "task_done",
    id: uid,
    success: true,
    msg: "",
    traceback: "",
    time_start: now,
    time_stop: now,
    ...extra,
  } as never);
}

/** One manager for the file. */
let m: RunningManager;
let workerAddr: string;
let c: RawClient;
beforeAll(async () => {
  ({ m, workerAddr } = await startRemoteManager());
  cleanup.push(() => m.stop());
  c = new RawClient(m.controlAddr);
  cleanup.push(async () => c.close());
  await openEnvironment(c);
});

describe("task ends acknowledged, applied once, for the attempt dealt", () => {
  it("an end of another attempt is dropped; the dealt attempt's is applied; a copy is dropped quietly; each is acknowledged", async () => {
    const raw = new RawWorker(workerAddr);
    cleanup.push(async () => raw.close());
    await raw.hello("raw", { wire: 3 });
    expect(await raw.answer()).toMatchObject({ type: "welcome", acks: true });

    const uid = await execute(c, fn("agent_pid"), { run_in_background: true });
    const attempt = await dealtAttempt(raw, uid);

    // Another attempt's end (a copy sent again after the task was dealt anew): dropped.
    await raw.sendRaw(end(uid, { attempt: attempt + 1, return_value: 666 }));
    await waitUntil(() => acked(raw).includes(uid));
    // The log line comes on the manager's stdout, which may be read after the ack.
    const dropped = `Dropped the result of attempt ${attempt + 1} of task '${uid}' from worker 'raw': it runs attempt ${attempt} now`;
    await waitUntil(() => m.output().includes(dropped));
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");

    // The dealt attempt's end: applied, acknowledged.
    await raw.sendRaw(end(uid, { attempt, return_value: 7 }));
    expect(await waitFinal(c, uid)).toMatchObject({ state: "completed", worker: "raw" });
    await waitUntil(() => acked(raw).filter((u) => u === uid).length >= 2);

    // A copy of it (sent again after a reconnect): acknowledged, not applied, no warning.
    await raw.sendRaw(end(uid, { attempt, return_value: 8 }));
    await waitUntil(() => acked(raw).filter((u) => u === uid).length >= 3);
    const res = await c.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true, return_value: 7 });
    expect(m.output()).not.toContain(`Dropped the result of task '${uid}'`);
    // It leaves: the next test's tasks go to its worker.
    await raw.sendRaw(encodeWire({ type: "bye", msg: "done" }));
    await waitUntil(() => m.output().includes("The worker 'raw' on raw-host left"));
  });

  it("a worker of wire 2 (an older zqs worker): no acks, its ends without an attempt are applied", async () => {
    const raw = new RawWorker(workerAddr);
    cleanup.push(async () => raw.close());
    await raw.hello("older", { wire: 2 });
    const welcome = await raw.answer();
    expect(welcome.type).toBe("welcome");
    expect(welcome).not.toHaveProperty("acks");
    const uid = await execute(c, fn("agent_pid"), { run_in_background: true });
    await dealtAttempt(raw, uid);
    await raw.sendRaw(end(uid, { return_value: 5 }));
    expect(await waitFinal(c, uid)).toMatchObject({ state: "completed", worker: "older" });
    const res = await c.request("task_result", { task_uid: uid });
    expect(res.result).toMatchObject({ success: true, return_value: 5 });
    expect(raw.got("ack")).toEqual([]);
  });
});
