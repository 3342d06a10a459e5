/**
 * Startup code written for a test (a module importing the worker API, as
 * user code does), and gates: a task that runs until the test releases it, so
 * that "still running" or "not yet ended" never depends on how fast the
 * machine is.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { WORKER_API } from "./paths.js";

/**
 * A module exporting `name(marker = null, fail = null)`: once the file
 * `marker` exists (at once for null) it returns the pid of the process that
 * ran it, or throws `fail` if given. It waits with the worker's sleep, so
 * cancelling the task ends it.
 */
export function gateModule(name = "gate"): string {
  return `
import { existsSync } from "node:fs";
import { sleep } from ${JSON.stringify(WORKER_API)};

export async function ${name}(marker = null, fail = null) {
  if (marker !== null) while (!existsSync(marker)) await sleep(0.01);
  if (fail !== null) throw new Error(fail);
  return process.pid;
}
`;
}

let gatesDir: string | undefined;

/** A file a gate task waits for: `open()` creates it and the task returns. */
export interface Gate {
  readonly path: string;
  open(): void;
}

let gateCount = 0;

export function newGate(): Gate {
  if (!gatesDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-gates-"));
    gatesDir = dir;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = path.join(gatesDir, `gate-${++gateCount}`);
  return { path: file, open: () => writeFileSync(file, "") };
}

/** Write startup files into `dir` (created if missing); returns `dir`. */
export function writeStartup(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}
