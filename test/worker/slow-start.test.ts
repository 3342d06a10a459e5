/**
 * A worker that is slow to boot (a busy machine) is not taken for a hung one:
 * the heartbeat timeout counts from its first heartbeat.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { WORKER_ENV } from "../../src/protocol/ipc.js";
import { execute, fn, waitCompleted } from "../tasks/helpers.js";
import { openOrExplain } from "./open.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
let dir: string | undefined;
afterEach(async () => {
  c?.close();
  await m?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  m = c = dir = undefined;
});

it("a worker process that takes seconds to boot still opens the environment", async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "zqs-slow-boot-"));
  // Preloaded before the worker's own code (and its heartbeat thread): busy for 2.5 s.
  const slow = path.join(dir, "slow-boot.cjs");
  writeFileSync(
    slow,
    `if (process.env.${WORKER_ENV.workerId} && require("node:worker_threads").isMainThread) {
      const end = Date.now() + 2500;
      while (Date.now() < end) {}
    }\n`,
  );
  writeFileSync(path.join(dir, "startup.mjs"), "export function ping() { return 'pong'; }\n");
  m = await startManager({
    examples: false,
    args: ["--startup-dir", dir],
    env: { NODE_OPTIONS: `--require ${slow}` },
  });
  c = new RawClient(m.controlAddr);
  await openOrExplain(m, c);
  const r = await waitCompleted(c, await execute(c, fn("ping")));
  expect(r.return_value).toBe("pong");
});
