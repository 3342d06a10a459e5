/** status.time is the time of the reply (renewed at least every 100 ms); status_uid moves only on change. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient, sleep, startManager, type RunningManager } from "../helpers/manager.js";

let m: RunningManager;
let c: RawClient;
beforeAll(async () => {
  m = await startManager({ examples: false, publishConsole: false });
  c = new RawClient(m.controlAddr);
});
afterAll(async () => {
  c.close();
  await m.stop();
});

it("answers the current time while nothing changes, with the same status_uid", async () => {
  // Whole ms on the host's clock: the checks below are orderings (made after
  // the request was sent, not after its reply came back), never durations.
  const ms = (t: unknown) => Math.floor(new Date(String(t)).getTime());
  const a = await c.request("status");
  // Time passes on purpose, with nothing changing.
  await sleep(400);
  const sent = Date.now();
  const b = await c.request("status");
  const received = Date.now();
  expect(b.status_uid).toBe(a.status_uid);
  expect(ms(b.time) - ms(a.time)).toBeGreaterThanOrEqual(250);
  // The time of this reply: made while the request was answered (a snapshot
  // is reused for at most 100 ms).
  expect(ms(b.time)).toBeGreaterThanOrEqual(sent - 100);
  expect(ms(b.time)).toBeLessThanOrEqual(received);
});
