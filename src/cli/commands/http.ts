/** `zqs http [options]`: the HTTP gateway, a client of the manager (options: src/http/options.ts). */
import type { Command } from "commander";
import type { HttpOptions } from "../../http/options.js";
import { HTTP_OPTION_SPECS, resolveHttpOptions } from "../../http/options.js";
import { addTable } from "../../options/spec.js";

export function runHttp(program: Command): void {
  const cmd = program
    .command("http")
    .description(
      "start the HTTP gateway (REST routes, streams, dashboard, /metrics) in front of a manager",
    );
  addTable(cmd, HTTP_OPTION_SPECS);
  cmd.action(async () => {
    let opts: HttpOptions;
    try {
      // With the global options: commander gives `--timeout`, which the program
      // has too (the clients' reply timeout), to the program wherever it is written.
      opts = resolveHttpOptions(cmd.optsWithGlobals());
    } catch (err) {
      process.stderr.write(`zqs http: ${(err as Error).message}\n`);
      process.exit(2);
    }
    // Fastify is loaded only by the command that needs it.
    const { startGateway, startedMessage } = await import("../../http/start.js");
    let started;
    try {
      started = await startGateway(opts);
    } catch (err) {
      process.stderr.write(`zqs http: failed to start: ${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.write(startedMessage(started, opts.zqsAddr) + "\n");
    const stop = () => {
      void started.close().then(() => process.exit(0));
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
