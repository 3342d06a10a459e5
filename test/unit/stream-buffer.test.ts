/**
 * The per-client buffer policy of the gateway's streams (stream-buffer.ts),
 * with a fake socket whose unsent bytes the test sets: events past the limit
 * are dropped and counted, one marker comes once the client has read down to
 * half the limit, and a client that left keeps nothing.
 */
import { describe, expect, it } from "vitest";
import type { StreamSink } from "../../src/http/stream-buffer.js";
import { BoundedStream } from "../../src/http/stream-buffer.js";
import { waitUntil } from "../helpers/wait.js";

class FakeSocket implements StreamSink {
  buffered = 0;
  open = true;
  readonly written: string[] = [];
  write(data: string): void {
    this.written.push(data);
    this.buffered += data.length;
  }
}

function stream(sock: FakeSocket, limit = 100) {
  return new BoundedStream<string>(sock, {
    limit,
    format: (e) => e,
    marker: (n) => [`dropped ${n}`],
    pollMs: 5,
  });
}

describe("BoundedStream", () => {
  it("writes while the client's unsent bytes are below the limit, then drops and counts", () => {
    const sock = new FakeSocket();
    const s = stream(sock);
    for (let i = 0; i < 10; i++) s.push("x".repeat(30));
    // 30, 60, 90 are below 100: the fourth goes (120), the rest are dropped.
    expect(sock.written).toHaveLength(4);
    expect(s.dropping).toBe(true);
    expect(s.droppedTotal).toBe(6);
    s.close();
  });

  it("tells the client how many it missed once it has read down to half the limit", async () => {
    const sock = new FakeSocket();
    const s = stream(sock);
    for (let i = 0; i < 10; i++) s.push("x".repeat(30));
    sock.buffered = 60; // read some: still above half
    s.push("y");
    expect(sock.written.filter((w) => w.startsWith("dropped"))).toEqual([]);
    sock.buffered = 0; // read it all: the poll finds room, with no new event needed
    await waitUntil(() => sock.written.some((w) => w.startsWith("dropped")));
    expect(sock.written.at(-1)).toBe("dropped 7");
    s.push("z");
    expect(sock.written.at(-1)).toBe("z");
    expect(s.dropping).toBe(false);
    s.close();
  });

  it("keeps nothing for a client that left", () => {
    const sock = new FakeSocket();
    const s = stream(sock);
    sock.open = false;
    s.push("x");
    expect(sock.written).toEqual([]);
    expect(s.droppedTotal).toBe(0);
  });
});
