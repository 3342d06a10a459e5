/**
 * The control socket's send queue: a message being sent counts as pending until
 * the socket took it, so that closing after `idle()` drops nothing (the reply
 * to manager_stop was lost on a busy machine when a send waited for the
 * socket's next poll while the manager closed it).
 */
import { describe, expect, it } from "vitest";
import type { Router } from "zeromq";
import { SendQueue } from "../../src/manager/rpc/sendqueue.js";

/** A socket whose sends complete only when the test says. */
function slowSocket() {
  const sent: string[] = [];
  const waiting: (() => void)[] = [];
  const socket = {
    send: (frames: (Buffer | string)[]) =>
      new Promise<void>((resolve) =>
        waiting.push(() => {
          sent.push(String(frames[frames.length - 1]));
          resolve();
        }),
      ),
  };
  return { socket: socket as unknown as Router, sent, waiting };
}

describe("SendQueue", () => {
  it("counts the message being sent, and idle() waits until the socket took every message", async () => {
    const s = slowSocket();
    const q = new SendQueue(s.socket, (err) => {
      throw err;
    });
    q.send(["a"]);
    q.send(["b"]);
    expect(q.length).toBe(2); // one being sent, one queued
    let idle = false;
    const done = q.idle().then(() => (idle = true));
    s.waiting.shift()?.();
    await new Promise((r) => setImmediate(r));
    expect(s.sent).toEqual(["a"]);
    expect(q.length).toBe(1);
    expect(idle).toBe(false);
    s.waiting.shift()?.();
    await done;
    expect(s.sent).toEqual(["a", "b"]);
    expect(q.length).toBe(0);
    expect(q.lastSentAt).toBeGreaterThan(-Infinity);
    await q.idle(); // at once when nothing is pending
  });

  it("close() releases whoever waits for idle", async () => {
    const s = slowSocket();
    const q = new SendQueue(s.socket, () => undefined);
    q.send(["a"]);
    const done = q.idle();
    q.close();
    await done;
    expect(s.sent).toEqual([]);
    expect(q.lastSentAt).toBe(-Infinity);
  });
});
