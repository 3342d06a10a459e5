/**
 * The task path of the manager (registry, scheduler, lifecycle: the real ones)
 * over a fake pool of workers, for the unit tests of dealing and of a task's life.
 */
import type { FakeClock } from "../helpers/fake-clock.js";
import { EventEmitter } from "node:events";
import pino from "pino";
import { afterEach } from "vitest";
import type { ExecuteFunctionMsg } from "../../src/protocol/ipc.js";
import { Activity } from "../../src/manager/activity.js";
import { StatusState } from "../../src/manager/state.js";
import { TaskLifecycle } from "../../src/manager/tasks/lifecycle.js";
import { TaskRegistry } from "../../src/manager/tasks/registry.js";
import type { TaskRegistryContext } from "../../src/manager/tasks/context.js";
import { TaskScheduler } from "../../src/manager/tasks/scheduler.js";
import type {
  TaskMessage,
  TaskWorker,
  TaskWorkerPool,
  TaskWorkerPoolEvents,
} from "../../src/manager/workers/pool.js";

/** Workers as a list the test sets; what is dealt and cancelled is recorded. */
export class FakePool extends EventEmitter<TaskWorkerPoolEvents> implements TaskWorkerPool {
  sent: { worker: string; ids: string[] }[] = [];
  cancels: string[] = [];
  list: TaskWorker[] = [];
  constructor(
    readonly slotsPerWorker: number,
    readonly aheadPerWorker = 0,
  ) {
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
  /** Every task uid dealt so far, in order. */
  dealt(): string[] {
    return this.sent.flatMap((b) => b.ids);
  }
  /** A worker's report about a task. */
  say(worker: string, m: TaskMessage): void {
    this.emit("task-message", worker, m);
  }
}

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

/**
 * The registry, scheduler and lifecycle over a FakePool (`slots` per worker,
 * `ahead` beyond), with a fake of the store when given.
 */
export function makeTaskPath(
  slots: number,
  ahead = 0,
  clock?: FakeClock,
  store?: TaskRegistryContext["store"],
) {
  const state = new StatusState();
  let open = true;
  const activity = new Activity(state, () => open);
  const tasks = new TaskRegistry(60, { state, activity, ...(store ? { store } : {}) });
  const pool = new FakePool(slots, ahead);
  const dealer = new TaskScheduler({ tasks, pool });
  const lifecycle = new TaskLifecycle({
    tasks,
    dealer,
    pool,
    log: pino({ level: "silent" }),
    cancelGraceSec: 5,
    ...(clock ? { clock } : {}),
  });
  closers.push(
    () => lifecycle.close(),
    () => tasks.close(),
  );
  return {
    state,
    activity,
    tasks,
    pool,
    dealer,
    lifecycle,
    setOpen: (o: boolean) => (open = o),
  };
}

/** A call of function `name` with no arguments. */
export const call = (name: string) => ({ name, args: [], kwargs: {} });

export type TaskDone = Extract<TaskMessage, { type: "task_done" }>;

/** A worker's report that task `id` ended: a success returning 1 at 1000–1001 s unless `fields` say otherwise. */
export const taskDone = (
  id: string,
  fields: Partial<Omit<TaskDone, "type" | "id">> = {},
): TaskDone => ({
  type: "task_done",
  id,
  success: true,
  msg: "",
  traceback: "",
  return_value: 1,
  time_start: 1000,
  time_stop: 1001,
  ...fields,
});
