/**
 * What the remote pool sends its workers on its one ROUTER socket: each
 * message encoded and queued (rpc/sendqueue.ts), the time of the last send
 * kept on the worker (a heartbeat is due only after a silence), and the
 * tasks dealt to a worker in one turn of the event loop (one deal or many:
 * the requests read in a turn are dealt one by one) as one `execute_batch` at
 * its end, to an agent that speaks wire 2, with the task ends acknowledged
 * in the turn riding on it (wire 3; alone, one `ack`). Anything else sent to
 * that worker first sends those, so the order of its messages is kept.
 */
import type { Router } from "zeromq";
import type { ExecuteFunctionMsg } from "../../protocol/ipc.js";
import type { ManagerMessage } from "../../protocol/worker-wire.js";
import { encodeWire } from "../../protocol/worker-wire.js";
import { SendQueue } from "../rpc/sendqueue.js";
import type { SubtaskNotice } from "./pool.js";

/** A worker as sending needs it: its connection, its wire version, its last send. */
export interface SendTarget {
  routeBuf: Buffer;
  wire: number;
  lastSentAt: number;
}

export class WorkerSender {
  private readonly queue: SendQueue;
  /** Tasks dealt and task ends acknowledged in this turn, by worker, sent at its end. */
  private readonly outgoing = new Map<
    SendTarget,
    { tasks: ExecuteFunctionMsg[]; acked: string[] }
  >();
  private flushScheduled = false;

  constructor(router: Router, onError: (err: unknown) => void) {
    this.queue = new SendQueue(router, onError);
  }

  send(w: SendTarget, msg: ManagerMessage | ExecuteFunctionMsg | SubtaskNotice): void {
    this.sendDealt(w);
    w.lastSentAt = Date.now();
    this.queue.send([w.routeBuf, encodeWire(msg)]);
  }

  /** To a connection (a worker not known by it yet, or no longer). */
  sendTo(route: Buffer, msg: ManagerMessage): void {
    for (const w of this.outgoing.keys()) if (w.routeBuf.equals(route)) this.sendDealt(w);
    this.queue.send([route, encodeWire(msg)]);
  }

  /** A message encoded already (the heartbeat of the current pace), sent at `now`. */
  sendEncoded(w: SendTarget, body: Buffer, now: number): void {
    this.sendDealt(w);
    w.lastSentAt = now;
    this.queue.send([w.routeBuf, body]);
  }

  /** Tasks dealt to `w`: sent at the end of this turn with the others dealt to it in the turn. */
  sendTasks(w: SendTarget, tasks: readonly ExecuteFunctionMsg[]): void {
    if (tasks.length === 0) return;
    const out = this.pending(w);
    for (const t of tasks) out.tasks.push(t);
    w.lastSentAt = Date.now();
  }

  /** Task ends acknowledged to `w` (wire 3): on its tasks of this turn, else one `ack` at its end. */
  ack(w: SendTarget, uids: readonly string[]): void {
    if (uids.length === 0) return;
    const out = this.pending(w);
    for (const u of uids) out.acked.push(u);
  }

  private pending(w: SendTarget): { tasks: ExecuteFunctionMsg[]; acked: string[] } {
    let out = this.outgoing.get(w);
    if (!out) this.outgoing.set(w, (out = { tasks: [], acked: [] }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        for (const w of [...this.outgoing.keys()]) this.sendDealt(w);
      });
    }
    return out;
  }

  /**
   * What this turn has for `w`, sent now: its tasks as one `execute_batch`
   * from wire 2 (else one message each), the acks riding on it; acks alone as
   * one `ack`.
   */
  private sendDealt(w: SendTarget): void {
    const out = this.outgoing.get(w);
    if (out === undefined) return;
    this.outgoing.delete(w);
    const { tasks, acked } = out;
    const route = w.routeBuf;
    if (tasks.length === 0) {
      this.queue.send([route, encodeWire({ type: "ack", acked })]);
    } else if (acked.length > 0) {
      this.queue.send([route, encodeWire({ type: "execute_batch", tasks, acked })]);
    } else if (tasks.length > 1 && w.wire >= 2) {
      this.queue.send([route, encodeWire({ type: "execute_batch", tasks })]);
    } else {
      for (const t of tasks) this.queue.send([route, encodeWire(t)]);
    }
  }

  close(): void {
    this.outgoing.clear();
    this.queue.close();
  }
}
