/** Startup functions of the pool and run tests, and a manager with a pool of workers. */
import type { RunningManager } from "../helpers/manager.js";
import { startManager } from "../helpers/manager.js";
import { WORKER_API } from "../helpers/paths.js";
import { gateModule } from "../helpers/startup.js";

const POOL = `
import { existsSync, writeFileSync } from "node:fs";
import { context, sleep } from ${JSON.stringify(WORKER_API)};

/** CPU-bound: a busy loop of \`seconds\`, then the pid of the process that ran it. */
export function busy(seconds) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    // busy
  }
  return process.pid;
}

/**
 * CPU-bound and never yielding: writes the file \`mine\`, then spins until the
 * file \`theirs\` exists. Two of them end only if they run at the same time, in
 * two processes; alone, one gives up after \`seconds\`.
 */
export function rendezvous(mine, theirs, seconds = 60) {
  writeFileSync(mine, "");
  const end = Date.now() + seconds * 1000;
  while (!existsSync(theirs)) {
    if (Date.now() > end) throw new Error("the other task never ran beside this one");
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

/** Reports progress 50, waits \`seconds\`, returns. */
export async function halfway(seconds) {
  context().progress(50);
  await sleep(seconds);
  return "ok";
}

/** Reports progress 50, waits until the file \`marker\` exists (at once for null), returns. */
export async function halfway_gate(marker = null) {
  context().progress(50);
  if (marker !== null) while (!existsSync(marker)) await sleep(0.01);
  return "ok";
}
`;

export const STARTUP = { "pool.mjs": POOL, "gate.mjs": gateModule() };

/** A manager with \`--workers n\` and the functions above. */
export function startPool(workers: number, extra: string[] = []): Promise<RunningManager> {
  return startManager({ startup: STARTUP, args: ["--workers", String(workers), ...extra] });
}
