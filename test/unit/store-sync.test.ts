/** `--store-sync`: its values, and a store opened each way keeps what it was given. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveOptions } from "../../src/manager/options.js";
import { LmdbStore } from "../../src/manager/store/lmdb.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("--store-sync", () => {
  it("is fsync unless told, takes os, and names the choices when given another word", () => {
    expect(resolveOptions({}, {}).storeSync).toBe("fsync");
    expect(resolveOptions({ storeSync: "OS" }, {}).storeSync).toBe("os");
    expect(() => resolveOptions({ storeSync: "never" }, {})).toThrow(
      "--store-sync: expected one of fsync, os, got 'never'",
    );
  });

  it.each(["fsync", "os"] as const)(
    "%s: a write is read back after the store is reopened",
    async (sync) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-sync-"));
      dirs.push(dir);
      const storePath = path.join(dir, "store");
      const s1 = await LmdbStore.open({ storePath, sync });
      await s1.apply([
        { op: "set", key: "queue", value: [{ item_uid: "a" }] },
        { op: "result_put", uid: "t1", result: { ok: sync }, expiresAt: 1e10 },
      ]);
      await s1.close();
      const s2 = await LmdbStore.open({ storePath, sync });
      const snap = await s2.load();
      await s2.close();
      expect(snap.docs.queue).toEqual([{ item_uid: "a" }]);
      expect(snap.results).toEqual([{ uid: "t1", result: { ok: sync }, expiresAt: 1e10 }]);
    },
  );
});
