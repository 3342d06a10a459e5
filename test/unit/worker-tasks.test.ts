/**
 * The worker's calls (src/worker/tasks.ts) without a process: a call that ends
 * in the turn it began reports its start and end as one `task_done`; a longer
 * one says `task_started` at the next turn, or before anything else it says.
 */
import { describe, expect, it } from "vitest";
import type { TaskDoneMsg, WorkerToManager } from "../../src/protocol/ipc.js";
import type { TaskContext } from "../../src/worker/api.js";
import type { SubtaskRequests } from "../../src/worker/subtasks.js";
import { Tasks } from "../../src/worker/tasks.js";

function tasksOf(functions: Record<string, (...a: unknown[]) => unknown> = {}) {
  const sent: WorkerToManager[] = [];
  const deferred: (() => void)[] = [];
  const asked: string[] = [];
  const subtasks: SubtaskRequests = {
    request: (parent, _signal, _wait, name) => {
      asked.push(`${parent} ${name}`);
      sent.push({
        type: "subtask",
        reqId: "r",
        parent,
        name,
        args: [],
        kwargs: {},
        options: {},
        wait: true,
      });
      return new Promise(() => {});
    },
    dropOf: () => {},
  };
  const tasks = new Tasks({
    send: (m) => sent.push(m),
    subtasks,
    functions: {
      bindFunction: (name, args = []) => {
        const fn = functions[name];
        if (!fn) throw new Error(`Function '${name}' is not found`);
        return { fn, args: [...args] };
      },
    },
    outputBytes: () => 0,
    print: () => {},
    defer: (fn) => deferred.push(fn),
  });
  /** The next turn comes: the deferred starts go. */
  const nextTurn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { tasks, sent, nextTurn, asked };
}

const types = (sent: WorkerToManager[]) => sent.map((m) => `${m.type} ${"id" in m ? m.id : ""}`);

function call(id: string, body: (ctx: TaskContext) => unknown) {
  return { id, label: "Execute function", attempt: 1, body };
}

describe("a short call's start and end", () => {
  it("a call that ends in its turn sends one task_done carrying its start", async () => {
    const { tasks, sent, nextTurn } = tasksOf({ add: (a, b) => (a as number) + (b as number) });
    const before = Date.now() / 1000;
    await tasks.executeFunction({
      type: "execute",
      id: "t1",
      name: "add",
      args: [1, 2],
      kwargs: {},
      background: true,
      attempt: 1,
    });
    nextTurn();
    expect(types(sent)).toEqual(["task_done t1"]);
    const done = sent[0] as TaskDoneMsg;
    expect(done).toMatchObject({ success: true, return_value: 3 });
    expect(done.time_start).toBeGreaterThanOrEqual(before);
    expect(done.time_stop).toBeGreaterThanOrEqual(done.time_start);
  });

  it("a call that fails in its turn sends one task_done too", async () => {
    const { tasks, sent, nextTurn } = tasksOf();
    await tasks.executeFunction({
      type: "execute",
      id: "t1",
      name: "missing",
      args: [],
      kwargs: {},
      background: true,
      attempt: 1,
    });
    nextTurn();
    expect(types(sent)).toEqual(["task_done t1"]);
    expect((sent[0] as TaskDoneMsg).msg).toContain("is not found");
  });

  it("a call still running at the next turn sends task_started then, with its start time", async () => {
    const { tasks, sent, nextTurn } = tasksOf();
    let finish = () => {};
    const gate = new Promise<void>((r) => (finish = r));
    const running = tasks.run(call("t1", () => gate));
    // Two calls begun in one turn: their starts go together at the next.
    const other = tasks.run(call("t2", () => gate));
    expect(sent).toEqual([]);
    nextTurn();
    expect(types(sent)).toEqual(["task_started t1", "task_started t2"]);
    finish();
    await Promise.all([running, other]);
    expect(types(sent).slice(2)).toEqual(["task_done t1", "task_done t2"]);
    const started = sent[0] as { time: number };
    expect((sent[2] as TaskDoneMsg).time_start).toBe(started.time);
  });

  it("progress or a subtask asked in the call's turn sends its start first", async () => {
    const { tasks, sent, nextTurn, asked } = tasksOf();
    await tasks.run(
      call("t1", (ctx) => {
        ctx.progress(50);
        ctx.message("half");
        return null;
      }),
    );
    void tasks.run(
      call("t2", (ctx) => {
        void ctx.subtask("child");
        return new Promise(() => {});
      }),
    );
    nextTurn();
    expect(asked).toEqual(["t2 child"]);
    expect(types(sent)).toEqual([
      "task_started t1",
      "task_progress t1",
      "task_progress t1",
      "task_done t1",
      "task_started t2",
      "subtask ",
    ]);
  });

  it("a cancel aborts the call's signal; its end says cancelled", async () => {
    const { tasks, sent } = tasksOf();
    const running = tasks.run(
      call(
        "t1",
        (ctx) =>
          new Promise((_r, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error)),
          ),
      ),
    );
    expect(tasks.runningIds).toEqual(["t1"]);
    tasks.cancel("t1", "asked by the user");
    await running;
    expect(sent.at(-1)).toMatchObject({ type: "task_done", id: "t1", cancelled: true });
    expect((sent.at(-1) as TaskDoneMsg).msg).toContain("asked by the user");
    expect(tasks.runningIds).toEqual([]);
  });
});
