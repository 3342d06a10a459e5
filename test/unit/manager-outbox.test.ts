/**
 * What a worker agent says to its manager (manager-outbox.ts), over a fake
 * connection: a turn's reports go as one message, the others in their place,
 * a hello at once after what was said before it; the ends a message holds are
 * kept once the socket took it; a change of manager keeps only the reports,
 * which go after the new hello.
 */
import { describe, expect, it } from "vitest";
import type { AgentMessage } from "../../src/protocol/worker-wire.js";
import { decodeWire, agentMessageSchema } from "../../src/protocol/worker-wire.js";
import type { TaskEnd } from "../../src/remote-worker/kept-ends.js";
import { ManagerOutbox, type OutboxConnection } from "../../src/remote-worker/manager-outbox.js";

/** A connection that takes each message when `release()` is called (or at once). */
class FakeConnection implements OutboxConnection {
  closed = false;
  readonly sent: AgentMessage[] = [];
  private waiting: (() => void)[] = [];
  constructor(private readonly atOnce = true) {}
  send(body: Buffer): Promise<void> {
    const r = decodeWire(body, agentMessageSchema);
    if (!r.ok) throw new Error(r.error);
    return new Promise((resolve) => {
      const take = () => {
        this.sent.push(r.msg);
        resolve();
      };
      if (this.atOnce) take();
      else this.waiting.push(take);
    });
  }
  release(): void {
    this.waiting.shift()?.();
  }
}

const turn = () => new Promise((r) => setImmediate(r));

function end(id: string): TaskEnd {
  return {
    type: "task_done",
    id,
    attempt: 1,
    success: true,
    msg: "",
    traceback: "",
    return_value: null,
    time_start: 1,
    time_stop: 2,
  };
}
const started = (id: string): AgentMessage => ({ type: "task_started", id, time: 1 });
const HEARTBEAT: AgentMessage = { type: "heartbeat", busy: 0 };
const HELLO = {
  type: "hello",
  name: "w",
  instance: "0123456789",
  hostname: "h",
  pid: 1,
  slots: 1,
  tags: [],
  version: "0",
  functions: {},
} as const satisfies AgentMessage;

function outbox(conn: () => FakeConnection | undefined) {
  const kept: string[] = [];
  const o = new ManagerOutbox({
    connection: conn,
    kept: { sent: (ends) => kept.push(...ends.map((e) => e.id)) },
  });
  return { o, kept };
}

describe("what a worker agent says to its manager", () => {
  it("a turn's reports in a row go as one message, the others in their place", async () => {
    const c = new FakeConnection();
    const { o, kept } = outbox(() => c);
    o.send(started("a"));
    o.send(end("a"));
    o.send(HEARTBEAT);
    o.send(end("b"));
    expect(c.sent).toEqual([]);
    await turn();
    await turn();
    expect(c.sent.map((m) => m.type)).toEqual(["reports", "heartbeat", "task_done"]);
    expect(c.sent[0]).toMatchObject({ reports: [{ type: "task_started" }, { type: "task_done" }] });
    expect(kept).toEqual(["a", "b"]);
    expect(o.empty).toBe(true);
  });

  it("a hello goes at once, after what was said before it in the turn", async () => {
    const c = new FakeConnection();
    const { o } = outbox(() => c);
    o.send(end("a"));
    o.send(HELLO);
    await turn();
    expect(c.sent.map((m) => m.type)).toEqual(["task_done", "hello"]);
  });

  it("an end is kept once the socket took its message, not before", async () => {
    const c = new FakeConnection(false);
    const { o, kept } = outbox(() => c);
    o.send(end("a"));
    await turn();
    expect(kept).toEqual([]);
    expect(o.empty).toBe(false);
    c.release();
    await turn();
    expect(kept).toEqual(["a"]);
    expect(o.empty).toBe(true);
  });

  it("a change of manager keeps only the reports not yet taken, after the new hello", async () => {
    const before = new FakeConnection(false);
    let conn = before;
    const { o, kept } = outbox(() => conn);
    o.send(HEARTBEAT);
    o.send(end("a"));
    await turn();
    // The old connection never takes them (its manager is gone).
    const after = new FakeConnection();
    o.changeManager(() => {
      conn = after;
      o.send(HELLO);
    });
    before.release(); // the heartbeat, taken by the old socket meanwhile
    await turn();
    await turn();
    expect(after.sent.map((m) => m.type)).toEqual(["hello", "task_done"]);
    // Kept when the new socket took it (not when the old one did: the heartbeat held no end).
    expect(kept).toEqual(["a"]);
  });

  it("says nothing without a connection, or on a closed one", async () => {
    const c = new FakeConnection();
    c.closed = true;
    const at: { conn?: FakeConnection } = {};
    const { o } = outbox(() => at.conn);
    o.send(end("a"));
    at.conn = c;
    o.send(end("b"));
    await turn();
    expect(c.sent).toEqual([]);
    expect(o.empty).toBe(true);
  });
});
