/**
 * A manager on Redis through Sentinel (issue 24): one master, one replica,
 * one sentinel on loopback. The master is killed while a client adds queue
 * items (with idempotency keys, retried until acknowledged); the sentinel
 * promotes the replica, the manager follows it and carries on, and every
 * acknowledged item is there exactly once. A write counts as done once a
 * replica has it (--redis-wait-replicas, 1 with Sentinel): after the
 * failover, writes wait for a new replica to join.
 */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { encode } from "../../src/protocol/index.js";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { USER } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";

const MASTER = "zqsmaster";
const servers: RunningRedis[] = [];
let manager: RunningManager | undefined;

afterAll(async () => {
  await manager?.stop();
  for (const s of servers.reverse()) await s.stop();
});

async function once(addr: string, msg: Record<string, unknown>, timeoutMs = 5000) {
  const c = new RawClient(addr, { timeoutMs });
  try {
    return await c.send(encode(msg, "json"));
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

/** What the sentinel says of the master: its port and its replicas' count. */
async function sentinelView(port: number): Promise<{ master: number; replicas: number }> {
  const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const addr = (await r.call("SENTINEL", "get-master-addr-by-name", MASTER)) as string[];
    const replicas = (await r.call("SENTINEL", "replicas", MASTER)) as string[][];
    const up = replicas.filter((fields) => {
      const flags = fields[fields.indexOf("flags") + 1] ?? "";
      return !/s_down|o_down|disconnected/.test(flags);
    });
    return { master: Number(addr[1]), replicas: up.length };
  } finally {
    r.disconnect();
  }
}

it("survives a Redis failover with nothing acknowledged lost", async () => {
  const master = await startRedis();
  servers.push(master);
  const replica = await startRedis({ replicaOf: master.port });
  servers.push(replica);
  const sentinel = await startRedis({ sentinelOf: { port: master.port, master: MASTER } });
  servers.push(sentinel);
  await waitUntil(async () => (await sentinelView(sentinel.port)).replicas === 1);
  manager = await startManager({
    args: [
      "--redis-sentinel",
      `127.0.0.1:${sentinel.port}`,
      "--redis-master-name",
      MASTER,
      "--redis-lease",
      "2",
    ],
  });
  const m = manager;
  const N = 10;
  const acknowledged: string[] = [];
  for (let i = 0; i < N; i++) {
    if (i === N / 2) {
      master.kill9();
      // Promoted: a new replica joins the new master (writes wait for one).
      const promoted = await waitUntil(async () => {
        const v = await sentinelView(sentinel.port).catch(() => undefined);
        return v && v.master !== master.port ? v.master : undefined;
      });
      servers.push(await startRedis({ replicaOf: promoted }));
    }
    const item = { item_type: "plan", name: "count", args: [["det1"]], kwargs: { num: i + 1 } };
    const r = await waitUntil(async () => {
      const reply = await once(m.controlAddr, {
        method: "queue_item_add",
        params: { item, ...USER },
        idempotency_key: `sentinel-${i}`,
      });
      return reply?.success === true ? reply : undefined;
    });
    acknowledged.push((r.item as { item_uid: string }).item_uid);
  }
  const q = await once(m.controlAddr, { method: "queue_get" });
  const items = q?.items as { item_uid: string; kwargs: { num: number } }[];
  expect(items.map((x) => x.item_uid)).toEqual(acknowledged);
  expect(items.map((x) => x.kwargs.num)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  // The manager did not stop: it still owns the store and serves.
  expect(m.proc.exitCode).toBeNull();
  expect(m.output()).not.toMatch(/lost ownership of the store/);
});
