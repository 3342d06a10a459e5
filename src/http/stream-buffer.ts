/**
 * A bounded buffer per stream client (SSE or WebSocket). What the gateway
 * writes to a client waits in that client's socket buffer until the client
 * reads it; a client that does not read would otherwise keep every event ever
 * published in the gateway's memory. Here an event is written only while the
 * client's unsent bytes are below the limit (`--stream-buffer`); past it,
 * events are dropped and counted, and once the client has read its backlog
 * down to half the limit it gets one marker saying how many it missed (then
 * the stream goes on). A client that never reads again costs at most the
 * limit plus one event.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Where a stream writes: an SSE response or a WebSocket. */
export interface StreamSink {
  /** Bytes written and not yet handed to the network (the socket's own buffer). */
  readonly buffered: number;
  /** False once the client is gone. */
  readonly open: boolean;
  write(data: string): void;
}

export interface BoundedStreamOptions<E> {
  /** Unsent bytes past which events are dropped (`--stream-buffer`). */
  limit: number;
  format(e: E): string;
  /**
   * What tells the client that `count` events were dropped, written when room
   * is back (one write each: a WebSocket frame each).
   */
  marker(count: number): string[];
  /** How often to look whether a dropping client has read its backlog (ms). */
  pollMs?: number;
}

/** The default of `--stream-buffer`: unsent bytes kept for one stream client. */
export const DEFAULT_STREAM_BUFFER = 1024 * 1024;
const POLL_MS = 250;

export class BoundedStream<E> {
  /** Events dropped since the last marker. */
  private pending = 0;
  /** Events dropped over the stream's life. */
  droppedTotal = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sink: StreamSink,
    private readonly opts: BoundedStreamOptions<E>,
  ) {}

  /** Whether the stream drops events now (its client is behind). */
  get dropping(): boolean {
    return this.pending > 0;
  }

  push(e: E): void {
    if (this.closed || !this.sink.open) return;
    if (this.pending > 0) this.resumeIfRoom();
    if (this.pending > 0 || this.sink.buffered >= this.opts.limit) {
      this.drop();
      return;
    }
    this.sink.write(this.opts.format(e));
  }

  private drop(): void {
    this.pending++;
    this.droppedTotal++;
    if (this.timer) return;
    this.timer = setInterval(() => this.resumeIfRoom(), this.opts.pollMs ?? POLL_MS);
    this.timer.unref();
  }

  /** Once the backlog is down to half the limit: the marker, and the stream goes on. */
  private resumeIfRoom(): void {
    if (this.closed || !this.sink.open) {
      this.close();
      return;
    }
    if (this.sink.buffered > this.opts.limit / 2) return;
    const count = this.pending;
    this.pending = 0;
    this.stopTimer();
    for (const m of this.opts.marker(count)) this.sink.write(m);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The client left: nothing more is kept for it. */
  close(): void {
    this.closed = true;
    this.pending = 0;
    this.stopTimer();
  }
}

/** An SSE response as a sink. */
export function responseSink(res: ServerResponse<IncomingMessage>): StreamSink {
  return {
    get buffered() {
      return res.writableLength;
    },
    get open() {
      return !res.destroyed && !res.writableEnded;
    },
    write: (data) => void res.write(data),
  };
}

/** What the gateway uses of a WebSocket (the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  send(data: string): void;
}

/** A WebSocket as a sink (one text frame per write). */
export function webSocketSink(ws: WebSocketLike): StreamSink {
  return {
    get buffered() {
      return ws.bufferedAmount;
    },
    get open() {
      return ws.readyState === ws.OPEN;
    },
    write: (data) => ws.send(data),
  };
}
