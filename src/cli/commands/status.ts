/** `zqs status`, `zqs ping` (area: status). */
import type { Command } from "commander";
import { command } from "../command.js";
import { keyValues } from "../output.js";

export function registerStatus(program: Command): void {
  command(
    program,
    { name: "status", method: "status", description: "print the manager's status" },
    async ({ call, show }) => {
      const s = await call({}, { reload: true });
      show(s, () => keyValues(s));
    },
  );
  command(
    program,
    {
      name: "ping",
      method: "ping",
      description: "ask the manager for its status (a liveness check)",
    },
    async ({ call, show }) => {
      const s = await call();
      show(s, () => `${s.msg}: ${s.manager_state}`);
    },
  );
}
