/**
 * `zqs worker`: join a manager as a worker on another host (the agent in
 * src/remote-worker/), and `zqs workers` (workers_list, area: workers).
 */
import { exitWhenDone } from "../exit.js";
import type { Command } from "commander";
import { Option } from "commander";
import { WorkerAgent } from "../../remote-worker/agent.js";
import { isCurveKey } from "../../protocol/z85.js";
import { command } from "../command.js";

function fail(msg: string): never {
  process.stderr.write(`zqs worker: ${msg}\n`);
  process.exit(2);
}

function seconds(raw: string, flag: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) fail(`${flag}: expected seconds above 0, got '${raw}'`);
  return n;
}

function key(raw: string | undefined, flag: string): string | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (!isCurveKey(v)) fail(`${flag}: expected a CURVE key of 40 z85 characters (see 'zqs keys')`);
  return v;
}

export function runWorker(program: Command): void {
  program
    .command("worker")
    .description(
      "join a manager (its --zmq-worker-addr) as a worker on this host and run its tasks",
    )
    .addOption(
      new Option(
        "--connect <addr>",
        "the manager's worker address, e.g. tcp://HOST:60617",
      ).makeOptionMandatory(),
    )
    .option("--startup-dir <dir>", "directory of startup code (this host's own copy)")
    .option("--startup-module <module>", "one startup module instead of a directory")
    .option(
      "--name <name>",
      "the worker's name, by which the manager knows it (default: hostname:pid)",
    )
    .option("--slots <n>", "tasks run at once, one worker process each", "1")
    .option("--tags <a,b>", "tags: tasks with worker_tags go only to workers that have them all")
    .option("--public-key <z85>", "the manager's CURVE public key (encrypts the connection)")
    .option(
      "--private-key <z85>",
      "this worker's CURVE private key (its public key goes on the manager's --zmq-allowed-workers)",
    )
    .option(
      "--drain-timeout <seconds>",
      "on SIGTERM, how long running tasks may take to finish",
      "60",
    )
    .option(
      "--orphan-policy <finish|abort>",
      "running tasks when the manager is lost: finish them, or abort them",
      "finish",
    )
    .option(
      "--worker-timeout <seconds>",
      "silence of the manager or of a worker process taken as loss (the manager's own value applies once joined)",
      "3",
    )
    .action(async (_opts: unknown, cmd: Command) => {
      // With the global options: `--public-key` is also the clients' (the manager's key there too).
      const raw = cmd.optsWithGlobals<Record<string, string | undefined>>();
      const slots = Number(raw.slots);
      if (!Number.isInteger(slots) || slots < 1)
        fail(`--slots: expected a positive integer, got '${raw.slots}'`);
      if (raw.startupDir && raw.startupModule)
        fail("--startup-dir and --startup-module cannot be used together");
      const policy = raw.orphanPolicy;
      if (policy !== "finish" && policy !== "abort")
        fail(`--orphan-policy: expected finish or abort, got '${policy}'`);
      const serverKey = key(raw.publicKey, "--public-key");
      const secretKey = key(raw.privateKey, "--private-key");
      if (secretKey && !serverKey) fail("--private-key needs the manager's --public-key");
      const agent = new WorkerAgent({
        connect: raw.connect as string,
        startupDir: raw.startupDir,
        startupModule: raw.startupModule,
        name: raw.name,
        slots,
        tags: (raw.tags ?? "")
          .split(",")
          .map((t) => t.trim())
          .filter((t) => t !== ""),
        serverKey,
        secretKey,
        drainTimeoutMs: seconds(raw.drainTimeout ?? "60", "--drain-timeout") * 1000,
        orphanPolicy: policy,
        timeoutMs: seconds(raw.workerTimeout ?? "3", "--worker-timeout") * 1000,
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
      process.once("SIGTERM", () => agent.drain());
      process.once("SIGINT", () => agent.drain());
      try {
        await agent.start();
      } catch (err) {
        process.stderr.write(`zqs worker: failed to start: ${(err as Error).message}\n`);
        process.exit(1);
      }
      await agent.done;
      if (agent.refusal !== undefined) {
        process.stderr.write(`zqs worker: the manager refused this worker: ${agent.refusal}\n`);
        exitWhenDone(1, 3000);
        return;
      }
      // Its goodbye among what ZeroMQ may still hold (the dealer's linger is 2 s).
      exitWhenDone(0, 3000);
    });
}

export function registerWorkers(program: Command): void {
  command(program, { name: "workers", method: "workers_list" }, async ({ call, show }) => {
    const r = await call();
    show(r, () => {
      if (r.workers.length === 0) return "no workers";
      const rows = r.workers.map((w) => [
        w.name,
        w.kind,
        w.hostname,
        String(w.pid ?? "-"),
        w.state,
        `${w.busy}/${w.slots < 0 ? "∞" : w.slots}`,
        `${w.tasks_done} done, ${w.tasks_failed} failed`,
        w.tags.join(","),
      ]);
      const head = ["NAME", "KIND", "HOST", "PID", "STATE", "BUSY", "TASKS", "TAGS"];
      const width = head.map((h, i) =>
        Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)),
      );
      const line = (cells: string[]) =>
        cells
          .map((c, i) => c.padEnd(width[i] ?? 0))
          .join("  ")
          .trimEnd();
      return [line(head), ...rows.map(line)].join("\n");
    });
  });
}
