/** `zqs re pause|resume|stop|abort|halt|runs|metadata`: the running plan (area: control). */
import type { Command } from "commander";
import { command, group } from "../command.js";

export function registerControl(program: Command): void {
  const re = group(program, "re", "control the running plan");
  command(re, {
    name: "pause",
    method: "re_pause",
    arguments: {
      option: {
        description: "deferred | immediate",
        optional: true,
        default: "deferred",
        param: true,
      },
    },
  });
  command(re, { name: "resume", method: "re_resume" });
  command(re, { name: "stop", method: "re_stop" });
  command(re, { name: "abort", method: "re_abort" });
  command(re, {
    name: "halt",
    method: "re_halt",
    // "at once" is what sets a halt apart from an abort; the summary leaves it out.
    description: "end a paused plan at once as halted (back to the front of the queue)",
  });
  command(
    re,
    {
      name: "runs",
      method: "re_runs",
      arguments: {
        option: {
          description: "active | open | closed",
          optional: true,
          default: "active",
          param: true,
        },
      },
    },
    async ({ call, show }) => {
      const r = await call();
      show(r, () =>
        r.run_list.length === 0
          ? "no runs"
          : r.run_list
              .map(
                (x) =>
                  `${String(x.uid)}  scan ${String(x.scan_id)}  ${x.is_open ? "open" : `closed (${String(x.exit_status)})`}`,
              )
              .join("\n"),
      );
    },
  );
  command(re, { name: "metadata", method: "re_metadata" });
}
