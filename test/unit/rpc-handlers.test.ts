/** manager_stop built from a fake rpc context (no manager, no sockets). */
import { describe, expect, it } from "vitest";
import { Activity } from "../../src/manager/activity.js";
import type { RpcContext } from "../../src/manager/rpc/context.js";
import type { RequestContext } from "../../src/manager/rpc/dispatch.js";
import { managerHandlers } from "../../src/manager/rpc/manager-handlers.js";
import { StatusState } from "../../src/manager/state.js";

function make() {
  const state = new StatusState();
  const stops: string[] = [];
  const ctx: RpcContext = {
    status: () => state.status(),
    activity: new Activity(state, () => true),
    requestStop: (reason) => stops.push(reason),
    metrics: () => ({
      tasks_by_state: {},
      worker_slots: { workers: 0, busy: 0, free: null },
      buckets: [],
      requests: {},
      store_writes: {},
      schedules: {
        active: 0,
        paused: 0,
        ended: 0,
        fires: 0,
        fires_failed: 0,
        missed: 0,
        misfires: 0,
      },
      rate_limited: 0,
    }),
  };
  return { ctx, stops, activity: ctx.activity as Activity };
}
const req = { encoding: "json" } as RequestContext;

describe("rpc handlers from a fake context", () => {
  it("manager_stop safe_on stops an idle manager", async () => {
    const { ctx, stops } = make();
    const stop = managerHandlers(ctx).manager_stop;
    expect(await stop?.({ option: "safe_on" }, req)).toEqual({ success: true, msg: "" });
    expect(stops).toEqual(["manager_stop request"]);
  });

  it("manager_stop safe_on is refused while busy; safe_off stops anyway", async () => {
    const { ctx, stops, activity } = make();
    activity.begin("executing_queue");
    const stop = managerHandlers(ctx).manager_stop;
    expect(() => stop?.({ option: "safe_on" }, req)).toThrow(
      "Closing RE Manager with 'safe_on' option is not allowed while it is busy (manager state: 'executing_queue'). Use 'safe_off' to stop it anyway.",
    );
    expect(stops).toEqual([]);
    await stop?.({ option: "safe_off" }, req);
    expect(stops).toEqual(["manager_stop request"]);
  });
});
