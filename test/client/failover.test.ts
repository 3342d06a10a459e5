/**
 * Clients with several manager addresses, against real managers: the first
 * one is dead (kill -9) and reads carry on at the second, with the async
 * client (its info subscription follows), the blocking client and the CLI
 * (`-a a,b` and QSERVER_ZMQ_CONTROL_ADDRESS with commas), each saying that it
 * switched; the HTTP gateway with `--zqs-addr a,b` likewise. Writes are left out here: a client with several addresses keys
 * them, which needs a manager that takes `idempotency_key`
 * (failover-keys.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManagerSwitch } from "../../src/client/index.js";
import { BPlan, REManagerAPISync } from "../../src/client/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { json, zqs } from "../cli/helpers.js";
import { call, SINGLE_KEY, startTestGateway } from "../http/helpers.js";
import { clientOf, GROUP, USER, WAIT_S } from "./helpers.js";

/**
 * Seconds to reach a manager (the library's default): the dead one costs this
 * once per client. The live one's connection was started with the client, so
 * it has had at least twice this long when its turn comes.
 */
const REACH_S = 2;

let dead: RunningManager;
let live: RunningManager;

beforeAll(async () => {
  [dead, live] = await Promise.all([startManager(), startManager()]);
  await dead.kill9();
  // Only the live manager has an item: a reply shows who answered.
  const setup = clientOf(live);
  await setup.itemAdd(new BPlan("count", [["det1"]], { num: 1 }));
  await setup.close();
});
afterAll(async () => {
  await Promise.all([dead?.stop(), live?.stop()]);
});

describe("a client with two addresses, the first dead", () => {
  it("reads from the second, says so once, and its info subscription follows", async () => {
    const switches: ManagerSwitch[] = [];
    const api = clientOf(live, {
      zmqControlAddr: [dead.controlAddr, live.controlAddr],
      zmqInfoAddr: [dead.infoAddr, live.infoAddr],
      timeoutSend: REACH_S,
      onManagerSwitch: (e) => switches.push(e),
    });
    try {
      // Subscribed first: to the dead manager's info socket.
      const monitor = api.systemInfoMonitor();
      const q = await api.queueGet();
      expect(q.items).toHaveLength(1);
      expect(switches.map((e) => [e.from, e.to])).toEqual([[dead.controlAddr, live.controlAddr]]);
      expect(switches[0]?.reason).toContain(`no connection to ${dead.controlAddr}`);
      expect(api.activeAddress).toBe(live.controlAddr);
      // Later reads go straight to the live manager.
      expect((await api.status({ reload: true })).items_in_queue).toBe(1);
      expect(switches).toHaveLength(1);
      // The live manager's status messages arrive on the subscription.
      const msg = await monitor.nextMessage(WAIT_S);
      expect(msg?.msg).toMatchObject({ status: { items_in_queue: 1 } });
      monitor.close();
    } finally {
      await api.close();
    }
  });

  it("the blocking client likewise, telling the switch in the caller's thread", () => {
    const switches: ManagerSwitch[] = [];
    const api = new REManagerAPISync({
      zmqControlAddr: `${dead.controlAddr},${live.controlAddr}`,
      zmqInfoAddr: null,
      user: USER,
      userGroup: GROUP,
      timeoutSend: REACH_S,
      timeoutRecv: WAIT_S,
      onManagerSwitch: (e) => switches.push(e),
    });
    try {
      expect(api.status().items_in_queue).toBe(1);
      expect(api.queueGet().items).toHaveLength(1);
      expect(switches.map((e) => [e.from, e.to])).toEqual([[dead.controlAddr, live.controlAddr]]);
    } finally {
      api.close();
    }
  });

  it("the CLI with QSERVER_ZMQ_CONTROL_ADDRESS a,b, saying so on stderr", async () => {
    // (`-a a,b` is the same option; the unit tests check the two are parsed alike.)
    const r = await zqs(["--json", "queue", "get"], {
      env: {
        QSERVER_ZMQ_CONTROL_ADDRESS: `${dead.controlAddr},${live.controlAddr}`,
        QSERVER_ZMQ_INFO_ADDRESS: `${dead.infoAddr},${live.infoAddr}`,
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(json<{ items: unknown[] }>(r).items).toHaveLength(1);
    expect(r.stderr).toContain(
      `zqs: switched from the manager at ${dead.controlAddr} to ${live.controlAddr}: no connection to ${dead.controlAddr}`,
    );
  });
});

describe("the HTTP gateway with --zqs-addr a,b, the first dead", () => {
  it("reads from the second and refuses a bad Idempotency-Key header", async () => {
    const gw = await startTestGateway({
      controlAddr: `${dead.controlAddr},${live.controlAddr}`,
      infoAddr: `${dead.infoAddr},${live.infoAddr}`,
    });
    try {
      const r = await call(gw.url, "GET", "/api/queue/get", { key: SINGLE_KEY });
      expect(r.status, r.text).toBe(200);
      expect(r.json.items).toHaveLength(1);
      const bad = await call(gw.url, "POST", "/api/queue/item/add", {
        key: SINGLE_KEY,
        body: { item: { item_type: "plan", name: "count", args: [["det1"]] } },
        headers: { "Idempotency-Key": "k".repeat(129) },
      });
      expect(bad.status).toBe(400);
      expect(bad.detail).toBe("The Idempotency-Key header must be given once, 1 to 128 characters");
    } finally {
      await gw.close();
    }
  });
});
