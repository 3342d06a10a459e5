/**
 * zeromq.js allows one pending send per socket: sends are queued here and
 * written one after another. Messages for peers that are gone are dropped by
 * the socket itself, so a send never waits for a client.
 */
import type { Publisher, Router } from "zeromq";

type Frames = (Buffer | string)[];

export class SendQueue {
  private readonly queue: Frames[] = [];
  private busy = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** When the socket last took a message (performance.now(); -Infinity: never). */
  lastSentAt = -Infinity;

  constructor(
    private readonly socket: Router | Publisher,
    private readonly onError: (err: unknown) => void,
  ) {}

  send(frames: Frames): void {
    if (this.closed) return;
    this.queue.push(frames);
    if (!this.busy) void this.drain();
  }

  /** Messages not yet handed to the socket: queued, or the one being sent. */
  get length(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /**
   * Resolves once every message sent so far is handed to the socket. A send
   * may wait for the socket's next poll (a turn of the event loop), so "the
   * queue is empty" is not enough before the socket closes: the message being
   * sent would be dropped.
   */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      let frames: Frames | undefined;
      while ((frames = this.queue.shift()) !== undefined) {
        if (this.closed) break;
        try {
          await this.socket.send(frames);
          this.lastSentAt = performance.now();
        } catch (err) {
          if (this.closed) break;
          this.onError(err);
        }
      }
    } finally {
      this.busy = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
