/** status.time is the time of the reply (renewed at least every 100 ms); status_uid moves only on change. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";

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
  const a = await c.request("status");
  await new Promise((r) => setTimeout(r, 400));
  const b = await c.request("status");
  expect(b.status_uid).toBe(a.status_uid);
  const ms = (t: unknown) => new Date(String(t)).getTime();
  expect(ms(b.time) - ms(a.time)).toBeGreaterThanOrEqual(250);
  expect(Math.abs(Date.now() - ms(b.time))).toBeLessThan(2000);
});
