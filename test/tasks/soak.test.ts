/** A long stream of tasks with a short retention keeps the manager's memory flat. */
import { expect, it } from "vitest";
import { rssMb } from "../helpers/manager.js";
import { pipelined } from "../helpers/pipeline.js";
import { fn, USER, useOpenManager } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";

const open = useOpenManager({ publishConsole: false, args: ["--task-results-retention", "1"] });

it("runs 6,000 background tasks; results are purged and RSS stays bounded", async () => {
  const { m, c } = open;
  const pid = m.proc.pid as number;
  const run = async (n: number) => {
    const uids: string[] = [];
    // Submitted 16 at a time (one round trip each made the test measure round trips).
    const request = {
      method: "function_execute",
      params: { item: fn("function_sleep", [0]), ...USER, run_in_background: true },
    };
    await pipelined(m.controlAddr, request, n, (r) => {
      expect(r.success, String(r.msg)).toBe(true);
      uids.push(r.task_uid as string);
    });
    // Every result of the batch is purged (retention 1 s).
    await waitUntil(
      async () => {
        const st = await c.request("task_status", { task_uid: uids });
        return Object.values(st.status as Record<string, string>).every((x) => x === "not_found");
      },
      undefined,
      200,
    );
  };
  // Warm-up: the heap grows to its working size first (not a leak).
  await run(2000);
  const warm = rssMb(pid);
  await run(4000);
  const after = rssMb(pid);
  // Bound: the second, larger batch may not grow the manager by more than 40 MB.
  expect(after - warm).toBeLessThan(40);
  console.log(
    `manager RSS: ${warm.toFixed(1)} MB after 2,000 tasks, ${after.toFixed(1)} MB after 6,000`,
  );
});
