/** Startup functions of the lifecycle tests: one for every state a task can reach. */
import { gateModule } from "../helpers/startup.js";
import { WORKER_API } from "../helpers/paths.js";

const TASKS = `
import { existsSync, writeFileSync } from "node:fs";
import { context, sleep } from ${JSON.stringify(WORKER_API)};

/** Sleeps (ends early when its signal aborts), returns the seconds. */
export async function wait(seconds) {
  await sleep(seconds);
  return seconds;
}

/** Fails on its first \`failures\` attempts; reports each attempt it saw as an output. */
export function flaky(failures) {
  const ctx = context();
  ctx.output("attempt_" + ctx.attempt, ctx.attempt);
  if (ctx.attempt <= failures) throw new Error("failure on attempt " + ctx.attempt);
  return { attempt: ctx.attempt };
}

/** Reports progress, a message and a partial output, then waits for the file \`gate\`. */
export async function report(gate) {
  const ctx = context();
  ctx.progress(40);
  ctx.message("halfway there");
  ctx.output("partial", [1, 2, 3]);
  while (!existsSync(gate)) await sleep(0.01);
  return "done";
}

/**
 * CPU-bound: after its first tick it writes the file \`marker\` and never
 * yields again, so only replacing its process ends it.
 */
export async function spin(marker) {
  await sleep(0.05);
  writeFileSync(marker, "");
  for (;;) {
    // busy
  }
}
`;

/** The startup files of a lifecycle manager (startManager's `startup`). */
export const STARTUP = { "tasks.mjs": TASKS, "gate.mjs": gateModule() };
