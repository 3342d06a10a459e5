/**
 * The commands of `zqs`, one file per area of the protocol's method table
 * (status, environment, tasks, runs, schedules, queue and control, history, locks,
 * permissions), plus `keys` and the `manager` daemon. The order here is the
 * order of `zqs --help`.
 */
import type { Command } from "commander";
import { GLOBAL_OPTIONS } from "../connection.js";
import { EXIT } from "../errors.js";
import { toOption } from "../spec.js";
import { registerControl } from "./control.js";
import { registerEnvironment } from "./environment.js";
import { registerHistory } from "./history.js";
import { registerKeys } from "./keys.js";
import { registerLocks } from "./locks.js";
import { registerPermissions } from "./permissions.js";
import { registerQueue } from "./queue.js";
import { registerRuns } from "./runs.js";
import { registerSchedules } from "./schedules.js";
import { registerStatus } from "./status.js";
import { registerTasks } from "./tasks.js";
import { registerWorkers } from "./worker.js";

export { runHttp } from "./http.js";
export { runManager } from "./manager.js";
export { runWorker } from "./worker.js";

/** Commander's own usage errors (missing argument, unknown option) exit with 2 here too. */
function usageExitCodes(cmd: Command): void {
  cmd.exitOverride((err) => {
    process.exit(err.exitCode === 1 ? EXIT.usage : err.exitCode);
  });
  for (const sub of cmd.commands) usageExitCodes(sub);
}

export function registerClientCommands(program: Command): void {
  const before = new Set(program.commands);
  for (const [key, spec] of Object.entries(GLOBAL_OPTIONS)) program.addOption(toOption(key, spec));
  registerStatus(program);
  registerEnvironment(program);
  registerTasks(program);
  registerRuns(program);
  registerSchedules(program);
  registerWorkers(program);
  registerQueue(program);
  registerControl(program);
  registerHistory(program);
  registerLocks(program);
  registerPermissions(program);
  registerKeys(program);
  for (const c of program.commands) if (!before.has(c)) usageExitCodes(c);
}
