/** The queue handlers and the executor from fake queue contexts (no worker, no store). */
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { ManagerToWorker } from "../../src/protocol/ipc.js";
import { Activity } from "../../src/manager/activity.js";
import { QueueExecutor } from "../../src/manager/queue/executor.js";
import { queueHandlers } from "../../src/manager/queue/handlers.js";
import { PlanQueue } from "../../src/manager/queue/plan-queue.js";
import type { RequestContext } from "../../src/manager/rpc/dispatch.js";
import { StatusState } from "../../src/manager/state.js";
import type { StoreOp } from "../../src/manager/store/types.js";

function make(open: boolean) {
  const state = new StatusState();
  const activity = new Activity(state, () => open);
  const written: StoreOp[][] = [];
  const queue = new PlanQueue(state, (ops) => {
    written.push([...ops]);
    return Promise.resolve();
  });
  const sent: ManagerToWorker[] = [];
  const executor = new QueueExecutor({
    queue,
    activity,
    state,
    env: { send: (m) => sent.push(m) > 0, on: () => undefined },
    log: pino({ level: "silent" }),
  });
  return { state, activity, queue, executor, sent, written };
}
const req = { encoding: "json" } as RequestContext;

describe("queue handlers from a fake context", () => {
  it("queue_item_add checks the requester, stores the item and asks for autostart", async () => {
    const { queue, state, written } = make(false);
    let autostarts = 0;
    const h = queueHandlers({
      queue,
      executor: { maybeAutostart: () => void autostarts++, executeNow: () => Promise.resolve() },
      access: {
        hasGroup: (g) => g === "primary",
        allowedLists: () => {
          throw new Error("an instruction needs no lists");
        },
        requireLists: () => Promise.resolve(),
      },
      state,
    });
    await expect(
      Promise.resolve().then(() =>
        h.queue_item_add?.(
          { item: { item_type: "instruction", name: "queue_stop" }, user: "u", user_group: "x" },
          req,
        ),
      ),
    ).rejects.toThrow("Unknown user group: 'x'");
    const r = await h.queue_item_add?.(
      { item: { item_type: "instruction", name: "queue_stop" }, user: "u", user_group: "primary" },
      req,
    );
    expect(r?.success).toBe(true);
    expect(queue.items.map((i) => i.name)).toEqual(["queue_stop"]);
    expect(written.length).toBeGreaterThan(0);
    expect(autostarts).toBe(1);
  });
});

describe("QueueExecutor from a fake context", () => {
  it("queue_start is refused unless the environment is open", async () => {
    const { executor } = make(false);
    await expect(executor.start()).rejects.toThrow("RE Worker environment does not exist.");
  });

  it("runs the first plan in the main worker and holds executing_queue", async () => {
    const { executor, queue, sent, activity } = make(true);
    await queue.change((d) => {
      d.items.push({ item_type: "plan", name: "count", item_uid: "p1", args: [], kwargs: {} });
    });
    await executor.start();
    expect(sent).toMatchObject([{ type: "plan_run", id: "p1", name: "count" }]);
    expect(activity.current).toBe("executing_queue");
    expect(queue.running?.item_uid).toBe("p1");
  });
});
