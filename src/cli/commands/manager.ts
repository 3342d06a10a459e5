/** `zqs manager [options]` (area: manager): options come from the one table in manager/options.ts. */
import type { Command } from "commander";
import type { ManagerOptions } from "../../manager/options.js";
import { OPTION_SPECS, resolveOptions } from "../../manager/options.js";
import { addTable } from "../../options/spec.js";
import { exitWhenDone } from "../exit.js";

/**
 * The daemon's modules, loaded only by `zqs manager` (about half of what the
 * CLI would load otherwise: each client command spared their start-up cost).
 */
async function loadDaemon() {
  const [{ createLogger }, { Manager }, { StoreInUseError }, { CONTROL_LINGER_MS }] =
    await Promise.all([
      import("../../manager/log.js"),
      import("../../manager/daemon.js"),
      import("../../manager/store/owner.js"),
      import("../../manager/rpc/server.js"),
    ]);
  /** How long a stopped manager waits for its queued replies before it exits regardless (ms). */
  const exitGraceMs = CONTROL_LINGER_MS + 1000;
  return { createLogger, Manager, StoreInUseError, exitGraceMs };
}

export function runManager(program: Command): void {
  const cmd = program.command("manager").description("start the manager daemon");
  addTable(cmd, OPTION_SPECS);
  cmd.action(async (raw: Record<string, unknown>) => {
    let opts: ManagerOptions;
    try {
      opts = resolveOptions(raw);
    } catch (err) {
      process.stderr.write(`zqs manager: ${(err as Error).message}\n`);
      process.exit(2);
    }
    const { createLogger, Manager, StoreInUseError, exitGraceMs } = await loadDaemon();
    const logger = createLogger({ verbose: opts.verbose, quiet: opts.quiet });
    if (opts.standby) {
      const { HaRunner } = await import("../../manager/standby.js");
      const runner = new HaRunner(opts, logger);
      process.once("SIGTERM", () => runner.stop("signal SIGTERM"));
      process.once("SIGINT", () => runner.stop("signal SIGINT"));
      exitWhenDone(await runner.run(), exitGraceMs);
      return;
    }
    const manager = new Manager(opts, logger);
    const onSignal = (sig: string) => void manager.stop(`signal ${sig}`);
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    process.once("SIGINT", () => onSignal("SIGINT"));
    try {
      await manager.start();
    } catch (err) {
      // A store in use is the user's situation, not a bug: no stack trace.
      logger.log.error(
        err instanceof StoreInUseError ? {} : { err },
        `The manager failed to start: ${(err as Error).message}`,
      );
      // Also on stderr, where scripts and service managers look for why a start failed.
      process.stderr.write(`zqs manager: failed to start: ${(err as Error).message}\n`);
      await manager.stop("start-up failure").catch(() => undefined);
      process.exit(1);
    }
    await manager.stopped;
    // The reply to manager_stop among what ZeroMQ may still hold.
    exitWhenDone(manager.exitCode, exitGraceMs);
  });
}
