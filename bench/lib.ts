/**
 * Benchmark helpers: a raw zeromq.js REQ/REP echo measured in the same run as
 * the figure it is compared with (the machines are shared and noisy, so only
 * ratios from one run mean something).
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { Request } from "zeromq";
import { freePort, ROOT } from "../test/helpers/manager.js";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Start the bare echo server (REP or ROUTER) in its own process, as the manager runs. */
export async function startEchoServer(
  kind: "rep" | "router",
): Promise<{ address: string; proc: ChildProcess }> {
  const address = `tcp://127.0.0.1:${await freePort()}`;
  const proc = fork(path.join(ROOT, "bench/echo-server.mjs"), [kind, address], { stdio: "ignore" });
  await new Promise<void>((resolve) => proc.once("message", () => resolve()));
  return { address, proc };
}

/** Round-trip times (ms) of a bare REQ/REP echo server in another process. */
export async function rawEchoRoundTrips(n: number, payload: Buffer): Promise<number[]> {
  const { address, proc } = await startEchoServer("rep");
  const port = address;
  const req = new Request({ linger: 0 });
  req.connect(port);
  const times: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const t0 = nowMs();
    await req.send(payload);
    await req.receive();
    if (i >= 50) times.push(nowMs() - t0);
  }
  req.close();
  proc.kill();
  return times;
}

export function fmt(n: number, digits = 3): string {
  return n.toFixed(digits);
}
