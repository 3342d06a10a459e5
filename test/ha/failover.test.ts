/**
 * Two managers on one real redis-server with --standby (issue 24): the
 * standby answers ping/status and refuses the rest naming the active one;
 * kill -9 of the active while 8 clients add queue items and background tasks
 * (with idempotency keys, retried on the other manager) and a remote worker
 * (`zqs worker --connect a,b`) runs a long task — the standby takes over
 * (its time read from its own log), every item and task acknowledged is there
 * exactly once, the remote task is taken back and completes there with its
 * result kept, those of the old manager's own workers end cut off; an
 * idempotent repeat gets the same reply; a manager SIGSTOPped past its lease
 * writes nothing once woken and steps down to standby.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { execute, fn, info, openEnvironment, USER, waitFinal, waitInfo } from "../helpers/tasks.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";
import { call, SINGLE_KEY, startTestGateway } from "../http/helpers.js";
import { gateModule, newGate } from "../helpers/startup.js";
import type { RunningWorker } from "../remote/helpers.js";
import { startWorker, waitWorker } from "../remote/helpers.js";

const LEASE_S = 2;

let redis: RunningRedis;
const managers: RunningManager[] = [];
const workers: RunningWorker[] = [];
/** Each manager's socket for workers on other hosts. */
const workerAddr = new Map<RunningManager, string>();

async function startHa(): Promise<RunningManager> {
  const addr = `tcp://127.0.0.1:${await freePort()}`;
  const m = await startManager({
    args: [
      ...["--redis-addr", redis.addr, "--standby", "--redis-lease", String(LEASE_S)],
      ...["--zmq-worker-addr", addr],
    ],
  });
  managers.push(m);
  workerAddr.set(m, addr);
  return m;
}

/** One request on a fresh socket; undefined when no reply came in `timeoutMs`. */
async function once(
  addr: string,
  msg: Record<string, unknown>,
  timeoutMs = 1500,
): Promise<Record<string, unknown> | undefined> {
  const c = new RawClient(addr, { timeoutMs });
  try {
    const { encode } = await import("../../src/protocol/index.js");
    return await c.send(encode(msg, "json"));
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

/** Send with an idempotency key to whichever manager is active, until one succeeds. */
async function untilAcknowledged(
  addrs: string[],
  method: string,
  params: Record<string, unknown>,
  key: string,
): Promise<Record<string, unknown>> {
  return waitUntil(async () => {
    for (const a of addrs) {
      const r = await once(a, { method, params, idempotency_key: key });
      if (r?.success === true) return r;
    }
    return undefined;
  });
}

const status = (m: RunningManager) => once(m.controlAddr, { method: "status" }, 5000);

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const m of managers) {
    if (m.proc.signalCode === null && m.proc.exitCode === null) m.proc.kill("SIGCONT");
    await m.stop();
  }
  await redis?.stop();
});

