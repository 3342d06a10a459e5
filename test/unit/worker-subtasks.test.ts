/**
 * The worker's subtask requests (src/worker/subtasks.ts) without a process:
 * each answer settles the request it names, and only that one.
 */
import { describe, expect, it } from "vitest";
import type { SubtaskDoneMsg, WorkerToManager } from "../../src/protocol/ipc.js";
import { SubtaskError } from "../../src/worker/api.js";
import type { SlotLending } from "../../src/worker/slots.js";
import { Subtasks } from "../../src/worker/subtasks.js";

/** Slots that hold nothing (a plan's requests, a foreground task's). */
const NO_SLOT: SlotLending = { lend: () => false, reclaim: () => {} };

function subtasksOf(slots: SlotLending = NO_SLOT) {
  const sent: WorkerToManager[] = [];
  let n = 0;
  const subtasks = new Subtasks(
    (m) => sent.push(m),
    slots,
    () => `req${++n}`,
  );
  return { subtasks, sent };
}

function done(reqId: string, uid: string, over: Partial<SubtaskDoneMsg> = {}): SubtaskDoneMsg {
  return {
    type: "subtask_done",
    reqId,
    uid,
    state: "completed",
    msg: "",
    traceback: "",
    return_value: null,
    ...over,
  };
}

const never = () => new AbortController().signal;

describe("subtask requests", () => {
  it("sends each request with its own reqId, as plain data", () => {
    const { subtasks, sent } = subtasksOf();
    void subtasks.request("p", never(), true, "f", [1, new Date(0)], { k: "v" }, { timeout: 2 });
    void subtasks.request("p", never(), false, "g");
    expect(sent).toEqual([
      {
        type: "subtask",
        reqId: "req1",
        parent: "p",
        name: "f",
        args: [1, new Date(0).toISOString()],
        kwargs: { k: "v" },
        options: { timeout: 2 },
        wait: true,
      },
      {
        type: "subtask",
        reqId: "req2",
        parent: "p",
        name: "g",
        args: [],
        kwargs: {},
        options: {},
        wait: false,
      },
    ]);
  });

  it("answers settle the request they name, with the child they name", async () => {
    const { subtasks } = subtasksOf();
    const a = subtasks.request("p", never(), true, "f");
    const b = subtasks.request("p", never(), true, "f");
    const settled: string[] = [];
    void a.then(() => settled.push("a"));
    void b.then(() => settled.push("b"));
    subtasks.onReply({ type: "subtask_reply", reqId: "req2", success: true, msg: "", uid: "cb" });
    subtasks.onReply({ type: "subtask_reply", reqId: "req1", success: true, msg: "", uid: "ca" });
    // A done naming another child, or an unknown request, is ignored.
    subtasks.onDone(done("req2", "ca", { return_value: "wrong" }));
    subtasks.onDone(done("req9", "cb"));
    subtasks.onDone(done("req2", "cb", { return_value: "B" }));
    await expect(b).resolves.toBe("B");
    expect(settled).toEqual(["b"]);
    expect(subtasks.open).toBe(1);
    subtasks.onDone(done("req1", "ca", { return_value: "A" }));
    await expect(a).resolves.toBe("A");
    expect(subtasks.open).toBe(0);
  });

  it("a subtask not awaited resolves with the child's uid at the reply", async () => {
    const { subtasks } = subtasksOf();
    const p = subtasks.request("p", never(), false, "f");
    subtasks.onReply({ type: "subtask_reply", reqId: "req1", success: true, msg: "", uid: "c" });
    await expect(p).resolves.toBe("c");
    expect(subtasks.open).toBe(0);
  });

  it("a refusal and a failed child reject with a SubtaskError saying why", async () => {
    const { subtasks } = subtasksOf();
    const refused = subtasks.request("p", never(), true, "f");
    const failed = subtasks.request("p", never(), true, "f");
    subtasks.onReply({
      type: "subtask_reply",
      reqId: "req1",
      success: false,
      msg: "no such function",
      uid: null,
    });
    await expect(refused).rejects.toThrow("The subtask was refused: no such function");
    subtasks.onReply({ type: "subtask_reply", reqId: "req2", success: true, msg: "", uid: "c" });
    subtasks.onDone(done("req2", "c", { state: "timed_out", msg: "too long", traceback: "tb" }));
    const err = (await failed.catch((e: unknown) => e)) as SubtaskError;
    expect(err).toBeInstanceOf(SubtaskError);
    expect(err).toMatchObject({ taskUid: "c", state: "timed_out", traceback: "tb" });
    expect(err.message).toBe("Subtask 'c' ended timed_out: too long");
  });

  it("the parent's stop rejects its open request and gives its slot back", async () => {
    const calls: string[] = [];
    const { subtasks } = subtasksOf({
      lend: (p) => (calls.push(`lend ${p}`), true),
      reclaim: (p) => void calls.push(`reclaim ${p}`),
    });
    const ac = new AbortController();
    const p = subtasks.request("p", ac.signal, true, "f");
    ac.abort(new Error("cancelled by the user"));
    await expect(p).rejects.toThrow("The task was stopped: cancelled by the user");
    expect(calls).toEqual(["lend p", "reclaim p"]);
    expect(subtasks.open).toBe(0);
    // A stopped task asks for nothing more.
    await expect(subtasks.request("p", ac.signal, true, "f")).rejects.toThrow("was stopped");
  });

  it("the parent's end forgets its open requests (later answers change nothing)", () => {
    const { subtasks } = subtasksOf();
    let settled = false;
    void subtasks.request("p", never(), true, "f").finally(() => (settled = true));
    void subtasks.request("q", never(), true, "f");
    subtasks.dropOf("p");
    expect(subtasks.open).toBe(1);
    subtasks.onReply({ type: "subtask_reply", reqId: "req1", success: true, msg: "", uid: "c" });
    subtasks.onDone(done("req1", "c"));
    expect(settled).toBe(false);
  });
});
