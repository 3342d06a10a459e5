/** `zqs queue add|get|start|stop|clear` (areas: queue, and control for start/stop). */
import type { Command } from "commander";
import { BInst, BPlan } from "../../client/index.js";
import type { ReplyOf } from "../../protocol/index.js";
import { command, describeMethod, group } from "../command.js";
import { inline, itemLine } from "../output.js";
import { jsonMap, parseValue, position } from "../parse.js";
import { waitQueue, waitTimeoutOption } from "../waits.js";

const placement = {
  pos: {
    value: "<pos>",
    description: "position: an index, 'front' or 'back' (default back)",
    parse: position,
    param: true,
  },
  beforeUid: { value: "<uid>", description: "insert before this item", param: true },
  afterUid: { value: "<uid>", description: "insert after this item", param: true },
} as const;

const added = (r: ReplyOf<"queue_item_add">) =>
  `added ${inline(r.item?.name)} (item_uid ${inline(r.item?.item_uid)}), queue size ${inline(r.qsize)}`;

export function registerQueue(program: Command): void {
  const queue = group(program, "queue", "the plan queue");
  const add = group(queue, "add", "add an item to the queue");
  command(
    add,
    {
      name: "plan",
      method: "queue_item_add",
      description: "add a plan: zqs queue add plan NAME [args...] (each arg is JSON, or text)",
      arguments: {
        name: { description: "plan name" },
        args: { description: "positional arguments", optional: true, variadic: true },
      },
      options: {
        kwargs: { value: "<json>", description: "keyword arguments as a JSON map", parse: jsonMap },
        ...placement,
      },
    },
    async ({ call, show, args, opts }) => {
      const r = await call({
        item: new BPlan(args.name, args.args.map(parseValue), opts.kwargs ?? {}),
      });
      show(r, () => added(r));
    },
  );
  command(
    add,
    {
      name: "instruction",
      method: "queue_item_add",
      description: "add an instruction: zqs queue add instruction queue-stop",
      arguments: { name: { description: "instruction name (queue-stop)" } },
      options: placement,
    },
    async ({ call, show, args }) => {
      const r = await call({ item: new BInst(args.name.replace(/-/g, "_")) });
      show(r, () => added(r));
    },
  );
  command(
    queue,
    { name: "get", method: "queue_get", description: "print the queue and the running item" },
    async ({ call, show }) => {
      const r = await call({}, { reload: true });
      show(r, () => {
        const lines = r.items.map((it, i) => `${i}  ${itemLine(it)}`);
        const running =
          Object.keys(r.running_item).length > 0 ? `running: ${itemLine(r.running_item)}\n` : "";
        return `${running}${lines.length} item(s) in the queue${lines.length ? `\n${lines.join("\n")}` : ""}`;
      });
    },
  );
  command(
    queue,
    {
      name: "start",
      method: "queue_start",
      description: "start the queue (--wait: until it is done)",
      options: {
        wait: { description: "wait until the manager is idle again" },
        waitTimeout: waitTimeoutOption("give up waiting after this long (exit 3)"),
      },
    },
    async ({ api, call, show, opts }) => {
      const before = await api.status({ reload: true });
      const r = await call();
      if (!opts.wait) {
        show(r);
        return;
      }
      const s = await waitQueue(api, opts.waitTimeout, before);
      show(
        { ...r, status: s },
        () =>
          `queue stopped: ${s.items_in_queue} item(s) left, ${s.items_in_history} in the history`,
      );
    },
  );
  command(
    queue,
    {
      name: "stop",
      method: "queue_stop",
      description: `${describeMethod("queue_stop")} (--cancel: cancel a pending stop)`,
      options: { cancel: { description: "cancel a pending stop" } },
    },
    async ({ api, call, show, opts }) => {
      show(opts.cancel ? await api.queueStopCancel() : await call());
    },
  );
  command(queue, { name: "clear", method: "queue_clear" });
}
