/**
 * Stream clients that never read, against a manager with its gateway inside
 * (`--http-addr`) while a task prints a flood: the manager's memory stays
 * bounded (each client's buffer is --http-stream-buffer), `status` is answered
 * throughout, a reading client sees everything or a `dropped` marker, the slow
 * clients get a `dropped` marker once they read again, and nothing is kept for
 * them once they leave. Then the source bound: --console-rate drops a worker's
 * output beyond it and says so in one line on QS_Console.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  BRISK_INFO_INTERVAL,
  freePort,
  InfoListener,
  RawClient,
  rssMb,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { execute, fn, openEnvironment } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";
import { call, readSse } from "./helpers.js";

const KEY = "slow-readers-key-0123456789abcdef";
const STARTUP = {
  "flood.mjs": `
export function print_much(lines, tag) {
  const line = "x".repeat(1023);
  for (let i = 0; i < lines; i++) console.log(line);
  console.log("last line of " + tag);
  return lines;
}
`,
};

let m: RunningManager | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  await m?.stop();
  m = undefined;
});

/** A raw TCP client of `/api/events` (SSE) that stops reading once the stream has begun. */
async function stalledSse(port: number): Promise<{ sock: net.Socket; text: () => string }> {
  const sock = net.connect(port, "127.0.0.1");
  cleanups.push(() => sock.destroy());
  let text = "";
  sock.on("data", (d: Buffer) => (text += d.toString("latin1")));
  sock.write(
    `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ApiKey ${KEY}\r\n` +
      "Accept: text/event-stream\r\n\r\n",
  );
  await waitUntil(() => text.includes(": zqs events"));
  sock.pause();
  return { sock, text: () => text };
}

