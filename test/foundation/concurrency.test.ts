/** Many clients at once: 100 REQ sockets × 50 `status` requests, every one answered. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { Request } from "zeromq";
import { decode, encode, STATUS_KEYS } from "../../src/protocol/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";

const CLIENTS = 100;
const REQUESTS = 50;

let m: RunningManager;
beforeAll(async () => {
  m = await startManager({ examples: false });
});
afterAll(async () => {
  await m?.stop();
});

it(`answers ${CLIENTS} concurrent REQ clients × ${REQUESTS} status requests`, async () => {
  const request = encode({ method: "status", params: {} }, "json");
  const socks = Array.from({ length: CLIENTS }, () => {
    const s = new Request({ receiveTimeout: 60_000, linger: 0 });
    s.connect(m.controlAddr);
    return s;
  });
  let answered = 0;
  const statusUids = new Set<string>();
  try {
    const started = Date.now();
    await Promise.all(
      socks.map(async (s) => {
        for (let i = 0; i < REQUESTS; i++) {
          await s.send(request);
          const frames = await s.receive();
          expect(frames).toHaveLength(1);
          const reply = decode(frames[0] as Buffer, "json") as Record<string, unknown>;
          expect(Object.keys(reply)).toEqual(STATUS_KEYS);
          statusUids.add(String(reply.status_uid));
          answered++;
        }
      }),
    );
    console.log(`${answered} status replies to ${CLIENTS} clients in ${Date.now() - started} ms`);
  } finally {
    for (const s of socks) s.close();
  }
  expect(answered).toBe(CLIENTS * REQUESTS);
  // Nothing changed meanwhile: every reply is the same status.
  expect(statusUids.size).toBe(1);
  expect(m.proc.exitCode).toBeNull();
});

it("interleaves a mix of good and bad requests from many clients, each answered in order", async () => {
  const socks = Array.from({ length: 20 }, () => {
    const s = new Request({ receiveTimeout: 60_000, linger: 0 });
    s.connect(m.controlAddr);
    return s;
  });
  let answered = 0;
  try {
    await Promise.all(
      socks.map(async (s, k) => {
        for (let i = 0; i < 25; i++) {
          // Each client tags its requests so a reply crossed with another client's shows.
          const tag = `c${k}_${i}`;
          await s.send(encode({ method: tag, params: {} }, "json"));
          const [unknown] = await s.receive();
          expect((decode(unknown as Buffer, "json") as Record<string, unknown>).msg).toBe(
            `Unknown method '${tag}'`,
          );
          await s.send(encode({ method: "task_status", params: { task_uid: tag } }, "json"));
          const [ts] = await s.receive();
          const r = decode(ts as Buffer, "json") as Record<string, unknown>;
          expect(r).toEqual({ success: true, msg: "", task_uid: tag, status: "not_found" });
          answered += 2;
        }
      }),
    );
  } finally {
    for (const s of socks) s.close();
  }
  expect(answered).toBe(20 * 25 * 2);
});
