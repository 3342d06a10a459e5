/** Shared steps of the pool and run tests: startup functions in a temp dir, a manager with a pool. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { RunningManager } from "../helpers/manager.js";
import { ROOT, startManager } from "../helpers/manager.js";

/** The worker API as the worker itself loads it (the same module instance: context() works). */
const WORKER_API = pathToFileURL(path.join(ROOT, "dist/worker/index.js")).href;

export const STARTUP = `
import { existsSync } from "node:fs";
import { context, sleep } from ${JSON.stringify(WORKER_API)};

/** CPU-bound: a busy loop of \`seconds\`, then the pid of the process that ran it. */
export function busy(seconds) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    // busy
  }
  return process.pid;
}

/** Reports its pid as an output, then sleeps (ends early when its signal aborts). */
export async function hold(seconds) {
  context().output("pid", process.pid);
  await sleep(seconds);
  return process.pid;
}

/** Fails on its first \`failures\` attempts, then returns its pid. */
export async function flaky_hold(seconds, failures) {
  const ctx = context();
  ctx.output("pid", process.pid);
  await sleep(seconds);
  if (ctx.attempt <= failures) throw new Error("failure on attempt " + ctx.attempt);
  return { pid: process.pid, attempt: ctx.attempt };
}

export function noop() {
  return null;
}

/** Where it ran in its run, with the arguments it got. */
export function where(x = null, a = null, b = null) {
  return { run: context().run, x, a, b };
}

/** Fails for the indexes in \`bad\` until the file \`marker\` exists. */
export function picky(bad, marker) {
  const ctx = context();
  if (bad.includes(ctx.run.index) && !existsSync(marker)) throw new Error("bad index " + ctx.run.index);
  return ctx.run.index;
}

/** Reports progress 50, waits, returns. */
export async function halfway(seconds) {
  context().progress(50);
  await sleep(seconds);
  return "ok";
}
`;

export interface PoolManager {
  m: RunningManager;
  dir: string;
  stop(): Promise<void>;
}

/** A manager with \`--workers n\` and the functions above. */
export async function startPool(workers: number, extra: string[] = []): Promise<PoolManager> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-pool-"));
  writeFileSync(path.join(dir, "pool.mjs"), STARTUP);
  const m = await startManager({
    examples: false,
    args: ["--startup-dir", dir, "--workers", String(workers), ...extra],
  });
  return {
    m,
    dir,
    async stop() {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
