/**
 * `zqs worker`: join a manager as a worker on another host (the agent in
 * src/remote-worker/), and `zqs workers` (workers_list, area: workers).
 */
import { exitWhenDone } from "../exit.js";
import type { Command } from "commander";
import {
  DEFAULT_KEPT_END_BYTES,
  DEFAULT_KEPT_ENDS_PER_SLOT,
  WorkerAgent,
} from "../../remote-worker/agent.js";
import { curveKey, positiveInteger } from "../../options/parsers.js";
import { command } from "../command.js";
import { addTable, resolveTable, type TableOption } from "../../options/spec.js";

/** The options of `zqs worker` (its values as the agent takes them). */
export interface WorkerOptions {
  connect: string;
  startupDir: string | undefined;
  startupModule: string | undefined;
  name: string | undefined;
  slots: number;
  tags: string[];
  publicKey: string | undefined;
  privateKey: string | undefined;
  drainTimeout: number;
  orphanPolicy: "finish" | "abort";
  workerTimeout: number;
  keptEnds: number;
  keptEndsBytes: number;
}

type WorkerOptionSpec = TableOption<keyof WorkerOptions, WorkerOptions[keyof WorkerOptions]>;

function seconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected seconds above 0, got '${raw}'`);
  return n;
}

/** The options of `zqs worker`: one table (src/options/spec.ts), as the manager's and the gateway's. */
export const WORKER_OPTION_SPECS: WorkerOptionSpec[] = [
  {
    key: "connect",
    flag: "--connect",
    value: "<addr>",
    description:
      "the manager's worker address, e.g. tcp://HOST:60617; several separated by commas (an active manager and its standbys)",
    default: undefined,
    mandatory: true,
  },
  {
    key: "startupDir",
    flag: "--startup-dir",
    value: "<dir>",
    description: "directory of startup code (this host's own copy)",
    default: undefined,
  },
  {
    key: "startupModule",
    flag: "--startup-module",
    value: "<module>",
    description: "one startup module instead of a directory",
    default: undefined,
  },
  {
    key: "name",
    flag: "--name",
    value: "<name>",
    description: "the worker's name, by which the manager knows it (default: hostname:pid)",
    default: undefined,
  },
  {
    key: "slots",
    flag: "--slots",
    value: "<n>",
    description: "tasks run at once, one worker process each",
    default: 1,
    parse: positiveInteger,
  },
  {
    key: "keptEnds",
    flag: "--kept-ends",
    value: "<n>",
    description:
      "task ends kept per slot until the manager acknowledges them, sent again to a manager that may have lost them (a failover, a restart)",
    default: DEFAULT_KEPT_ENDS_PER_SLOT,
    parse: positiveInteger,
  },
  {
    key: "keptEndsBytes",
    flag: "--kept-ends-bytes",
    value: "<bytes>",
    description:
      "bytes the kept task ends (their results) may hold together; past it the oldest go (the newest is kept whatever its size)",
    default: DEFAULT_KEPT_END_BYTES,
    parse: positiveInteger,
  },
  {
    key: "tags",
    flag: "--tags",
    value: "<a,b>",
    description: "tags: tasks with worker_tags go only to workers that have them all",
    default: [],
    parse: (raw) =>
      raw
        .split(",")
        .map((t) => t.trim())
        .filter((t) => t !== ""),
  },
  {
    key: "publicKey",
    flag: "--public-key",
    value: "<z85>",
    description: "the manager's CURVE public key (encrypts the connection)",
    default: undefined,
    parse: curveKey,
  },
  {
    key: "privateKey",
    flag: "--private-key",
    value: "<z85>",
    description:
      "this worker's CURVE private key (its public key goes on the manager's --zmq-allowed-workers)",
    default: undefined,
    parse: curveKey,
  },
  {
    key: "drainTimeout",
    flag: "--drain-timeout",
    value: "<seconds>",
    description: "on SIGTERM, how long running tasks may take to finish",
    default: 60,
    parse: seconds,
  },
  {
    key: "orphanPolicy",
    flag: "--orphan-policy",
    value: "<finish|abort>",
    description: "running tasks when the manager is lost: finish them, or abort them",
    default: "finish",
    parse: (raw) => {
      if (raw !== "finish" && raw !== "abort")
        throw new Error(`expected finish or abort, got '${raw}'`);
      return raw;
    },
  },
  {
    key: "workerTimeout",
    flag: "--worker-timeout",
    value: "<seconds>",
    description:
      "silence of the manager or of a worker process taken as loss (the manager's own value applies once joined)",
    default: 3,
    parse: seconds,
  },
];

/** Explicit values beat defaults; the combinations that make no sense are refused. */
export function resolveWorkerOptions(
  given: Partial<Record<keyof WorkerOptions, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): WorkerOptions {
  const o = resolveTable<WorkerOptions>(WORKER_OPTION_SPECS, given, env);
  if (o.startupDir && o.startupModule)
    throw new Error("--startup-dir and --startup-module cannot be used together");
  if (o.privateKey && !o.publicKey)
    throw new Error("--private-key needs the manager's --public-key");
  return o;
}

export function runWorker(program: Command): void {
  const cmd = program
    .command("worker")
    .description(
      "join a manager (its --zmq-worker-addr) as a worker on this host and run its tasks",
    );
  addTable(cmd, WORKER_OPTION_SPECS);
  cmd.action(async () => {
    // With the global options: `--public-key` is also the clients' (the manager's key there too).
    let o: WorkerOptions;
    try {
      o = resolveWorkerOptions(cmd.optsWithGlobals());
    } catch (err) {
      process.stderr.write(`zqs worker: ${(err as Error).message}\n`);
      process.exit(2);
    }
    const agent = new WorkerAgent({
      connect: o.connect,
      startupDir: o.startupDir,
      startupModule: o.startupModule,
      name: o.name,
      slots: o.slots,
      tags: o.tags,
      serverKey: o.publicKey,
      secretKey: o.privateKey,
      drainTimeoutMs: o.drainTimeout * 1000,
      orphanPolicy: o.orphanPolicy,
      timeoutMs: o.workerTimeout * 1000,
      keptEndsPerSlot: o.keptEnds,
      keptEndsBytes: o.keptEndsBytes,
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
