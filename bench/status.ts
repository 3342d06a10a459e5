/**
 * Sequential `status` requests per second through one REQ socket, beside a
 * bare zeromq.js REQ/REP echo of the same request measured in the same run.
 */
import { encode } from "../src/protocol/index.js";
import { RawClient, startManager } from "../test/helpers/manager.js";
import { fmt, median, nowMs, rawEchoRoundTrips } from "./lib.js";

export interface StatusResult {
  statusPerSec: number;
  echoPerSec: number;
  ratio: number;
  n: number;
}

export async function benchStatus(n = 5000): Promise<StatusResult> {
  const m = await startManager({ examples: false, publishConsole: false });
  const c = new RawClient(m.controlAddr);
  const req = encode({ method: "status", params: {} }, "json");
  try {
    for (let i = 0; i < 200; i++) await c.send(req);
    const t0 = nowMs();
    for (let i = 0; i < n; i++) await c.send(req);
    const statusPerSec = n / ((nowMs() - t0) / 1000);
    const echo = await rawEchoRoundTrips(n, req);
    const echoPerSec = 1000 / median(echo);
    return { statusPerSec, echoPerSec, ratio: statusPerSec / echoPerSec, n };
  } finally {
    c.close();
    await m.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchStatus();
  console.log(
    `status: ${fmt(r.statusPerSec, 0)} req/s; raw echo ${fmt(r.echoPerSec, 0)} req/s; ratio ${fmt(r.ratio, 2)}`,
  );
}
