/** The scheduler's index of workers (worker-index.ts), alone and under the scheduler with 10,000 workers. */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { ExecuteFunctionMsg } from "../../src/protocol/ipc.js";
import { WorkerIndex } from "../../src/manager/tasks/worker-index.js";
import type { DealerTasks } from "../../src/manager/tasks/context.js";
import { TaskScheduler } from "../../src/manager/tasks/scheduler.js";
import type { TaskWorker, TaskWorkerPoolEvents } from "../../src/manager/workers/pool.js";

/** An index over fixed capacities, loads set by the test. */
function indexOf(workers: TaskWorker[], capacity = 2) {
  const load = new Map<string, number>();
  const index = new WorkerIndex({ load: (id) => load.get(id) ?? 0, capacity: () => capacity });
  index.sync(workers);
  const set = (id: string, n: number) => {
    load.set(id, n);
    index.update(id);
  };
  const take = (name: string, tags: string[] = []) => {
    const w = index.best(name, tags).worker;
    if (w) set(w.id, (load.get(w.id) ?? 0) + 1);
    return w?.id;
  };
  return { index, set, take };
}

describe("WorkerIndex", () => {
  it("gives the least loaded worker with free capacity, the earlier on a tie, the main one last", () => {
    const { index, set, take } = indexOf([
      { id: "main", main: true },
      { id: "a", main: false },
      { id: "b", main: false },
    ]);
    expect(index.count).toBe(3);
    expect(index.main?.id).toBe("main");
    expect(index.free).toBe(6);
    expect([take("f"), take("f"), take("f")]).toEqual(["a", "b", "main"]);
    set("b", 2);
    expect([take("f"), take("f")]).toEqual(["a", "main"]);
    expect(index.free).toBe(0);
    expect(index.busy).toBe(6);
    expect(index.best("f", [])).toEqual({ worker: undefined, offered: true });
    set("b", 0);
    expect(index.free).toBe(2);
    expect(take("f")).toBe("b");
  });

  it("deals a function only to workers that offer it with every tag asked for", () => {
    const fa = new Set(["f", "g"]);
    const { index, take } = indexOf([
      { id: "main", main: true, background: false },
      { id: "r1", main: false, functions: fa },
      { id: "r2", main: false, functions: new Set(["g", "f"]), tags: new Set(["gpu"]) },
      { id: "r3", main: false, offers: (n) => n === "h" },
    ]);
    expect(index.main?.id).toBe("main");
    expect(index.free).toBe(6);
    expect(take("f", ["gpu"])).toBe("r2");
    expect(take("f")).toBe("r1");
    expect(take("f")).toBe("r1");
    expect(take("f")).toBe("r2");
    expect(index.best("f", [])).toEqual({ worker: undefined, offered: true });
    expect(index.best("f", ["gpu", "big"])).toEqual({ worker: undefined, offered: false });
    expect(index.offers("h", [])).toBe(true);
    expect(index.offers("x", [])).toBe(false);
    expect(take("h")).toBe("r3");
  });

  it("forgets the workers that left when synced again", () => {
    const { index, take } = indexOf([
      { id: "main", main: true },
      { id: "a", main: false, functions: new Set(["f"]) },
    ]);
    index.sync([{ id: "main", main: true, background: false }]);
    expect(index.get("a")).toBeUndefined();
    expect(index.count).toBe(1);
    expect(index.offers("f", [])).toBe(false);
    expect(take("f")).toBeUndefined();
  });
});

/** A pool of `n` workers on other hosts (and the main worker) that counts what dealing asks of them. */
class CountingPool extends EventEmitter<TaskWorkerPoolEvents> {
  readonly slotsPerWorker = 1;
  readonly aheadPerWorker = 0;
  readonly workersVersion = 1;
  readonly list: TaskWorker[];
  /** Calls of the workers' `offers` and of their tag sets' `has`. */
  looks = 0;
  listed = 0;
  sent: { worker: string; ids: string[] }[] = [];
  constructor(n: number, gpus: number) {
    super();
    const fns = new Set(["f"]);
    const count = <T extends object>(o: T, key: keyof T & string): T => {
      const f = o[key] as (...a: unknown[]) => unknown;
      Object.defineProperty(o, key, {
        value: (...a: unknown[]) => {
          this.looks++;
          return f.apply(o, a);
        },
      });
      return o;
    };
    const gpuTags = new Set(["gpu"]);
    this.list = [{ id: "main", main: true, background: false }];
    for (let i = 0; i < n; i++) {
      this.list.push({
        id: `w${i}`,
        main: false,
        remote: true,
        slots: 1,
        offers: (name) => (this.looks++, fns.has(name)),
        functions: fns,
        tags: count(new Set(i >= n - gpus ? gpuTags : []), "has"),
      });
    }
  }
  workers(): TaskWorker[] {
    this.listed++;
    return this.list;
  }
  sendTasks(worker: string, tasks: readonly ExecuteFunctionMsg[]): void {
    this.sent.push({ worker, ids: tasks.map((t) => t.id) });
  }
}

describe("TaskScheduler with 10,000 workers connected", () => {
  it("looks at a bounded number of workers per task dealt, not at every worker", () => {
    const workers = 10_000;
    const pool = new CountingPool(workers, 10);
    const tasks: DealerTasks = {
      active: () => ({ attempts: 1 }),
      dispatched: () => undefined,
      note: () => undefined,
      mark: () => undefined,
    };
    const dealer = new TaskScheduler({ tasks, pool });
    let n = 0;
    const deal = (tags: string[]) => {
      const uid = `t${n++}`;
      dealer.add({
        uid,
        call: { name: "f", args: [], kwargs: {} },
        background: true,
        priority: 0,
        tags,
        run: undefined,
      });
      dealer.enqueue(uid);
      dealer.pump();
      return uid;
    };
    // The index is built once (the pool's workersVersion does not change).
    deal([]);
    pool.looks = 0;
    const dealt = 200;
    for (let i = 0; i < dealt / 2; i++) deal([]);
    // The workers with the tag, though last in the pool.
    for (let i = 0; i < 5; i++) deal(["gpu"]);
    // A short call ended: the next task stays with the worker dealt to last (looked at alone).
    dealer.ended("t105", `w${workers - 6}`, 0.01);
    for (let i = 0; i < dealt / 2 - 5; i++) deal([]);
    expect(pool.listed).toBe(1);
    expect(pool.sent).toHaveLength(dealt + 1);
    const to = new Map(pool.sent.map((b) => [b.ids[0], b.worker]));
    expect(to.get("t1")).toBe("w1");
    expect(to.get("t101")).toBe(`w${workers - 10}`);
    expect(to.get("t105")).toBe(`w${workers - 6}`);
    expect(to.get("t106")).toBe(`w${workers - 6}`);
    expect(to.get("t107")).toBe("w101");
    // Each task dealt to a free worker: none twice but the one that stayed (every worker has one slot).
    expect(new Set(to.values()).size).toBe(dealt);
    expect(pool.looks / dealt).toBeLessThanOrEqual(1);
    expect(dealer.slotUsage()).toEqual({
      workers: workers + 1,
      busy: dealt,
      free: workers + 1 - dealt,
    });
    expect(dealer.workerCount()).toBe(workers + 1);
  });
});
