/**
 * Benchmark helpers. Every figure is measured beside a raw baseline in the
 * same run (the machines are shared and noisy, so only ratios from one run
 * mean something): a bare zeromq.js echo server in its own process, driven
 * exactly as the manager is driven.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { Dealer, Request } from "zeromq";
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

export function fmt(n: number, digits = 3): string {
  return n.toFixed(digits);
}

export interface EchoServer {
  address: string;
  proc: ChildProcess;
  stop(): void;
}

/** The bare echo server (REP or ROUTER) in its own process, as the manager runs. */
export async function startEchoServer(kind: "rep" | "router"): Promise<EchoServer> {
  const address = `tcp://127.0.0.1:${await freePort()}`;
  const proc = fork(path.join(ROOT, "bench/echo-server.mjs"), [kind, address], { stdio: "ignore" });
  await new Promise<void>((resolve) => proc.once("message", () => resolve()));
  return { address, proc, stop: () => proc.kill() };
}

/** Round-trip times (ms) of `n` sequential requests through one REQ socket (after a warm-up). */
export async function sequentialTimes(address: string, body: Buffer, n: number): Promise<number[]> {
  const req = new Request({ linger: 0 });
  req.connect(address);
  const times: number[] = [];
  try {
    for (let i = 0; i < n + 100; i++) {
      const t0 = nowMs();
      await req.send(body);
      await req.receive();
      if (i >= 100) times.push(nowMs() - t0);
    }
  } finally {
    req.close();
  }
  return times;
}

/** Requests per second of `n` sequential requests through one REQ socket. */
export async function sequentialRate(address: string, body: Buffer, n: number): Promise<number> {
  const times = await sequentialTimes(address, body, n);
  return n / (times.reduce((a, b) => a + b, 0) / 1000);
}

/**
 * Requests per second with `inFlight` requests outstanding on one DEALER
 * socket (REQ framing: an empty delimiter before the body). `bodyOf(i)` gives
 * the i-th request; `onReply` sees each reply.
 */
export async function pipelinedRate(
  address: string,
  bodyOf: (i: number) => Buffer,
  n: number,
  inFlight: number,
  onReply?: (reply: Buffer) => void,
): Promise<number> {
  const d = new Dealer({ linger: 0 });
  d.connect(address);
  try {
    let sent = 0;
    const t0 = nowMs();
    for (; sent < Math.min(inFlight, n); sent++) await d.send([Buffer.alloc(0), bodyOf(sent)]);
    for (let got = 0; got < n; got++) {
      const frames = await d.receive();
      onReply?.(frames[frames.length - 1] as Buffer);
      if (sent < n) await d.send([Buffer.alloc(0), bodyOf(sent++)]);
    }
    return n / ((nowMs() - t0) / 1000);
  } finally {
    d.close();
  }
}
