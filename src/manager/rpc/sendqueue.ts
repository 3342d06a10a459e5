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

  constructor(
    private readonly socket: Router | Publisher,
    private readonly onError: (err: unknown) => void,
  ) {}

  send(frames: Frames): void {
    if (this.closed) return;
    this.queue.push(frames);
    if (!this.busy) void this.drain();
  }

  get length(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      let frames: Frames | undefined;
      while ((frames = this.queue.shift()) !== undefined) {
        if (this.closed) break;
        try {
          await this.socket.send(frames);
        } catch (err) {
          if (this.closed) break;
          this.onError(err);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }
}
