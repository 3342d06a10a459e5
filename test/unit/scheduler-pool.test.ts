/** The scheduler dealing tasks to a fake TaskWorkerPool; the task handlers from a fake context. */
import { EventEmitter } from "node:events";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { ExecuteFunctionMsg } from "../../src/protocol/ipc.js";
import { Activity } from "../../src/manager/activity.js";
import { StatusState } from "../../src/manager/state.js";
import { taskHandlers } from "../../src/manager/tasks/handlers.js";
import { TaskRegistry } from "../../src/manager/tasks/registry.js";
import { TaskScheduler } from "../../src/manager/tasks/scheduler.js";
import type {
  TaskWorker,
  TaskWorkerPool,
  TaskWorkerPoolEvents,
} from "../../src/manager/workers/pool.js";

class FakePool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  sent: { worker: string; ids: string[] }[] = [];
  cancels: string[] = [];
  list: TaskWorker[] = [];
  constructor(readonly slotsPerWorker: number) {
    super();
  }
  workers(): TaskWorker[] {
    return this.list;
  }
  get mainWorkerId(): string | undefined {
    return this.list.find((w) => w.main)?.id;
  }
  sendTasks(worker: string, tasks: readonly ExecuteFunctionMsg[]): void {
    this.sent.push({ worker, ids: tasks.map((t) => t.id) });
  }
  cancel(_w: string | null, uid: string): void {
    this.cancels.push(uid);
  }
  replace(): void {}
  notify(): void {}
}

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

function make(slots: number) {
  const state = new StatusState();
  let open = true;
  const activity = new Activity(state, () => open);
  const tasks = new TaskRegistry(60, { state, activity });
  const pool = new FakePool(slots);
  const scheduler = new TaskScheduler(tasks, pool, pino({ level: "silent" }), {
    cancelGraceSec: 5,
  });
  closers.push(
    () => scheduler.close(),
    () => tasks.close(),
  );
  return { state, activity, tasks, pool, scheduler, setOpen: (o: boolean) => (open = o) };
}
const call = (name: string) => ({ name, args: [], kwargs: {} });

describe("TaskScheduler with a fake pool", () => {
  it("waits for workers, then deals one batch per worker within the free slots", () => {
    const { pool, scheduler, tasks } = make(1);
    for (const uid of ["a", "b", "c"]) scheduler.submit(uid, call("f"), true, {});
    expect(pool.sent).toEqual([]);
    pool.list = [
      { id: "main", main: true },
      { id: "w2", main: false },
    ];
    scheduler.workerReady();
    // One slot each; the other worker before the main one; "c" waits for a slot.
    expect(pool.sent).toEqual([
      { worker: "w2", ids: ["a"] },
      { worker: "main", ids: ["b"] },
    ]);
    expect(tasks.get("c")?.state).toBe("pending");
  });

  it("with unlimited slots hands every ready task to the main worker as one batch", () => {
    const { pool, scheduler } = make(Infinity);
    for (const uid of ["a", "b"]) scheduler.submit(uid, call("f"), true, {});
    pool.list = [{ id: "main", main: true }];
    scheduler.workerReady();
    expect(pool.sent).toEqual([{ worker: "main", ids: ["a", "b"] }]);
  });
});

describe("task handlers from a fake context", () => {
  it("function_execute is refused while the environment is not open, naming the item", async () => {
    const { scheduler, tasks, activity, setOpen } = make(1);
    setOpen(false);
    const h = taskHandlers({
      tasks,
      scheduler,
      activity,
      access: { hasGroup: () => true, functionAllowed: () => true },
    });
    let err: unknown;
    try {
      await h.function_execute?.(
        {
          item: { item_type: "function", name: "f" },
          user: "u",
          user_group: "primary",
          run_in_background: true,
        },
        { encoding: "json" },
      );
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe("RE Worker environment is not open");
    expect((err as { extras?: { item?: { name?: string } } }).extras?.item?.name).toBe("f");
  });
});
