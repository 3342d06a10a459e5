/** The task lifecycle over the real registry and scheduler, with a fake pool of workers. */
import { describe, expect, it } from "vitest";
import type { TaskMessage } from "../../src/manager/workers/pool.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { call, makeTaskPath, taskDone, type FakePool } from "./fake-task-path.js";

function make(slots: number, ahead = 0, clock?: FakeClock) {
  const path = makeTaskPath(slots, ahead, clock);
  const events: Record<string, unknown>[] = [];
  path.tasks.events.on("task", (e) => events.push(e));
  const say = (worker: string, m: TaskMessage) => path.pool.say(worker, m);
  const names = (uid: string) => events.filter((e) => e.task_uid === uid).map((e) => e.event);
  return { ...path, say, names };
}
const done = (id: string, success: boolean, start: number, stop: number) =>
  taskDone(id, {
    success,
    msg: success ? "" : "boom",
    return_value: success ? 1 : null,
    time_start: start,
    time_stop: stop,
  });

describe("TaskLifecycle", () => {
  it("a task_done with no task_started before it is a start and an end: the start from its time_start", () => {
    const { tasks, pool, lifecycle, say, names } = make(1);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    say("main", done("a", true, 1000.25, 1000.5));
    const r = tasks.get("a");
    expect(r?.state).toBe("completed");
    expect(r?.startedAt).toBe(1_000_250);
    expect(tasks.info("a", lifecycle.stats()).started_at).toBe(new Date(1_000_250).toISOString());
    expect(names("a")).toEqual(["task-sent", "task-received", "task-started", "task-succeeded"]);
  });

  it("a task taken out of its worker unrun by a cancel has no start", () => {
    const { tasks, pool, lifecycle, say, names } = make(1);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    expect(lifecycle.cancel("a").outcome).toBe("cancelling");
    say("main", { ...done("a", false, 1000, 1000), cancelled: true });
    expect(tasks.get("a")).toMatchObject({ state: "cancelled", startedAt: undefined });
    expect(names("a")).toEqual(["task-sent", "task-received", "task-revoked"]);
  });

  it("a task_done after its task_started does not start it twice", () => {
    const { pool, lifecycle, say, names } = make(1);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    say("main", { type: "task_started", id: "a", time: 1000 });
    say("main", done("a", true, 1000, 1001));
    expect(names("a")).toEqual(["task-sent", "task-received", "task-started", "task-succeeded"]);
  });

  // The same rule for a pool worker (worker-lost) and the main worker with its pool (workersLost).
  for (const how of ["pool worker", "main worker"] as const) {
    it(`losing the ${how}: unstarted tasks wait again, started ones retry or fail with the loss`, async () => {
      const { tasks, pool, lifecycle, say, names } = make(1, 2);
      const lost = how === "pool worker" ? "w2" : "main";
      // A pool worker beside a main worker that takes no background task; or the main one alone.
      pool.list =
        how === "main worker"
          ? [{ id: lost, main: true }]
          : [
              { id: "main", main: true, background: false },
              { id: lost, main: false },
            ];
      lifecycle.submit("retried", call("f"), true, { max_retries: 1, retry_backoff: 0 });
      lifecycle.submit("failed", call("f"), true, {});
      lifecycle.submit("ahead", call("f"), true, {});
      expect(pool.sent.flatMap((b) => b.ids)).toEqual(["retried", "failed", "ahead"]);
      say(lost, { type: "task_started", id: "retried", time: 1 });
      say(lost, { type: "task_started", id: "failed", time: 1 });
      const msg = `The worker '${lost}' was lost`;
      pool.list = [];
      if (how === "pool worker") pool.emit("worker-lost", lost, msg);
      else lifecycle.workersLost([lost], msg);
      expect(tasks.get("failed")).toMatchObject({ state: "failed", message: msg });
      expect(tasks.get("retried")?.state).toBe("retrying");
      // As if never dealt: its record names no worker.
      expect(tasks.get("ahead")).toMatchObject({ state: "pending", attempts: 0, worker: null });
      expect(names("ahead")).toContain("task-requeued");
      // A new worker takes what waits.
      pool.list = [{ id: "w3", main: true }];
      pool.emit("worker-joined");
      expect(pool.sent.at(-1)).toEqual({ worker: "w3", ids: ["ahead"] });
      await new Promise((r) => setTimeout(r, 5));
      expect(tasks.get("retried")).toMatchObject({ state: "running", attempts: 2, worker: "w3" });
    });
  }

  it("losing the main worker ends the tasks handed to it at once (scripts): no retry for them", () => {
    const { tasks, lifecycle } = make(Infinity);
    tasks.add({ uid: "s", name: "script", kind: "script", background: false, time_start: 1 });
    lifecycle.workersLost(["main"], "The worker process was lost");
    expect(tasks.get("s")).toMatchObject({
      state: "failed",
      message: "The worker process was lost",
    });
  });

  it("the environment gone for good fails what waits, naming why", () => {
    const { tasks, pool, lifecycle } = make(1);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, {});
    lifecycle.workersLost(["main"], "lost");
    pool.list = [];
    pool.emit("all-gone", false, "the RE Worker environment was destroyed");
    expect(tasks.get("a")?.message).toBe(
      "The task did not run: the RE Worker environment was destroyed",
    );
  });
});

