/** `zqs history get|clear` (area: history). */
import type { Command } from "commander";
import { command, group } from "../command.js";
import { inline, itemLine } from "../output.js";
import { parseValue } from "../parse.js";

export function registerHistory(program: Command): void {
  const history = group(program, "history", "the plan history");
  command(
    history,
    { name: "get", method: "history_get", description: "print the history" },
    async ({ call, show }) => {
      const r = await call({}, { reload: true });
      show(r, () => {
        const lines = r.items.map((it, i) => {
          const res = it.result;
          const status =
            res && typeof res === "object" && "exit_status" in res ? res.exit_status : "";
          return `${i}  ${itemLine(it)}  ${inline(status ?? "")}`;
        });
        return `${lines.length} item(s) in the history${lines.length ? `\n${lines.join("\n")}` : ""}`;
      });
    },
  );
  command(history, {
    name: "clear",
    method: "history_clear",
    description: "clear the history (or keep its last --size items, or remove one --item-uid)",
    options: {
      // Sent as given (JSON or text): the protocol's parameter check names a bad value.
      size: {
        value: "<n>",
        description: "keep this many of the last items",
        parse: parseValue,
        param: true,
      },
      itemUid: { value: "<uid>", description: "remove only this item", param: true },
    },
  });
}
