/**
 * What the remote pool sends its workers on its one ROUTER socket: each
 * message encoded and queued (rpc/sendqueue.ts), the time of the last send
 * kept on the worker (a heartbeat is due only after a silence), and the
 * tasks of one deal as one `execute_batch` to an agent that speaks wire 2
 * (with the task ends acknowledged riding on it, wire 3).
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

  constructor(router: Router, onError: (err: unknown) => void) {
    this.queue = new SendQueue(router, onError);
  }

  send(w: SendTarget, msg: ManagerMessage | ExecuteFunctionMsg | SubtaskNotice): void {
    w.lastSentAt = Date.now();
    this.sendTo(w.routeBuf, msg);
  }

  /** To a connection (a worker not known by it yet, or no longer). */
  sendTo(route: Buffer, msg: ManagerMessage): void {
    this.queue.send([route, encodeWire(msg)]);
  }

  /** A message encoded already (the heartbeat of the current pace), sent at `now`. */
  sendEncoded(w: SendTarget, body: Buffer, now: number): void {
    w.lastSentAt = now;
    this.queue.send([w.routeBuf, body]);
  }

  /**
   * The tasks of one deal: one `execute_batch` from wire 2, else one message
   * each; with the task ends to acknowledge (`acked`, wire 3) riding on it.
   */
  sendTasks(w: SendTarget, tasks: readonly ExecuteFunctionMsg[], acked?: string[]): void {
    const [first] = tasks;
    if (first === undefined) return;
    if (acked && acked.length > 0)
      this.send(w, { type: "execute_batch", tasks: [...tasks], acked });
    else if (tasks.length === 1) this.send(w, first);
    else if (w.wire >= 2) this.send(w, { type: "execute_batch", tasks: [...tasks] });
    else for (const t of tasks) this.send(w, t);
  }

  close(): void {
    this.queue.close();
  }
}
