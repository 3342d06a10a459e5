/** `zqs lock [environment|queue|all|info]`, `zqs unlock` (area: locks). */
import type { Command } from "commander";
import { command } from "../command.js";
import { UsageError } from "../errors.js";
import { keyValues } from "../output.js";

const TARGETS = {
  environment: { environment: true },
  queue: { queue: true },
  all: { environment: true, queue: true },
} as const;

export function registerLocks(program: Command): void {
  command(
    program,
    {
      name: "lock",
      method: "lock",
      description:
        "lock the environment, the queue or all (with --lock-key), or print the lock: zqs lock info",
      arguments: {
        what: { description: "environment | queue | all | info", optional: true, default: "all" },
      },
      options: { note: { value: "<text>", description: "a note shown to others", param: true } },
    },
    async ({ api, call, show, args }) => {
      const { what } = args;
      let r;
      if (what === "info") r = await api.lockInfo(undefined, {}, { reload: true });
      else if (what === "environment" || what === "queue" || what === "all")
        r = await call(TARGETS[what]);
      else throw new UsageError(`lock: unknown target '${what}' (environment, queue, all or info)`);
      show(r, () => keyValues(r.lock_info));
    },
  );
  command(
    program,
    {
      name: "unlock",
      method: "unlock",
      description: "remove the lock (with --lock-key, or the emergency key)",
    },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => keyValues(r.lock_info));
    },
  );
}
