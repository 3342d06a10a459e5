/**
 * The worker's slots (src/worker/slots.ts) with its subtasks (src/worker/subtasks.ts),
 * without a process: dealt-ahead tasks wait highest priority first, a cancel of a
 * waiting task is answered unrun, and a task awaiting subtasks lends its slot.
 */
import { describe, expect, it } from "vitest";
import type { ExecuteFunctionMsg, TaskDoneMsg, WorkerToManager } from "../../src/protocol/ipc.js";
import { Slots } from "../../src/worker/slots.js";
import { Subtasks } from "../../src/worker/subtasks.js";

/** Slots whose tasks run until the test ends them. */
function slotsOf(n: number) {
  const sent: WorkerToManager[] = [];
  const started: string[] = [];
  const ends = new Map<string, () => void>();
  const slots = new Slots({
    slots: n,
    send: (m) => sent.push(m),
    run: (m) => {
      started.push(m.id);
      return new Promise<void>((resolve) => ends.set(m.id, resolve));
    },
    outputBytes: () => 42,
  });
  /** Ends the running task `id` and lets the slots hear of it. */
  const end = async (id: string): Promise<void> => {
    const e = ends.get(id);
    if (!e) throw new Error(`${id} is not running`);
    ends.delete(id);
    e();
    await new Promise<void>((r) => setImmediate(r));
  };
  return { slots, sent, started, end };
}

function task(id: string, priority?: number, background = true): ExecuteFunctionMsg {
  return {
    type: "execute",
    id,
    name: "f",
    args: [],
    kwargs: {},
    background,
    attempt: 1,
    ...(priority !== undefined ? { priority } : {}),
  };
}

describe("dealt ahead", () => {
  it("tasks beyond the slots wait, highest priority first, dealing order among equals", async () => {
    const { slots, started, end } = slotsOf(1);
    slots.admit(task("x"));
    for (const [id, p] of [
      ["a", 0],
      ["b", 5],
      ["c", undefined],
      ["d", 5],
      ["e", 1],
    ] as const)
      slots.admit(task(id, p));
    expect(started).toEqual(["x"]);
    expect(slots.waitingIds).toEqual(["b", "d", "e", "a", "c"]);
    for (const id of ["x", "b", "d", "e", "a"]) await end(id);
    expect(started).toEqual(["x", "b", "d", "e", "a", "c"]);
    expect(slots.waitingIds).toEqual([]);
  });

  it("a foreground task never waits for a slot", () => {
    const { slots, started } = slotsOf(1);
    slots.admit(task("x"));
    slots.admit(task("fg", 0, false));
    expect(started).toEqual(["x", "fg"]);
    expect(slots.busy).toBe(2);
  });

  it("a cancel of a waiting task answers it cancelled, unrun; a running task is not its business", async () => {
    const { slots, sent, started, end } = slotsOf(1);
    slots.admit(task("x"));
    slots.admit(task("w"));
    expect(slots.cancelWaiting("x", "no")).toBe(false);
    expect(slots.cancelWaiting("w", "asked by the user")).toBe(true);
    expect(sent).toHaveLength(1);
    const done = sent[0] as TaskDoneMsg;
    expect(done).toMatchObject({
      type: "task_done",
      id: "w",
      success: false,
      cancelled: true,
      return_value: null,
      out: 42,
    });
    expect(done.msg).toContain("cancelled before it started: asked by the user");
    expect(done.time_stop).toBe(done.time_start);
    expect(slots.cancelWaiting("w", "again")).toBe(false);
    await end("x");
    expect(started).toEqual(["x"]);
    expect(slots.busy).toBe(0);
  });
});

describe("slot lending", () => {
  it("a task awaiting a subtask frees its slot for a waiting task and takes it back", async () => {
    const { slots, sent, started, end } = slotsOf(1);
    let n = 0;
    const subtasks = new Subtasks(
      (m) => sent.push(m),
      slots,
      () => `req${++n}`,
    );
    slots.admit(task("parent"));
    slots.admit(task("waiting"));
    slots.admit(task("later"));
    expect(started).toEqual(["parent"]);

    const child = subtasks.request("parent", new AbortController().signal, true, "g");
    // Lent: the first waiting task starts; the next still waits.
    expect(started).toEqual(["parent", "waiting"]);
    expect(slots.busy).toBe(1);
    expect(sent.at(-1)).toMatchObject({ type: "subtask", reqId: "req1", parent: "parent" });

    subtasks.onReply({ type: "subtask_reply", reqId: "req1", success: true, msg: "", uid: "c1" });
    expect(slots.busy).toBe(1);
    subtasks.onDone({
      type: "subtask_done",
      reqId: "req1",
      uid: "c1",
      state: "completed",
      msg: "",
      traceback: "",
      return_value: 7,
    });
    await expect(child).resolves.toBe(7);
    // Taken back, over the count a while: nothing more starts.
    expect(slots.busy).toBe(2);
    await end("waiting");
    expect(started).toEqual(["parent", "waiting"]);
    await end("parent");
    expect(started).toEqual(["parent", "waiting", "later"]);
    await end("later");
    expect(slots.busy).toBe(0);
  });

  it("a task awaiting two subtasks lends its slot once and takes it back after the last", async () => {
    const { slots, sent, started, end } = slotsOf(1);
    let n = 0;
    const subtasks = new Subtasks(
      (m) => sent.push(m),
      slots,
      () => `req${++n}`,
    );
    slots.admit(task("parent"));
    const signal = new AbortController().signal;
    const one = subtasks.request("parent", signal, true, "g");
    const two = subtasks.request("parent", signal, true, "g");
    expect(slots.busy).toBe(0);
    slots.admit(task("other"));
    expect(started).toEqual(["parent", "other"]);
    for (const [reqId, uid] of [
      ["req1", "c1"],
      ["req2", "c2"],
    ] as const) {
      subtasks.onReply({ type: "subtask_reply", reqId, success: true, msg: "", uid });
    }
    subtasks.onDone({
      type: "subtask_done",
      reqId: "req1",
      uid: "c1",
      state: "completed",
      msg: "",
      traceback: "",
      return_value: 1,
    });
    await one;
    expect(slots.busy).toBe(1);
    subtasks.onDone({
      type: "subtask_done",
      reqId: "req2",
      uid: "c2",
      state: "completed",
      msg: "",
      traceback: "",
      return_value: 2,
    });
    await two;
    expect(slots.busy).toBe(2);
    await end("other");
    await end("parent");
    expect(slots.busy).toBe(0);
  });

  it("a task that ends while its slot is lent gives back nothing; its open requests go", async () => {
    const { slots, sent, started, end } = slotsOf(1);
    const subtasks = new Subtasks(
      (m) => sent.push(m),
      slots,
      () => "req1",
    );
    slots.admit(task("parent"));
    void subtasks.request("parent", new AbortController().signal, true, "g");
    expect(slots.busy).toBe(0);
    subtasks.dropOf("parent");
    expect(subtasks.open).toBe(0);
    await end("parent");
    expect(slots.busy).toBe(0);
    slots.admit(task("next"));
    expect(started).toEqual(["parent", "next"]);
  });

  it("a subtask not awaited lends nothing", () => {
    const { slots, sent, started } = slotsOf(1);
    const subtasks = new Subtasks(
      (m) => sent.push(m),
      slots,
      () => "req1",
    );
    slots.admit(task("parent"));
    slots.admit(task("waiting"));
    void subtasks.request("parent", new AbortController().signal, false, "g");
    expect(started).toEqual(["parent"]);
    expect(slots.busy).toBe(1);
  });
});
