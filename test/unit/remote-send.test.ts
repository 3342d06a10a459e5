/**
 * WorkerSender (src/manager/workers/remote-send.ts) over a fake socket: the
 * tasks dealt to a worker in one turn go as one message at its end, the task
 * ends acknowledged in the turn riding on it, and anything else sent to that
 * worker in the turn comes after them.
 */
import type { Router } from "zeromq";
import { describe, expect, it } from "vitest";
import type { ExecuteFunctionMsg } from "../../src/protocol/ipc.js";
import { decode, encode } from "../../src/protocol/index.js";
import { WorkerSender, type SendTarget } from "../../src/manager/workers/remote-send.js";

function fakeRouter(): { router: Router; sent: { to: string; msg: Record<string, unknown> }[] } {
  const sent: { to: string; msg: Record<string, unknown> }[] = [];
  const router = {
    send: (frames: Buffer[]) => {
      const [route, body] = frames as [Buffer, Buffer];
      sent.push({ to: route.toString(), msg: decode(body, "msgpack") as Record<string, unknown> });
      return Promise.resolve();
    },
  } as unknown as Router;
  return { router, sent };
}

/** A sender over a fake socket, and what it handed to the socket. */
function sender(): { s: WorkerSender; sent: { to: string; msg: Record<string, unknown> }[] } {
  const { router, sent } = fakeRouter();
  const s = new WorkerSender(router, (err) => {
    throw err;
  });
  return { s, sent };
}

function task(id: string): ExecuteFunctionMsg {
  return { type: "execute", id, name: "noop", args: [], kwargs: {}, background: true, attempt: 1 };
}

function worker(name: string, wire = 2): SendTarget {
  return { routeBuf: Buffer.from(name), wire, lastSentAt: 0 };
}

const turn = () => new Promise((r) => setImmediate(r));
/** Every message handed to the fake socket (its sends resolve at once, one per microtask). */
const settled = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe("WorkerSender", () => {
  it("sends the tasks dealt to a worker in one turn as one execute_batch, at the end of the turn", async () => {
    const { s, sent } = sender();
    const a = worker("a");
    const b = worker("b");
    s.sendTasks(a, [task("t1")]);
    s.sendTasks(b, [task("t2")]);
    s.sendTasks(a, [task("t3"), task("t4")]);
    await settled();
    expect(sent).toEqual([]);
    expect(a.lastSentAt).toBeGreaterThan(0);
    await turn();
    await settled();
    expect(sent.map((m) => [m.to, m.msg.type])).toEqual([
      ["a", "execute_batch"],
      ["b", "execute"],
    ]);
    const batch = sent[0]?.msg.tasks as { id: string }[];
    expect(batch.map((t) => t.id)).toEqual(["t1", "t3", "t4"]);
    s.close();
  });

  it("sends a worker's dealt tasks before anything else sent to it in the turn", async () => {
    const { s, sent } = sender();
    const a = worker("a");
    const b = worker("b");
    s.sendTasks(a, [task("t1"), task("t2")]);
    s.sendTasks(b, [task("t3")]);
    s.send(a, { type: "cancel", id: "t1", reason: "asked" });
    s.sendEncoded(b, encode({ type: "heartbeat" }, "msgpack"), 5);
    await settled();
    expect(sent.map((m) => [m.to, m.msg.type])).toEqual([
      ["a", "execute_batch"],
      ["a", "cancel"],
      ["b", "execute"],
      ["b", "heartbeat"],
    ]);
    expect(b.lastSentAt).toBe(5);
    await turn();
    await settled();
    expect(sent).toHaveLength(4);
    s.close();
  });

  it("sends one message a task to an agent of wire 1", async () => {
    const { s, sent } = sender();
    s.sendTasks(worker("old", 1), [task("t1"), task("t2")]);
    await turn();
    await settled();
    expect(sent.map((m) => [m.msg.type, m.msg.id])).toEqual([
      ["execute", "t1"],
      ["execute", "t2"],
    ]);
    s.close();
  });
  it("acknowledges task ends on the worker's tasks of the turn, else in one ack", async () => {
    const { s, sent } = sender();
    const a = worker("a", 3);
    const b = worker("b", 3);
    s.ack(a, ["e1"]);
    s.sendTasks(a, [task("t1")]);
    s.ack(a, ["e2"]);
    s.ack(b, ["e3", "e4"]);
    await turn();
    await settled();
    expect(sent.map((m) => [m.to, m.msg.type, m.msg.acked])).toEqual([
      ["a", "execute_batch", ["e1", "e2"]],
      ["b", "ack", ["e3", "e4"]],
    ]);
    expect((sent[0]?.msg.tasks as { id: string }[]).map((t) => t.id)).toEqual(["t1"]);
    s.close();
  });
});
