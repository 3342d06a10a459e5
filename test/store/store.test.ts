/**
 * One contract, two stores, no mocks: the embedded LMDB store in a fresh temp
 * dir, and the Redis store against a real redis-server (started here). Every
 * test opens a store on a fresh place (a new dir, or a new key prefix).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOC_KEYS, openStore, type OpenStoreOptions } from "../../src/manager/store/index.js";
import { LmdbStore } from "../../src/manager/store/lmdb.js";
import { RedisStore } from "../../src/manager/store/redis.js";
import { StoreError, type Store, type StoreOp } from "../../src/manager/store/types.js";
import { ROOT } from "../helpers/paths.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { settlesBefore, waitUntil } from "../helpers/wait.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-store-test-"));
let redis: RunningRedis;
let places = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Kind {
  name: "lmdb" | "redis";
  /** Options of `openStore` for a fresh, empty place. */
  freshPlace(): OpenStoreOptions;
}

const kinds: Kind[] = [
  {
    name: "lmdb",
    freshPlace: () => ({ storePath: path.join(tmp, `lmdb-${++places}`), redisNamePrefix: "x" }),
  },
  {
    name: "redis",
    freshPlace: () => ({
      storePath: path.join(tmp, "unused"),
      redisAddr: redis.addr,
      redisNamePrefix: `t${++places}_`,
    }),
  },
];

/** Open, run, close (also when the body throws). */
async function withStore<T>(place: OpenStoreOptions, body: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(place);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

async function expectStoreError(p: Promise<unknown>, message: RegExp): Promise<StoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).message).toMatch(message);
  return err as StoreError;
}

const push = (item: unknown): StoreOp => ({ op: "history_push", item });

/**
 * A child process (node + tsx, on the sources) that applies [push i, set
 * queue [i], put result r<i>] for i = 0, 1, ... one apply after the other,
 * printing "applied i" each time an apply has resolved. It is SIGKILLed as
 * soon as it printed "applied <killAfter>". Returns the last i it printed.
 */
async function applyInChildAndKill(place: OpenStoreOptions, killAfter: number): Promise<number> {
  const script = path.join(tmp, `child-${++places}.mjs`);
  const storeUrl = pathToFileURL(path.join(ROOT, "src/manager/store/index.ts")).href;
  fs.writeFileSync(
    script,
    `import { openStore } from ${JSON.stringify(storeUrl)};
const store = await openStore(JSON.parse(process.argv[2]));
for (let i = 0; ; i++) {
  await store.apply([
    { op: "history_push", item: { i } },
    { op: "set", key: "queue", value: [{ i }] },
    { op: "result_put", uid: "r" + i, result: { i }, expiresAt: 1e10 },
  ]);
  process.stdout.write("applied " + i + "\\n");
}
`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(place)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let last = -1;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const killed = new Promise<void>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      for (const m of out.matchAll(/applied (\d+)\n/g)) last = Math.max(last, Number(m[1]));
      if (last >= killAfter) {
        child.kill("SIGKILL");
        resolve();
      }
    });
  });
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  await Promise.race([
    killed,
    exited.then(() => {
      throw new Error(`the child exited before it was killed: ${err}`);
    }),
  ]);
  await exited;
  expect(child.signalCode).toBe("SIGKILL");
  return last;
}

