/**
 * The info (PUB) socket: QS_Info messages are two frames `[topic, payload]`,
 * payload `{time, msg: {status}}` with the 27-key status, published at least
 * once a second while idle and at once after a status change (both read from
 * the server's own times); in the manager's encoding (msgpack with
 * `--zmq-encoding msgpack`).
 *
 * `--zmq-info-interval` sets how often the idle status is published again.
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

/** When this file began (ms): every message is published after it. */
const BEGAN = Date.now();

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

/** Largest gap between two publications of an idle status, by their own `time` (ms). */
const MAX_GAP_MS = 1500;
/** How long the idle publications are watched, by their own `time` (ms). */
const WINDOW_MS = 2500;

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
  // Seconds since the epoch, stamped when published: an ordering on one clock
  // (after this file began, not after the message arrived), not a duration;
  // compared in whole ms, as Date.now() reads them.
  const ms = Math.floor((body.time as number) * 1000);
  expect(ms).toBeGreaterThanOrEqual(BEGAN);
  expect(ms).toBeLessThanOrEqual(r.at);
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
      c = new RawClient(m.controlAddr, { encoding: enc });
      sub = new Collector(m.infoAddr, TOPIC_INFO);
    });
    afterAll(async () => {
      sub?.close();
      c?.close();
      await m?.stop();
    });

    it("publishes the status at least once a second while idle", async () => {
      // From the first message on, until the messages' own times span the window.
      const time = (r: Received) => (decode(r.frames[1] as Buffer, enc) as { time: number }).time;
      await waitUntil(() => sub.got.length > 0);
      const from = sub.got.length - 1;
      const first = time(sub.got[from] as Received);
      await waitUntil(
        () => time(sub.got[sub.got.length - 1] as Received) - first >= WINDOW_MS / 1000,
      );
      const window = sub.got.slice(from);
      const times = window.map(time);
      const gaps = times.slice(1).map((t, i) => Math.round((t - (times[i] as number)) * 1000));
      console.log(`${enc}: ${window.length} QS_Info messages, gaps ${gaps.join(", ")} ms`);
      expect(window.length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(MAX_GAP_MS);
      const current = await c.request("status");
      for (const r of window) {
        const status = checkMessage(r, enc);
        // Idle and unchanged: the periodic messages carry the current status.
        expect(status.status_uid).toBe(current.status_uid);
        expect(status.manager_state).toBe("idle");
      }
    });

    it("publishes a new status at once after a change (not at the next tick)", async () => {
      const before = await c.request("status");
      const seen = sub.got.length;
      expect(await c.request("permissions_reload", {})).toEqual({ success: true, msg: "" });
      const after = await c.request("status");
      expect(after.status_uid).not.toBe(before.status_uid);
      expect(after.plans_allowed_uid).not.toBe(before.plans_allowed_uid);
      const hit = await waitUntil(
        () =>
          sub.got
            .slice(seen)
            .find((r) => (checkMessage(r, enc).status_uid as string) === after.status_uid),
        undefined,
        5,
      );
      const status = checkMessage(hit, enc);
      // The same status (its time is renewed every 100 ms while nothing changes).
      expect({ ...status, time: null }).toEqual({ ...after, time: null });
      // By the server's own times: the message went out in the same turn as
      // the change that made the status (status.time, local time), not at the
      // next once-a-second publication.
      const published = (decode(hit.frames[1] as Buffer, enc) as { time: number }).time * 1000;
      const changed = new Date(String(status.time)).getTime();
      console.log(`${enc}: new status published ${published - changed} ms after the change`);
      expect(published).toBeGreaterThanOrEqual(changed);
      expect(published - changed).toBeLessThan(500);
    });
  });
}

infoSuite("json");
infoSuite("msgpack");

describe("QS_Info with --zmq-info-interval 0.1", () => {
  let m: RunningManager;
  let sub: Collector;
  beforeAll(async () => {
    m = await startManager({ examples: false, infoInterval: 0.1 });
    sub = new Collector(m.infoAddr, TOPIC_INFO);
  });
  afterAll(async () => {
    sub?.close();
    await m?.stop();
  });

  it("publishes the idle status again that often", async () => {
    const time = (r: Received) => (decode(r.frames[1] as Buffer, "json") as { time: number }).time;
    await waitUntil(() => sub.got.length > 0);
    const from = sub.got.length - 1;
    const first = time(sub.got[from] as Received);
    // One second of the messages' own times: about 10 publications (once a second gives 1).
    await waitUntil(() => time(sub.got[sub.got.length - 1] as Received) - first >= 1);
    const republished = sub.got.length - 1 - from;
    console.log(`${republished} QS_Info messages in 1 s at --zmq-info-interval 0.1`);
    expect(republished).toBeGreaterThanOrEqual(5);
  });
});