describe("a standby manager on a shared Redis store", () => {
  let a: RunningManager;
  let b: RunningManager;

  it("the standby answers status naming the active manager and refuses everything else", async () => {
    a = await startHa();
    b = await startHa();
    const sa = await status(a);
    expect(sa?.manager_role).toBe("active");
    expect(sa?.manager_state).toBe("idle");
    const sb = await status(b);
    expect(sb?.manager_state).toBe("standby");
    expect(sb?.manager_role).toBe("standby");
    const active = sb?.active_manager as Record<string, unknown>;
    expect(active.pid).toBe(a.proc.pid);
    expect(active.control_address).toBe(a.controlAddr);
    expect(active.id).toBe((sa?.active_manager as Record<string, unknown>).id);
    const r = await once(b.controlAddr, { method: "queue_get" });
    expect(r?.success).toBe(false);
    expect(r?.msg).toBe(
      `This manager is on standby; the active manager is ${String(active.id)} at ${a.controlAddr}`,
    );
    expect(r?.manager_state).toBe("standby");
    expect(r?.active_manager).toEqual(active);
  });

  it("an idempotent repeat gets the same reply and changes nothing; another method is refused", async () => {
    const params = { item: { item_type: "plan", name: "count", args: [["det1"]] }, ...USER };
    const first = await once(a.controlAddr, {
      method: "queue_item_add",
      params,
      idempotency_key: "once-1",
    });
    expect(first?.success, String(first?.msg)).toBe(true);
    const again = await once(a.controlAddr, {
      method: "queue_item_add",
      params,
      idempotency_key: "once-1",
    });
    expect(again).toEqual(first);
    const other = await once(a.controlAddr, {
      method: "queue_clear",
      idempotency_key: "once-1",
    });
    expect(other?.success).toBe(false);
    expect(other?.msg).toMatch(/idempotency_key 'once-1' was used by a 'queue_item_add' request/);
    const bad = await once(a.controlAddr, {
      method: "queue_get",
      idempotency_key: "x".repeat(129),
    });
    expect(bad?.msg).toMatch(/idempotency_key must be a string of 1 to 128 characters/);
    const q = await once(a.controlAddr, { method: "queue_get" });
    expect((q?.items as unknown[]).length).toBe(1);
    await once(a.controlAddr, { method: "queue_clear" });
  });

  it("kill -9 of the active under 8 clients and a remote task: the standby takes over, every acknowledged change there once, the remote task completes there", async () => {
    const c = new RawClient(a.controlAddr, { timeoutMs: ENV_OPEN_MS });
    await openEnvironment(c);
    // A worker on another host that knows both managers runs a task until the test opens its gate.
    const remote = startWorker(`${workerAddr.get(a)},${workerAddr.get(b)}`, {
      name: "remote1",
      tags: ["remote"],
      only: true,
      extra: { "10-gate.mjs": gateModule("func_for_test_gate") },
    });
    workers.push(remote);
    await waitWorker(c, "remote1");
    const gate = newGate();
    const long = await execute(c, fn("func_for_test_gate", [gate.path]), {
      run_in_background: true,
      worker_tags: ["remote"],
    });
    await waitInfo(c, long, (i) => i.state === "running" && i.worker === "remote1");
    c.close();

    const addrs = [a.controlAddr, b.controlAddr];
    const CLIENTS = 8;
    const ROUNDS = 3;
    const items: string[] = [];
    /** Task uids by round: round 0 is acknowledged by the old manager (its long tasks are cut off). */
    const tasks: string[][] = Array.from({ length: ROUNDS }, () => []);
    let firstRound = 0;
    let killed: Promise<void> | undefined;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, k) => {
        for (let round = 0; round < ROUNDS; round++) {
          const n = round * CLIENTS + k;
          const item = {
            item_type: "plan",
            name: "count",
            args: [["det1"]],
            kwargs: { num: n + 1 },
          };
          const r = await untilAcknowledged(
            addrs,
            "queue_item_add",
            { item, ...USER },
            `item-${n}`,
          );
          items.push((r.item as { item_uid: string } | undefined)?.item_uid ?? `lost-${n}`);
          const t = await untilAcknowledged(
            addrs,
            "function_execute",
            {
              item: fn("function_sleep", [round === 0 ? 30 : 0]),
              run_in_background: true,
              ...USER,
            },
            `task-${n}`,
          );
          // A change made by the old manager whose reply was lost is told so (reply_lost, no uid).
          if (t.reply_lost !== true) tasks[round]?.push(t.task_uid as string);
          // Once every client's first round is acknowledged (so is the remote task's start
          // mark: the store writes in order), the active manager is killed as they go on.
          if (round === 0 && ++firstRound === CLIENTS) killed = a.kill9();
        }
      }),
    );
    await killed;
    const N = CLIENTS * ROUNDS;
    // The standby's own account: when it took over, and when the lease it watched would lapse.
    const log = b.output();
    const took = /Role change at (\S+): standby -> active, took over the store/.exec(log);
    expect(took, log).not.toBeNull();
    const expiry =
      /standby -> active, took over the store .*the lease was due to expire at ([^)\s]+)\)/.exec(
        log,
      );
    expect(expiry, log).not.toBeNull();
    const tookAt = Date.parse(took?.[1] ?? "");
    const expiresAt = Date.parse(expiry?.[1] ?? "");
    expect(Number.isFinite(tookAt) && Number.isFinite(expiresAt), log).toBe(true);
    // How soon is a speed figure (bench: the failover row), not a bound a busy machine can
    // break: reported here, asserted nowhere.
    console.log(`takeover ${tookAt - expiresAt} ms after the lease's expiry (negative: before)`);

    const q = await once(b.controlAddr, { method: "queue_get" }, 5000);
    const uids = (q?.items as { item_uid: string; kwargs: { num: number } }[]).map(
      (x) => x.item_uid,
    );
    expect(uids.length).toBe(N);
    expect(new Set(uids).size).toBe(N);
    for (const u of items.filter((x) => !x.startsWith("lost-"))) expect(uids).toContain(u);
    const nums = (q?.items as { kwargs: { num: number } }[])
      .map((x) => x.kwargs.num)
      .sort((x, y) => x - y);
    expect(nums).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // Every acknowledged task is known once: the long ones of the old manager's own workers
    // end cut off; the later ones ran on the new manager (or, acknowledged by the old one as
    // it was killed, were cut off there).
    let succeeded = 0;
    for (const [round, uids] of tasks.entries()) {
      for (const uid of uids) {
        const s = await waitUntil(async () => {
          const r = await once(
            b.controlAddr,
            { method: "task_status", params: { task_uid: uid } },
            5000,
          );
          return r?.status === "completed" ? r : undefined;
        });
        expect(s.status).toBe("completed");
        const res = await once(b.controlAddr, { method: "task_result", params: { task_uid: uid } });
        const result = res?.result as { success: boolean; msg: string };
        if (round === 0) expect(result.msg).toMatch(/The manager stopped before the task ended/);
        else if (result.success) succeeded++;
        else expect(result.msg).toMatch(/The manager stopped before the task ended/);
      }
    }
    // Those acknowledged by the new manager ran there.
    expect(succeeded).toBeGreaterThan(0);

    // The remote task was taken back by the new manager: its end there is its result.
    const cb = new RawClient(b.controlAddr);
    try {
      await waitWorker(cb, "remote1", (r) => r.state === "online" && r.busy === 1);
      expect(await info(cb, long)).toMatchObject({ state: "running", worker: "remote1" });
      gate.open();
      expect(await waitFinal(cb, long)).toMatchObject({ state: "completed", worker: "remote1" });
      const res = await cb.request("task_result", { task_uid: long });
      expect(res.result).toMatchObject({ success: true });
      expect(typeof (res.result as { return_value: unknown }).return_value).toBe("number");
    } finally {
      cb.close();
    }
    expect(b.output()).toContain("Worker 'remote1' took back 1 running task(s)");

    const list = await once(b.controlAddr, { method: "tasks_list", params: {} }, 5000);
    const listed =
      (list?.tasks as { task_uid: string }[] | undefined)?.map((t) => t.task_uid) ?? [];
    for (const uid of [long, ...tasks.flat()]) {
      expect(listed.filter((u) => u === uid).length).toBe(1);
    }
    // One task per key, those whose reply was lost too.
    const sleeps = (list?.tasks as { name: string }[]).filter((t) => t.name === "function_sleep");
    expect(sleeps.length).toBe(N);
    // The environment was open under the old manager: the new one opened it.
    await waitUntil(async () => (await status(b))?.worker_environment_exists === true, ENV_OPEN_MS);
    // Status and /metrics tell the role, the failover and who holds the lease.
    const sb = await status(b);
    expect(sb?.manager_role).toBe("active");
    expect((sb?.active_manager as { pid: number }).pid).toBe(b.proc.pid);
    const g = await startTestGateway(b);
    try {
      const text = (await call(g.url, "GET", "/metrics", { key: SINGLE_KEY })).text;
      expect(text).toMatch(/^zqs_manager_role\{role="active"\} 1$/m);
      expect(text).toMatch(/^zqs_manager_role\{role="standby"\} 0$/m);
      expect(text).toMatch(/^zqs_manager_failovers_total 1$/m);
      expect(text).toMatch(
        new RegExp(`^zqs_manager_lease_holder\\{.*pid="${b.proc.pid}".*\\} 1$`, "m"),
      );
    } finally {
      await g.close();
    }
  });

  it("an active manager stopped past its lease writes nothing when woken and steps down", async () => {
    const d = await startHa();
    expect((await status(d))?.manager_state).toBe("standby");
    b.proc.kill("SIGSTOP");
    await waitUntil(async () => (await status(d))?.manager_role === "active");
    const before = await once(d.controlAddr, { method: "queue_get" });
    // A write sent to the stopped manager is read when it wakes: it must not land
    // (refused, or never answered when the manager stepped down first).
    const late = new RawClient(b.controlAddr, { timeoutMs: 60_000 });
    let reply: Record<string, unknown> | undefined;
    late
      .request("queue_item_add", {
        item: { item_type: "plan", name: "count", args: [["det1"]] },
        ...USER,
      })
      .then(
        (r) => (reply = r),
        () => undefined,
      );
    b.proc.kill("SIGCONT");
    await waitUntil(() => /active -> standby \(it lost the store's lease/.test(b.output()));
    const sb = await waitUntil(async () => {
      const s = await status(b);
      return s?.manager_state === "standby" ? s : undefined;
    });
    expect((sb.active_manager as { pid: number }).pid).toBe(d.proc.pid);
    expect(b.output()).toMatch(/lost ownership of the store.*steps down to standby/);
    expect(b.proc.exitCode).toBeNull();
    late.close();
    expect(reply?.success, JSON.stringify(reply)).not.toBe(true);
    const after = await once(d.controlAddr, { method: "queue_get" });
    expect(after?.items).toEqual(before?.items);
  });
});
