/**
 * The gateway's push streams, each a bounded stream (stream-buffer.ts) of the
 * event hub's events: which events a route carries, how each is framed, and
 * what a client that fell behind gets once it reads again.
 *
 * - `/api/events` (SSE): `event: dropped` with `{"count": N, "limit": BYTES}`,
 *   then the latest status; (WebSocket) a `{"type": "dropped", "payload":
 *   {"count", "limit"}}` frame, then the latest status.
 * - `/api/console_output/ws`: a console frame `{"time", "msg": "... N console
 *   messages dropped ..."}` (the Python client's shape).
 * - `/api/info/ws`: the latest status (a status is a snapshot: nothing else is
 *   missing).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventHub, GatewayEvent } from "./events.js";
import type { WebSocketLike } from "./stream-buffer.js";
import { BoundedStream, responseSink, webSocketSink } from "./stream-buffer.js";

export type WsStreamKind = "events" | "console" | "info";

/** The words a client reads when its stream dropped events. */
export function droppedText(count: number, limit: number): string {
  return (
    `... ${count} console message(s) dropped: this client read too slowly ` +
    `(more than --stream-buffer ${limit} bytes waited for it)\n`
  );
}

function statusFrames(hub: EventHub, frame: (e: GatewayEvent) => unknown): string[] {
  return hub.lastStatus === undefined
    ? []
    : [JSON.stringify(frame({ type: "status", payload: hub.lastStatus }))];
}

const WS_KINDS: Record<
  WsStreamKind,
  {
    types: GatewayEvent["type"][];
    frame: (e: GatewayEvent) => unknown;
    marker: (hub: EventHub, count: number, limit: number) => string[];
  }
> = {
  events: {
    types: ["status", "task", "console"],
    frame: (e) => e,
    marker: (hub, count, limit) => [
      JSON.stringify({ type: "dropped", payload: { count, limit } }),
      ...statusFrames(hub, (e) => e),
    ],
  },
  console: {
    types: ["console"],
    frame: (e) => e.payload,
    marker: (_hub, count, limit) => [
      JSON.stringify({ time: Date.now() / 1000, msg: droppedText(count, limit) }),
    ],
  },
  info: {
    types: ["status"],
    frame: (e) => e.payload,
    marker: (hub) => statusFrames(hub, (e) => e.payload),
  },
};

/** What a stream needs of the gateway's WebSocket (the `ws` package's). */
export interface StreamSocket extends WebSocketLike {
  on(event: "close" | "error", fn: () => void): void;
}

/** Serve one WebSocket client: the latest status first (where it carries statuses), then events. */
export function serveWebSocket(
  hub: EventHub,
  socket: StreamSocket,
  kind: WsStreamKind,
  limit: number,
): void {
  const k = WS_KINDS[kind];
  const stream = new BoundedStream<GatewayEvent>(webSocketSink(socket), {
    limit,
    format: (e) => JSON.stringify(k.frame(e)),
    marker: (count) => k.marker(hub, count, limit),
  });
  const off = hub.subscribe((e) => {
    if (k.types.includes(e.type)) stream.push(e);
  });
  const end = () => {
    off();
    stream.close();
  };
  socket.on("close", end);
  socket.on("error", end);
  if (k.types.includes("status") && hub.lastStatus !== undefined) {
    stream.push({ type: "status", payload: hub.lastStatus });
  }
}

function sseBlock(e: GatewayEvent | { type: "dropped"; payload: unknown }): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e.payload)}\n\n`;
}

/**
 * Serve `/api/events` as Server-Sent Events on a response whose head is
 * written: `event: status|task|console|dropped`, `data: <json>`. Returns what
 * to call when the client leaves.
 */
export function serveSse(
  hub: EventHub,
  res: ServerResponse<IncomingMessage>,
  limit: number,
): () => void {
  const stream = new BoundedStream<GatewayEvent>(responseSink(res), {
    limit,
    format: sseBlock,
    marker: (count) => [
      sseBlock({ type: "dropped", payload: { count, limit } }),
      ...(hub.lastStatus === undefined
        ? []
        : [sseBlock({ type: "status", payload: hub.lastStatus })]),
    ],
  });
  res.write(": zqs events\n\n");
  if (hub.lastStatus !== undefined) stream.push({ type: "status", payload: hub.lastStatus });
  const off = hub.subscribe((e) => stream.push(e));
  return () => {
    off();
    stream.close();
  };
}
