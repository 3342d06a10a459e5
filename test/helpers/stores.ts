/** The two stores a manager can run on, for tests that must pass on both. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRedis } from "./redis.js";

/** Manager arguments naming a fresh store, and what removes it afterwards. */
export interface StoreSetup {
  args: string[];
  cleanup: () => Promise<void>;
}

/** LMDB in a fresh temp dir, with more manager arguments. */
function lmdb(...extra: string[]): () => Promise<StoreSetup> {
  return async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-store-"));
    return {
      args: ["--store-path", path.join(dir, "store"), ...extra],
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  };
}

/** LMDB in a fresh temp dir; a real redis-server started for the test. */
export const STORES: [label: string, make: () => Promise<StoreSetup>][] = [
  ["LMDB", lmdb()],
  [
    "Redis",
    async () => {
      const r = await startRedis();
      return { args: ["--redis-addr", r.addr], cleanup: () => r.stop() };
    },
  ],
];

/** The LMDB store whose writes count once handed to the OS (`--store-sync os`). */
export const LMDB_OS_SYNC: [label: string, make: () => Promise<StoreSetup>] = [
  "LMDB --store-sync os",
  lmdb("--store-sync", "os"),
];