/** A WebSocket client of `/api/events` that stops reading once its first frame came. */
async function stalledWs(port: number): Promise<{ ws: WebSocket; frames: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events`, {
    headers: { Authorization: `ApiKey ${KEY}` },
  });
  cleanups.push(() => ws.terminate());
  const frames: string[] = [];
  ws.on("message", (d: Buffer) => frames.push(d.toString("utf8")));
  await waitUntil(() => frames.length > 0);
  ws.pause();
  return { ws, frames };
}

/** The gateway's count of stream clients, from its own /metrics. */
async function streamClients(url: string): Promise<number> {
  const r = await call(url, "GET", "/metrics", { key: KEY });
  const mm = /^zqs_gateway_stream_clients (\d+)/m.exec(r.text);
  if (!mm) throw new Error(`no zqs_gateway_stream_clients in /metrics:\n${r.text.slice(0, 500)}`);
  return Number(mm[1]);
}

describe("stream clients that do not read", () => {
  it("keep the manager's memory bounded; they get a dropped marker; status is answered", async () => {
    const port = await freePort();
    m = await startManager({
      startup: STARTUP,
      // No bound at the source here: the streams' own bound is what is tested.
      args: [
        "--http-addr",
        `127.0.0.1:${port}`,
        "--http-single-user-api-key",
        KEY,
        "--console-rate",
        "0",
      ],
    });
    const url = `http://127.0.0.1:${port}`;
    const pid = m.proc.pid as number;
    const c = new RawClient(m.controlAddr);
    cleanups.push(() => c.close());
    await openEnvironment(c);

    const slowSse = await Promise.all(Array.from({ length: 10 }, () => stalledSse(port)));
    const slowWs = await Promise.all(Array.from({ length: 2 }, () => stalledWs(port)));
    let uid = "";
    const reading = readSse(url, "/api/events", KEY, (evs) =>
      evs.some(
        (e) =>
          e.event === "task" &&
          (e.data as { msg: { task_uid: string; event: string } }).msg.task_uid === uid &&
          (e.data as { msg: { event: string } }).msg.event === "task-succeeded",
      ),
    );
    expect(await streamClients(url)).toBeGreaterThanOrEqual(13);

    const rss0 = rssMb(pid);
    let rssMax = rss0;
    let statusAnswers = 0;
    uid = await execute(c, fn("print_much", [100_000, "flood"]), { run_in_background: true });
    // Until the task ends: the manager answers status, and its memory is sampled.
    await waitUntil(
      async () => {
        rssMax = Math.max(rssMax, rssMb(pid));
        const s = await c.request("status");
        expect(s.manager_state).toBeDefined();
        statusAnswers++;
        return (await c.request("task_status", { task_uid: uid })).status === "completed";
      },
      600_000,
      50,
    );
    const result = (await c.request("task_result", { task_uid: uid })).result as {
      return_value: unknown;
    };
    expect(result.return_value).toBe(100_000);
    expect(statusAnswers).toBeGreaterThan(0);
    // 12 clients × 100 MB unbounded would be 1.2 GB; bounded, a few MB each.
    expect(rssMax - rss0, `manager RSS ${rss0.toFixed(0)} → ${rssMax.toFixed(0)} MB`).toBeLessThan(
      400,
    );

    // The reading client saw everything, or was told what it missed.
    const events = await reading;
    const text = events
      .filter((e) => e.event === "console")
      .map((e) => String((e.data as { msg: string }).msg))
      .join("");
    const dropped = events.filter((e) => e.event === "dropped");
    if (dropped.length === 0) expect(text).toContain("last line of flood\n");
    else expect((dropped[0]?.data as { count: number }).count).toBeGreaterThan(0);

    // The slow clients read again: each is told how many events it missed.
    for (const s of slowSse) s.sock.resume();
    for (const w of slowWs) w.ws.resume();
    for (const s of slowSse) {
      const got = await waitUntil(() => /event: dropped\ndata: (\{[^\n]*\})\n/.exec(s.text()));
      const d = JSON.parse(got[1] as string) as { count: number; limit: number };
      expect(d.count).toBeGreaterThan(0);
      expect(d.limit).toBe(1024 * 1024);
    }
    for (const w of slowWs) {
      const got = await waitUntil(() =>
        w.frames
          .map((f) => JSON.parse(f) as { type: string; payload: unknown })
          .find((f) => f.type === "dropped"),
      );
      expect((got.payload as { count: number }).count).toBeGreaterThan(0);
    }
    // They leave: nothing is kept for them.
    for (const f of cleanups.splice(0)) f();
    await waitUntil(async () => (await streamClients(url)) === 0);
  });

  it("--console-rate: a worker's output beyond it is dropped, with one line naming the option", async () => {
    m = await startManager({
      infoInterval: BRISK_INFO_INTERVAL,
      startup: STARTUP,
      args: ["--console-rate", "100000", "--console-burst", "200000"],
    });
    const c = new RawClient(m.controlAddr);
    cleanups.push(() => c.close());
    const listener = new InfoListener(m.infoAddr, ["QS_Console"]);
    cleanups.push(() => listener.close());
    await listener.ready();
    await openEnvironment(c);
    const uid = await execute(c, fn("print_much", [20_000, "rate"]), { run_in_background: true });
    await waitUntil(
      async () => (await c.request("task_status", { task_uid: uid })).status === "completed",
    );
    const marker = await listener.waitFor((x) =>
      String(x.payload.msg).includes("of output dropped (limit --console-rate 100000 bytes/s"),
    );
    expect(String(marker.payload.msg)).toMatch(
      /^\.\.\. \d+ lines \(\d+ bytes\) of output dropped/m,
    );
    // 20 MB printed; what came through is at most the burst plus the rate over the time
    // it took, by the manager's own timestamps (and one piece read from the pipe).
    const flood = listener.messages.filter((x) => String(x.payload.msg).includes("xxxx"));
    const bytes = flood.reduce((n, x) => n + Buffer.byteLength(String(x.payload.msg)), 0);
    const seconds = Number(flood.at(-1)?.payload.time) - Number(flood[0]?.payload.time);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(200_000 + 100_000 * seconds + 65_536);
    expect(bytes).toBeLessThan(20_000 * 1024);
  });
});
