/**
 * Timing marks of a task along its path (ZQS_TRACE_TASKS=1, for bench:trace):
 * task_info carries the manager's and the worker's marks, each process's in
 * the order of the path; without the variable it carries none.
 */
import { describe, expect, it } from "vitest";
import { execute, fn, useOpenManager, waitCompleted } from "../helpers/tasks.js";

/** Each process's marks, in path order (each on its own clock; bench:trace sets them side by side). */
const MANAGER = ["request_in", "accepted", "dispatched", "end_heard", "visible"];
const WORKER = ["worker_received", "worker_begins", "worker_returns"];

describe.each([true, false])("ZQS_TRACE_TASKS=1: %s", (traced) => {
  const open = useOpenManager({ env: traced ? { ZQS_TRACE_TASKS: "1" } : {} });

  it(
    traced ? "task_info carries the marks, in the order of the path" : "task_info carries none",
    async () => {
      const { c } = open;
      const uid = await execute(c, fn("function_sleep", [0]));
      await waitCompleted(c, uid);
      const r = await c.request("task_info", { task_uid: uid });
      const trace = (r.task_info as { trace?: Record<string, number> }).trace;
      if (!traced) {
        expect(trace).toBeUndefined();
        return;
      }
      expect(Object.keys(trace ?? {}).sort()).toEqual([...MANAGER, ...WORKER, "replied"].sort());
      for (const marks of [MANAGER, WORKER]) {
        const times = marks.map((k) => trace?.[k] as number);
        expect(times).toEqual([...times].sort((a, b) => a - b));
      }
      // The reply follows the acceptance.
      expect(trace?.replied).toBeGreaterThanOrEqual(trace?.accepted as number);
    },
  );
});
