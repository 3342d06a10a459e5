/**
 * Clients of an active manager and its standby (one real redis-server): a
 * write given both addresses, the standby's first, reaches the active one; a
 * repeated idempotency key is applied once; after kill -9 of the active, keyed
 * writes and reads carry on at the standby once it has taken over, from the
 * client and from the CLI. Needs the manager's side of standby mode and
 * idempotency keys (`--standby`, `idempotency_key`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManagerSwitch } from "../../src/client/index.js";
import { BPlan } from "../../src/client/index.js";
import { json, zqs } from "../cli/helpers.js";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { waitUntil } from "../helpers/wait.js";
import { clientOf } from "./helpers.js";

let redis: RunningRedis;
let active: RunningManager;
let standby: RunningManager;

beforeAll(async () => {
  redis = await startRedis();
  const store = ["--redis-addr", redis.addr, "--redis-lease", "2"];
  active = await startManager({ args: store });
  standby = await startManager({ args: [...store, "--standby"] });
});
afterAll(async () => {
  await Promise.all([active?.stop(), standby?.stop()]);
  await redis?.stop();
});

/** Seconds to reach a manager (the library's default): a dead one costs this once. */
const REACH_S = 2;

const plan = () => new BPlan("count", [["det1"]], { num: 1 });

describe("a client of an active manager and its standby", () => {
  it("sends past the standby to the active manager; a repeated key is applied once", async () => {
    const switches: ManagerSwitch[] = [];
    const api = clientOf(
      { controlAddr: `${standby.controlAddr},${active.controlAddr}` },
      { timeoutSend: REACH_S, onManagerSwitch: (e) => switches.push(e) },
    );
    try {
      const first = await api.itemAdd(plan());
      expect(first.success).toBe(true);
      expect(switches.map((e) => [e.from, e.to])).toEqual([
        [standby.controlAddr, active.controlAddr],
      ]);
      expect(switches[0]?.reason).toMatch(/is on standby/);
      const again1 = await api.itemAdd(plan(), {}, { idempotencyKey: "add-once" });
      const again2 = await api.itemAdd(plan(), {}, { idempotencyKey: "add-once" });
      expect(again2.item?.item_uid).toBe(again1.item?.item_uid);
      expect((await api.queueGet({ reload: true })).items).toHaveLength(2);
    } finally {
      await api.close();
    }
  });

  it("after kill -9 of the active, keyed writes and reads carry on at the standby", async () => {
    const api = clientOf(
      { controlAddr: `${active.controlAddr},${standby.controlAddr}` },
      { timeoutSend: REACH_S },
    );
    try {
      await active.kill9();
      // Sent during the takeover: the client waits (failoverWait) until the standby serves.
      const added = await api.itemAdd(plan());
      expect(added.success).toBe(true);
      expect(api.activeAddress).toBe(standby.controlAddr);
      expect((await api.queueGet({ reload: true })).items).toHaveLength(3);
      const raw = new RawClient(standby.controlAddr);
      try {
        await waitUntil(async () => (await raw.request("status")).manager_role === "active");
      } finally {
        raw.close();
      }
      const cli = await zqs(["--json", "queue", "get"], {
        env: {
          QSERVER_ZMQ_CONTROL_ADDRESS: `${active.controlAddr},${standby.controlAddr}`,
          QSERVER_ZMQ_INFO_ADDRESS: `${active.infoAddr},${standby.infoAddr}`,
        },
      });
      expect(cli.code, cli.stderr).toBe(0);
      expect(json<{ items: unknown[] }>(cli).items).toHaveLength(3);
      expect(cli.stderr).toContain(
        `zqs: switched from the manager at ${active.controlAddr} to ${standby.controlAddr}`,
      );
    } finally {
      await api.close();
    }
  });
});
