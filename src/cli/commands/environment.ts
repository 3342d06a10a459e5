/** `zqs environment open|close|destroy [--wait]` (area: environment). */
import type { Command } from "commander";
import { command, group } from "../command.js";
import { waitEnvironment, waitTimeoutOption } from "../waits.js";

export function registerEnvironment(program: Command): void {
  const env = group(program, "environment", "open, close or destroy the worker environment");
  for (const [name, method, want] of [
    ["open", "environment_open", true],
    ["close", "environment_close", false],
    ["destroy", "environment_destroy", false],
  ] as const) {
    command(
      env,
      {
        name,
        method,
        description: `${name} the environment (replies at once; --wait waits until it is done)`,
        options: {
          wait: { description: "wait until the operation is done" },
          waitTimeout: waitTimeoutOption("give up waiting after this long"),
        },
      },
      async ({ api, call, show, opts }) => {
        const r = await call();
        if (!opts.wait) {
          show(r);
          return;
        }
        const s = await waitEnvironment(api, opts.waitTimeout, want);
        show({ ...r, status: s }, () => `environment ${want ? "open" : "closed"}`);
      },
    );
  }
}
