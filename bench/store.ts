/**
 * Sequential single-op `apply` per second for both stores, each beside a raw
 * baseline with the same durability measured in the same run:
 *   LMDB:  `await db.put(); await db.flushed` with the raw lmdb package
 *   Redis: `await redis.set()` with raw ioredis, on the same redis-server
 *          (started here with appendfsync always, like the tests).
 * Run: `npx tsx bench/store.ts [n]`. Not part of the tests.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { open } from "lmdb";
import { LmdbStore } from "../src/manager/store/lmdb.js";
import { RedisStore } from "../src/manager/store/redis.js";
import type { Store, StoreOp } from "../src/manager/store/types.js";
import { startRedis } from "../test/helpers/redis.js";
import { fmt, median, nowMs } from "./lib.js";

/** A history item of a typical size (~300 bytes of JSON). */
const ITEM = {
  name: "count",
  args: [["det1", "det2"]],
  kwargs: { num: 10, delay: 0.5 },
  item_type: "plan",
  user: "qserver-cli",
  user_group: "primary",
  item_uid: "2c5a3e4b-8a0e-4a59-9b8b-5f3f1c2d7e10",
  result: {
    exit_status: "completed",
    run_uids: [],
    scan_ids: [],
    time_start: 1.7e9,
    time_stop: 1.7e9 + 5,
    msg: "",
    traceback: "",
  },
};

export interface StoreBenchRow {
  name: string;
  storeOpsPerSec: number;
  rawOpsPerSec: number;
  ratio: number;
}

async function rate(n: number, once: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await once(-1 - i); // warm up
  const t0 = nowMs();
  for (let i = 0; i < n; i++) await once(i);
  return n / ((nowMs() - t0) / 1000);
}

const applyOnce =
  (store: Store) =>
  (i: number): Promise<void> => {
    const op: StoreOp = { op: "set", key: "running_item", value: { ...ITEM, i } };
    return store.apply([op]);
  };

/**
 * The median time (ms) of one durable write with the raw lmdb package (a put,
 * then its `flushed`: committed and synced to disk), in the system's temp
 * folder, where the benchmarks' managers keep their stores: the least that a
 * reply waiting for a commit to disk waits on this machine.
 */
export async function lmdbDurablePutMedianMs(n = 300): Promise<number> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-bench-put-"));
  const raw = open(path.join(tmp, "raw"), { noSubdir: false });
  const times: number[] = [];
  try {
    for (let i = -50; i < n; i++) {
      const t0 = nowMs();
      await raw.put("running_item", { ...ITEM, i });
      await raw.flushed;
      if (i >= 0) times.push(nowMs() - t0);
    }
  } finally {
    await raw.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return median(times);
}

export async function benchStore(n = 1000): Promise<StoreBenchRow[]> {
  const rows: StoreBenchRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-bench-store-"));
  try {
    // LMDB: the store, then the raw package on a directory of its own.
    const store = await LmdbStore.open({ storePath: path.join(tmp, "store") });
    const storeOps = await rate(n, applyOnce(store));
    await store.close();
    const raw = open(path.join(tmp, "raw"), { noSubdir: false });
    const rawOps = await rate(n, async (i) => {
      await raw.put("running_item", { ...ITEM, i });
      await raw.flushed;
    });
    await raw.close();
    rows.push({
      name: "lmdb",
      storeOpsPerSec: storeOps,
      rawOpsPerSec: rawOps,
      ratio: storeOps / rawOps,
    });

    // Redis: both against one server.
    const server = await startRedis();
    try {
      const rstore = await RedisStore.open({ addr: server.addr, prefix: "bench_" });
      const rstoreOps = await rate(n, applyOnce(rstore));
      await rstore.close();
      const client = new Redis(server.port, "127.0.0.1");
      const rrawOps = await rate(n, (i) =>
        client.set("raw:running_item", JSON.stringify({ ...ITEM, i })),
      );
      await client.quit();
      rows.push({
        name: "redis",
        storeOpsPerSec: rstoreOps,
        rawOpsPerSec: rrawOps,
        ratio: rstoreOps / rrawOps,
      });
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const n = Number(process.argv[2] ?? 1000);
  console.log(
    `sequential single-op apply, n=${n} (${os.cpus().length} cpus, tmp on ${os.tmpdir()})`,
  );
  console.log("| store | apply/s | raw baseline/s | ratio |");
  console.log("|-------|---------|----------------|-------|");
  for (const r of await benchStore(n)) {
    const base = r.name === "lmdb" ? "lmdb put+flushed" : "ioredis SET";
    console.log(
      `| ${r.name} | ${fmt(r.storeOpsPerSec, 0)} | ${fmt(r.rawOpsPerSec, 0)} (${base}) | ${fmt(r.ratio, 2)} |`,
    );
  }
}