for (const kind of kinds) {
  describe(`${kind.name} store`, () => {
    it("opens empty, with its kind and location", async () => {
      const place = kind.freshPlace();
      await withStore(place, async (s) => {
        expect(s.kind).toBe(kind.name);
        expect(s.location).toContain(kind.name === "lmdb" ? place.storePath : redis.addr);
        expect(await s.load()).toEqual({
          docs: {},
          history: [],
          results: [],
          runs: [],
          schedules: [],
        });
        await s.apply([]); // nothing to do is fine
        expect(await s.load()).toEqual({
          docs: {},
          history: [],
          results: [],
          runs: [],
          schedules: [],
        });
      });
    });

    it("sets, replaces and deletes documents", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        const queue = [{ item_uid: "a", name: "count", kwargs: { num: 3, delay: 0.5 } }];
        await s.apply([
          { op: "set", key: "queue", value: queue },
          { op: "set", key: "queue_mode", value: { loop: false, ignore_failures: true } },
          { op: "set", key: "queue_autostart", value: false },
          { op: "set", key: "running_item", value: null },
          { op: "set", key: "lock", value: { environment: true, note: "ü ∑ \u0000 \n" } },
        ]);
        expect((await s.load()).docs).toEqual({
          queue,
          queue_mode: { loop: false, ignore_failures: true },
          queue_autostart: false,
          running_item: null,
          lock: { environment: true, note: "ü ∑ \u0000 \n" },
        });
        await s.apply([
          { op: "set", key: "queue", value: [] },
          { op: "delete", key: "lock" },
          { op: "delete", key: "permissions" }, // absent: no error
          { op: "delete", key: "running_item" },
        ]);
        expect((await s.load()).docs).toEqual({
          queue: [],
          queue_mode: { loop: false, ignore_failures: true },
          queue_autostart: false,
        });
      });
    });

    it("round-trips every document key", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        await s.apply(DOC_KEYS.map((key, i) => ({ op: "set", key, value: { key, i } })));
        const docs = Object.fromEntries(DOC_KEYS.map((key, i) => [key, { key, i }]));
        expect((await s.load()).docs).toEqual(docs);
        await s.apply(DOC_KEYS.map((key) => ({ op: "delete", key })));
        expect((await s.load()).docs).toEqual({});
      });
    });

    it("applies operations in order within one apply", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        await s.apply([
          { op: "set", key: "queue", value: [1] },
          { op: "set", key: "queue", value: [1, 2] },
          { op: "delete", key: "queue_mode" },
          { op: "set", key: "queue_mode", value: { loop: true } },
          push("a"),
          push("b"),
          { op: "history_trim", keep: 1 },
          push("c"),
          { op: "result_put", uid: "u", result: 1, expiresAt: 5 },
          { op: "result_delete", uid: "u" },
          { op: "result_put", uid: "v", result: 2, expiresAt: 6 },
          { op: "run_outcomes", uid: "w", outcomes: "f" },
          { op: "run_put", uid: "w", run: { n: 1 } },
          { op: "run_delete", uid: "w" },
          { op: "run_put", uid: "w", run: { n: 2 } },
          { op: "schedule_put", uid: "s", schedule: { seq: 1 } },
          { op: "schedule_delete", uid: "s" },
          { op: "schedule_put", uid: "s", schedule: { seq: 2 } },
        ]);
        expect(await s.load()).toEqual({
          docs: { queue: [1, 2], queue_mode: { loop: true } },
          history: ["b", "c"],
          results: [{ uid: "v", result: 2, expiresAt: 6 }],
          runs: [{ uid: "w", run: { n: 2 } }],
          schedules: [{ uid: "s", schedule: { seq: 2 } }],
        });
      });
    });

    it("pushes history in order and trims the oldest (keep N, keep 0)", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        for (let i = 0; i < 5; i++) await s.apply([push({ i, plan: "count" })]);
        expect((await s.load()).history).toEqual(
          [0, 1, 2, 3, 4].map((i) => ({ i, plan: "count" })),
        );
        await s.apply([{ op: "history_trim", keep: 3 }]);
        expect((await s.load()).history.map((h) => (h as { i: number }).i)).toEqual([2, 3, 4]);
        await s.apply([{ op: "history_trim", keep: 10 }]); // more than there are: no change
        expect((await s.load()).history).toHaveLength(3);
        await s.apply([push({ i: 5 })]);
        expect((await s.load()).history.map((h) => (h as { i: number }).i)).toEqual([2, 3, 4, 5]);
        await s.apply([{ op: "history_trim", keep: 0 }]);
        expect((await s.load()).history).toEqual([]);
        await s.apply([{ op: "history_trim", keep: 0 }]); // already empty
        await s.apply([push("after clear"), push("and more")]);
        expect((await s.load()).history).toEqual(["after clear", "and more"]);
      });
    });

    it("puts and deletes results, with their expiry", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        await s.apply([
          {
            op: "result_put",
            uid: "t1",
            result: { success: true, return_value: 10 },
            expiresAt: 1.5e9,
          },
          { op: "result_put", uid: "t2", result: null, expiresAt: 1.7e9 + 0.25 },
        ]);
        await s.apply([
          { op: "result_put", uid: "t1", result: { success: false }, expiresAt: 2e9 },
        ]);
        const byUid = (r: { uid: string }[]) => [...r].sort((a, b) => a.uid.localeCompare(b.uid));
        expect(byUid((await s.load()).results)).toEqual([
          { uid: "t1", result: { success: false }, expiresAt: 2e9 },
          { uid: "t2", result: null, expiresAt: 1.7e9 + 0.25 },
        ]);
        await s.apply([
          { op: "result_delete", uid: "t1" },
          { op: "result_delete", uid: "nope" },
        ]);
        expect((await s.load()).results).toEqual([
          { uid: "t2", result: null, expiresAt: 1.7e9 + 0.25 },
        ]);
      });
    });

    it("puts start marks (several in one op) and deletes them, apart from the results", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        const mark = (attempt: number) => ({ worker: "w1", instance: "i1", attempt });
        await s.apply([
          {
            op: "start_put",
            marks: [
              { uid: "t1", mark: mark(1) },
              { uid: "t2", mark: mark(1) },
            ],
          },
          { op: "result_put", uid: "t1", result: { accepted: {} }, expiresAt: 2e9 },
        ]);
        await s.apply([{ op: "start_put", marks: [{ uid: "t1", mark: mark(2) }] }]);
        const byUid = (r: { uid: string }[]) => [...r].sort((a, b) => a.uid.localeCompare(b.uid));
        const loaded = await s.load();
        expect(byUid(loaded.starts ?? [])).toEqual([
          { uid: "t1", mark: mark(2) },
          { uid: "t2", mark: mark(1) },
        ]);
        expect(loaded.results.map((r) => r.uid)).toEqual(["t1"]);
        await s.apply([
          { op: "start_delete", uid: "t1" },
          { op: "start_delete", uid: "nope" },
          { op: "start_put", marks: [] },
        ]);
        expect((await s.load()).starts).toEqual([{ uid: "t2", mark: mark(1) }]);
        await s.apply([{ op: "start_delete", uid: "t2" }]);
        // None left: the snapshot has no `starts` (its shape as before there were any).
        expect("starts" in (await s.load())).toBe(false);
      });
    });

    it("puts, replaces and deletes runs, with their outcomes", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        const def = (uids: string[]) => ({ name: "f", calls: [{ name: "f", args: [1] }], uids });
        await s.apply([
          { op: "run_put", uid: "ra", run: def(["a1", "a2"]) },
          { op: "run_put", uid: "rb", run: def(["b1"]) },
          { op: "run_outcomes", uid: "rb", outcomes: "-" },
          // Outcomes of a run with no definition are left out of the snapshot.
          { op: "run_outcomes", uid: "orphan", outcomes: "df" },
        ]);
        const byUid = (r: { uid: string }[]) => [...r].sort((a, b) => a.uid.localeCompare(b.uid));
        expect(byUid((await s.load()).runs)).toEqual([
          { uid: "ra", run: def(["a1", "a2"]) },
          { uid: "rb", run: def(["b1"]), outcomes: "-" },
        ]);
        // A restart writes the definition again; outcomes are replaced whole.
        await s.apply([
          { op: "run_put", uid: "ra", run: def(["a1", "a3"]) },
          { op: "run_outcomes", uid: "ra", outcomes: "df" },
          { op: "run_outcomes", uid: "ra", outcomes: "dd" },
          { op: "run_outcomes", uid: "rb", outcomes: "f" },
        ]);
        expect(byUid((await s.load()).runs)).toEqual([
          { uid: "ra", run: def(["a1", "a3"]), outcomes: "dd" },
          { uid: "rb", run: def(["b1"]), outcomes: "f" },
        ]);
        // run_delete removes the definition and the outcomes (a run put again starts bare).
        await s.apply([
          { op: "run_delete", uid: "ra" },
          { op: "run_delete", uid: "nope" },
          { op: "run_delete", uid: "rb" },
          { op: "run_put", uid: "rb", run: def(["b2"]) },
        ]);
        const snap = await s.load();
        expect(snap.runs).toEqual([{ uid: "rb", run: def(["b2"]) }]);
        expect(snap.results).toEqual([]);
        expect(snap.docs).toEqual({});
      });
    });

    it("writes all or none: an invalid operation anywhere leaves nothing of the others", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        await s.apply([{ op: "set", key: "queue", value: ["before"] }, push("before")]);
        const before = await s.load();
        const good: StoreOp[] = [
          { op: "set", key: "queue", value: ["after"] },
          { op: "delete", key: "queue" },
          push("after"),
          { op: "history_trim", keep: 0 },
          { op: "result_put", uid: "r", result: 1, expiresAt: 1 },
          { op: "run_put", uid: "run", run: { uids: ["a"] } },
          { op: "run_outcomes", uid: "run", outcomes: "d" },
          { op: "schedule_put", uid: "sch", schedule: { seq: 0 } },
          { op: "start_put", marks: [{ uid: "t", mark: { attempt: 1 } }] },
        ];
        const bad: [StoreOp, RegExp][] = [
          [{ op: "set", key: "lock", value: { big: 10n } }, /operation 9 \(set lock\).*bigint/],
          [push({ f: () => 1 }), /operation 9 \(history_push\).*function/],
          [push([Symbol("s")]), /symbol/],
          [{ op: "result_put", uid: "r2", result: 2n, expiresAt: 1 }, /bigint/],
          [{ op: "set", key: "queue", value: undefined }, /undefined/],
          [{ op: "set", key: "nope" as "queue", value: 1 }, /unknown document key "nope"/],
          [{ op: "history_trim", keep: -1 }, /keep must be an integer/],
          [{ op: "history_trim", keep: 1.5 }, /keep must be an integer/],
          [{ op: "result_put", uid: "", result: 1, expiresAt: 1 }, /uid/],
          [{ op: "result_put", uid: "x", result: 1, expiresAt: NaN }, /expiresAt/],
          [{ op: "result_delete", uid: "x".repeat(600) }, /uid is longer/],
          [{ op: "oops" } as unknown as StoreOp, /unknown operation/],
          [{ op: "run_put", uid: "r3", run: [1] }, /operation 9 \(run_put r3\).*object/],
          [{ op: "run_put", uid: "r3", run: null }, /the run must be an object/],
          [{ op: "run_put", uid: "r3", run: { n: 1n } }, /bigint/],
          [{ op: "run_put", uid: "", run: {} }, /uid/],
          [{ op: "run_outcomes", uid: "r3", outcomes: "dfx" }, /outcomes must be/],
          [{ op: "run_outcomes", uid: "r3", outcomes: 3 } as unknown as StoreOp, /outcomes/],
          [{ op: "run_delete", uid: "x\0y" }, /NUL/],
          [{ op: "schedule_put", uid: "s3", schedule: [1] }, /the schedule must be an object/],
          [{ op: "schedule_put", uid: "s3", schedule: { n: 1n } }, /bigint/],
          [{ op: "schedule_delete", uid: "" }, /uid/],
          [{ op: "start_put", marks: {} } as unknown as StoreOp, /marks must be an array/],
          [
            { op: "start_put", marks: [{ uid: "t", mark: 1 }] },
            /the start mark 0 must be an object/,
          ],
          [{ op: "start_put", marks: [{ uid: "t", mark: { a: 1n } }] }, /bigint/],
          [{ op: "start_put", marks: [{ uid: "", mark: {} }] }, /uid/],
          [{ op: "start_delete", uid: "x\0y" }, /NUL/],
        ];
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        bad.push([push(cyclic), /circular/i]);
        for (const [op, message] of bad) {
          const err = await expectStoreError(s.apply([...good, op]), message);
          expect(err.message).toContain(s.location);
          expect(await s.load()).toEqual(before);
        }
        // The store still works after refusals.
        await s.apply(good);
        expect(await s.load()).toEqual({
          docs: {},
          history: [],
          results: [{ uid: "r", result: 1, expiresAt: 1 }],
          runs: [{ uid: "run", run: { uids: ["a"] }, outcomes: "d" }],
          schedules: [{ uid: "sch", schedule: { seq: 0 } }],
          starts: [{ uid: "t", mark: { attempt: 1 } }],
        });
      });
    });

    it("stores JSON: what comes back is what JSON keeps", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        const value = {
          n: -0.1,
          big: Number.MAX_SAFE_INTEGER,
          s: "x".repeat(100_000),
          nested: [[[{ a: [] }]], {}],
          skipped: undefined,
          when: new Date(0),
          inf: Infinity,
        };
        await s.apply([{ op: "set", key: "permissions", value }]);
        expect((await s.load()).docs.permissions).toEqual(JSON.parse(JSON.stringify(value)));
      });
    });

    it("keeps concurrent applies in the order they were called", async () => {
      await withStore(kind.freshPlace(), async (s) => {
        await Promise.all(
          Array.from({ length: 2000 }, (_, i) =>
            s.apply([push({ i }), { op: "set", key: "queue", value: [i] }]),
          ),
        );
        const snap = await s.load();
        expect(snap.history).toHaveLength(2000);
        expect(snap.history.every((h, i) => (h as { i: number }).i === i)).toBe(true);
        expect(snap.docs.queue).toEqual([1999]);
        await s.apply([{ op: "history_trim", keep: 10 }]);
        expect((await s.load()).history).toEqual(
          Array.from({ length: 10 }, (_, k) => ({ i: 1990 + k })),
        );
      });
    });

    it("finds everything after a reopen", async () => {
      const place = kind.freshPlace();
      await withStore(place, (s) =>
        s.apply([
          { op: "set", key: "queue", value: [{ item_uid: "q" }] },
          { op: "set", key: "permissions", value: { user_groups: {} } },
          push("h1"),
          push("h2"),
          { op: "result_put", uid: "u1", result: { ok: 1 }, expiresAt: 123 },
          { op: "run_put", uid: "run1", run: { uids: ["u1"], concurrency: null } },
          { op: "run_outcomes", uid: "run1", outcomes: "d" },
          { op: "schedule_put", uid: "sch1", schedule: { cron: "0 3 * * *", seq: 4 } },
        ]),
      );
      const again = await withStore(place, (s) => s.load());
      expect(again).toEqual({
        docs: { queue: [{ item_uid: "q" }], permissions: { user_groups: {} } },
        history: ["h1", "h2"],
        results: [{ uid: "u1", result: { ok: 1 }, expiresAt: 123 }],
        runs: [{ uid: "run1", run: { uids: ["u1"], concurrency: null }, outcomes: "d" }],
        schedules: [{ uid: "sch1", schedule: { cron: "0 3 * * *", seq: 4 } }],
      });
      // And it goes on from there: the next push comes after the old ones.
      await withStore(place, (s) => s.apply([push("h3"), { op: "history_trim", keep: 2 }]));
      expect((await withStore(place, (s) => s.load())).history).toEqual(["h2", "h3"]);
    });

    it("keeps every resolved apply when its process is killed (kill -9)", async () => {
      const place = kind.freshPlace();
      await withStore(place, (s) => s.apply([push({ i: -1 })]));
      const last = await applyInChildAndKill(place, 20);
      const snap = await withStore(place, (s) => s.load());
      // Every apply that resolved is there; one more may have committed
      // before the kill landed. Each is whole: history, queue and results agree.
      const n = snap.history.length - 1; // applies found
      expect(n).toBeGreaterThanOrEqual(last + 1);
      expect(n).toBeLessThanOrEqual(last + 2);
      expect(snap.history).toEqual(Array.from({ length: n + 1 }, (_, k) => ({ i: k - 1 })));
      expect(snap.docs.queue).toEqual([{ i: n - 1 }]);
      expect(snap.results.map((r) => r.uid).sort()).toEqual(
        Array.from({ length: n }, (_, k) => `r${k}`).sort(),
      );
      // The store opens for writing again.
      await withStore(place, (s) => s.apply([push("next")]));
    });

    it("refuses use after close", async () => {
      const s = await openStore(kind.freshPlace());
      await s.close();
      await s.close(); // twice is fine
      await expectStoreError(s.apply([push(1)]), /closed/);
      await expectStoreError(s.load(), /closed/);
    });
  });
}

