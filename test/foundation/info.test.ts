/**
 * The info (PUB) socket: QS_Info messages are two frames `[topic, payload]`,
 * payload `{time, msg: {status}}` with the 27-key status, published at least
 * once a second while idle and at once after a status change; in the
 * manager's encoding (msgpack with `--zmq-encoding msgpack`).
 *
 * The status change is caused with `permissions_reload` (it gives
 * plans_allowed_uid and devices_allowed_uid new values): it exists now and
 * needs no environment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subscriber } from "zeromq";
import {
  decode,
  infoPayloadSchema,
  STATUS_KEYS,
  TOPIC_INFO,
  type WireEncoding,
} from "../../src/protocol/index.js";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";

interface Received {
  at: number;
  frames: Buffer[];
}

/** A SUB socket that keeps every message with its arrival time and raw frames. */
class Collector {
  readonly sock = new Subscriber({ linger: 0 });
  readonly got: Received[] = [];
  private closed = false;
  constructor(addr: string, topic: string) {
    this.sock.connect(addr);
    this.sock.subscribe(topic);
    void (async () => {
      try {
        for await (const frames of this.sock) this.got.push({ at: Date.now(), frames });
      } catch (err) {
        if (!this.closed) throw err;
      }
    })();
  }
  close(): void {
    this.closed = true;
    this.sock.close();
  }
}

const MAX_GAP_MS = 1500;

/** Check one message's framing and payload; return its status. */
function checkMessage(r: Received, enc: WireEncoding): Record<string, unknown> {
  expect(r.frames).toHaveLength(2);
  const [topic, payload] = r.frames as [Buffer, Buffer];
  expect(topic.toString()).toBe(TOPIC_INFO);
  if (enc === "json") expect(payload[0]).toBe(0x7b);
  else expect(payload[0]).toBe(0x82); // msgpack fixmap of 2 keys
  const body = decode(payload, enc) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(["time", "msg"]);
  expect(typeof body.time).toBe("number");
  expect(Math.abs((body.time as number) - r.at / 1000)).toBeLessThan(5);
  const msg = body.msg as Record<string, unknown>;
  expect(Object.keys(msg)).toEqual(["status"]);
  const status = msg.status as Record<string, unknown>;
  expect(Object.keys(status)).toEqual(STATUS_KEYS);
  expect(() => infoPayloadSchema.parse(body)).not.toThrow();
  return status;
}

function infoSuite(enc: "json" | "msgpack"): void {
  describe(`QS_Info, ${enc} manager`, () => {
    let m: RunningManager;
    let c: RawClient;
    let sub: Collector;
    beforeAll(async () => {
      m = await startManager({ examples: false, encoding: enc });
      c = new RawClient(m.controlAddr, { encoding: enc, timeoutMs: 5000 });
      sub = new Collector(m.infoAddr, TOPIC_INFO);
    });
    afterAll(async () => {
      sub?.close();
      c?.close();
      await m?.stop();
    });

    it("publishes the status at least once a second while idle", async () => {
      // Wait for the subscription to take, then watch a 2.5 s window.
      await waitUntil(() => sub.got.length > 0, 3000);
      const from = sub.got.length - 1;
      const start = (sub.got[from] as Received).at;
      await new Promise((r) => setTimeout(r, 2500));
      const window = sub.got.slice(from);
      expect(window.length).toBeGreaterThanOrEqual(2);
      const gaps = window.slice(1).map((r, i) => r.at - (window[i] as Received).at);
      gaps.push(Date.now() - (window[window.length - 1] as Received).at);
      console.log(
        `${enc}: ${window.length} QS_Info messages in ${Date.now() - start} ms, gaps ${gaps.join(", ")} ms`,
      );
      expect(Math.max(...gaps)).toBeLessThanOrEqual(MAX_GAP_MS);
      const current = await c.request("status");
      for (const r of window) {
        const status = checkMessage(r, enc);
        // Idle and unchanged: the periodic messages carry the current status.
        expect(status.status_uid).toBe(current.status_uid);
        expect(status.manager_state).toBe("idle");
      }
    });

    it("publishes a new status promptly after a change", async () => {
      const before = await c.request("status");
      const seen = sub.got.length;
      const t0 = Date.now();
      expect(await c.request("permissions_reload", {})).toEqual({ success: true, msg: "" });
      const after = await c.request("status");
      expect(after.status_uid).not.toBe(before.status_uid);
      expect(after.plans_allowed_uid).not.toBe(before.plans_allowed_uid);
      const hit = await waitUntil(
        () =>
          sub.got
            .slice(seen)
            .find((r) => (checkMessage(r, enc).status_uid as string) === after.status_uid),
        2000,
        5,
      );
      if (!hit) throw new Error("no QS_Info with the new status");
      const latency = hit.at - t0;
      console.log(`${enc}: new status published ${latency} ms after the request`);
      expect(latency).toBeLessThan(300);
      const status = checkMessage(hit, enc);
      expect(status).toEqual(after);
    });
  });
}

infoSuite("json");
infoSuite("msgpack");
