/**
 * What the remote pool sends its workers on its one ROUTER socket: each
 * message encoded and queued (rpc/sendqueue.ts), the time of the last send
 * kept on the worker (a heartbeat is due only after a silence), and the
 * tasks dealt to a worker in one turn of the event loop (one deal or many:
 * the requests read in a turn are dealt one by one) as one `execute_batch` at
 * its end, to an agent that speaks wire 2. Anything else sent to that worker
 * first sends its tasks, so the order of its messages is kept.
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
  /** Tasks dealt in this turn, by worker, sent at its end. */
  private readonly dealt = new Map<SendTarget, ExecuteFunctionMsg[]>();
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
    for (const w of this.dealt.keys()) if (w.routeBuf.equals(route)) this.sendDealt(w);
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
    const pending = this.dealt.get(w);
    if (pending) for (const t of tasks) pending.push(t);
    else this.dealt.set(w, [...tasks]);
    w.lastSentAt = Date.now();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      for (const w of [...this.dealt.keys()]) this.sendDealt(w);
    });
  }

  /** The tasks dealt to `w` and not sent yet: one `execute_batch` from wire 2, else one message each. */
  private sendDealt(w: SendTarget): void {
    const tasks = this.dealt.get(w);
    if (tasks === undefined) return;
    this.dealt.delete(w);
    if (tasks.length > 1 && w.wire >= 2) {
      this.queue.send([w.routeBuf, encodeWire({ type: "execute_batch", tasks })]);
    } else {
      for (const t of tasks) this.queue.send([w.routeBuf, encodeWire(t)]);
    }
  }

  close(): void {
    this.dealt.clear();
    this.queue.close();
  }
}