describe("lmdb store errors", () => {
  it("names the path and the cause when the path cannot be a directory", async () => {
    const file = path.join(tmp, "a-file");
    fs.writeFileSync(file, "x");
    const where = path.join(file, "store");
    const err = await expectStoreError(
      LmdbStore.open({ storePath: where }),
      /^Cannot open the store at .*a-file\/store: ENOTDIR/,
    );
    expect(err.message).toContain(where);
  });

  it("creates missing parents, and a directory even when the name has a dot", async () => {
    const where = path.join(tmp, "deep", "er", "store.db");
    const s = await LmdbStore.open({ storePath: where });
    await s.apply([push(1)]);
    await s.close();
    expect(fs.statSync(where).isDirectory()).toBe(true);
  });
});

describe("redis store errors", () => {
  it("gives a StoreError naming the address when nothing listens", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
      });
    });
    // Refused at once, not retried: the reason is the refusal, not a timeout.
    await expectStoreError(
      openStore({ storePath: "", redisAddr: `127.0.0.1:${port}`, redisNamePrefix: "x" }),
      new RegExp(`Cannot connect to the Redis server at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it("gives a StoreError within the connect timeout when the server does not answer", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => sockets.push(sock)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const a = silent.address() as net.AddressInfo;
    try {
      // The connect timeout is a timer of this process, armed in open(): it
      // fires before a 3 s timer armed after it, however busy the machine.
      const opening = RedisStore.open({
        addr: `127.0.0.1:${a.port}`,
        prefix: "x",
        connectTimeoutMs: 1000,
      });
      const failed = opening.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(await settlesBefore(failed, 3000)).toBe(true);
      await expectStoreError(
        opening,
        new RegExp(
          `Cannot connect to the Redis server at 127\\.0\\.0\\.1:${a.port}: .*no answer within 1000 ms`,
        ),
      );
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  it("refuses a malformed address", async () => {
    await expectStoreError(
      RedisStore.open({ addr: "host:notaport", prefix: "x" }),
      /Redis address "host:notaport"/,
    );
  });

  it("keeps name prefixes apart", async () => {
    const a = await RedisStore.open({ addr: redis.addr, prefix: "pa_" });
    const b = await RedisStore.open({ addr: redis.addr, prefix: "pb_" });
    try {
      await a.apply([push("a"), { op: "set", key: "queue", value: ["a"] }]);
      expect(await b.load()).toEqual({
        docs: {},
        history: [],
        results: [],
        runs: [],
        schedules: [],
      });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("rejects applies while the server is gone, keeps what was applied, and recovers", async () => {
    // A server of its own, killed with -9 and restarted on the same data and port.
    const dir = fs.mkdtempSync(path.join(tmp, "redis-kill-"));
    let server = await startRedis({ dir });
    const s = await RedisStore.open({ addr: server.addr, prefix: "k_" });
    try {
      await s.apply([push("kept"), { op: "set", key: "queue", value: ["kept"] }]);
      server.kill9();
      await server.stop();
      // Refused while the server is gone (no queue waiting for it to come back).
      const lost = await expectStoreError(
        s.apply([push("lost")]),
        new RegExp(`Redis store at ${server.addr}`),
      );
      // Because it is gone (not connected, or the connection closed), not after a timeout.
      expect(lost.message).not.toMatch(/timed out/i);
      server = await startRedis({ dir, port: server.port });
      // The client reconnects in the background; applies work again.
      await waitUntil(
        () =>
          s.apply([push("again")]).then(
            () => true,
            (err: unknown) => {
              expect(err).toBeInstanceOf(StoreError);
              return false;
            },
          ),
        undefined,
        100,
      );
      expect(await s.load()).toEqual({
        docs: { queue: ["kept"] },
        history: ["kept", "again"],
        results: [],
        runs: [],
        schedules: [],
      });
    } finally {
      await s.close();
      await server.stop();
    }
  });
});