describe("TaskLifecycle: delayed tasks (fake clock)", () => {
  const dealt = (pool: FakePool) => pool.sent.flatMap((s) => s.ids);

  it("a delayed task is scheduled until its time, then dealt", async () => {
    const clock = new FakeClock();
    const { tasks, pool, lifecycle, names } = make(1, 0, clock);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, { startAt: clock.t + 5000 });
    expect(tasks.get("a")?.state).toBe("scheduled");
    expect(lifecycle.stats().queue_depth).toBe(0);
    await clock.advance(4999);
    expect(dealt(pool)).toEqual([]);
    await clock.advance(1);
    expect(dealt(pool)).toEqual(["a"]);
    expect(names("a")).toEqual(["task-sent", "task-due", "task-received"]);
  });

  it("cancelled while scheduled, it is never dealt", async () => {
    const clock = new FakeClock();
    const { tasks, pool, lifecycle } = make(1, 0, clock);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("a", call("f"), true, { startAt: clock.t + 5000 });
    expect(lifecycle.cancel("a").outcome).toBe("cancelled");
    await clock.advance(10_000);
    expect(tasks.get("a")).toMatchObject({ state: "cancelled", attempts: 0 });
    expect(dealt(pool)).toEqual([]);
  });

  it("a parent that completes before the child's time does not start the child early", async () => {
    const clock = new FakeClock();
    const { pool, lifecycle, say } = make(1, 0, clock);
    pool.list = [{ id: "main", main: true }];
    lifecycle.submit("p", call("f"), true, {});
    lifecycle.submit("c", call("f"), true, { after: ["p"], startAt: clock.t + 5000 });
    say("main", done("p", true, 1000, 1001));
    await clock.advance(0);
    expect(dealt(pool)).toEqual(["p"]);
    await clock.advance(5000);
    expect(dealt(pool)).toEqual(["p", "c"]);
  });

  it("the workers gone for good fail the waiting tasks, not the scheduled ones", async () => {
    const clock = new FakeClock();
    const { tasks, pool, lifecycle } = make(1, 0, clock);
    lifecycle.submit("waiting", call("f"), true, {});
    lifecycle.submit("later", call("f"), true, { startAt: clock.t + 5000 });
    pool.emit("all-gone", false, "the environment was closed");
    await clock.advance(0);
    expect(tasks.get("waiting")?.state).toBe("failed");
    expect(tasks.get("later")?.state).toBe("scheduled");
  });
});
