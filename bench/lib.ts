/**
 * Benchmark helpers. Every figure is measured beside a raw baseline in the
 * same run (the machines are shared and noisy, so only ratios from one run
 * mean something): a bare zeromq.js echo server in its own process, driven
 * exactly as the manager is driven.
 */
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Dealer, Request } from "zeromq";
import {
  freePort,
  RawClient,
  ROOT,
  startManager,
  waitUntil,
  type RunningManager,
} from "../test/helpers/manager.js";
import { childPids } from "../test/helpers/process.js";

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

export interface Spread {
  median: number;
  p99: number;
  mean: number;
}

export function spread(xs: number[]): Spread {
  return {
    median: median(xs),
    p99: percentile(xs, 99),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Milliseconds since the epoch with sub-millisecond resolution, on the clock
 * of `Date.now()` (Node takes `performance.timeOrigin` from the wall clock at
 * start), to compare with the manager's and the worker's `Date.now()` times.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
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

export interface NoopManager {
  m: RunningManager;
  /** A REQ client of its control socket (already used to open the environment). */
  c: RawClient;
  stop(): Promise<void>;
}

/**
 * A manager on free loopback ports with its defaults (embedded LMDB store in a
 * temp dir), the benchmarks' startup code (`noop`) and the environment open.
 */
export async function startNoopManager(
  opts: {
    workers?: number;
    args?: string[];
    info?: boolean;
    timeoutMs?: number;
    env?: Record<string, string>;
  } = {},
): Promise<NoopManager> {
  const m = await startManager({
    checkReplies: false,
    ...(opts.env ? { env: opts.env } : {}),
    examples: false,
    publishConsole: opts.info ?? false,
    args: [
      "--startup-dir",
      path.join(ROOT, "bench/startup"),
      ...(opts.workers === undefined ? [] : ["--workers", String(opts.workers)]),
      ...(opts.args ?? []),
    ],
  });
  const c = new RawClient(m.controlAddr, { timeoutMs: opts.timeoutMs ?? 30_000 });
  const stop = async () => {
    c.close();
    await m.stop();
  };
  try {
    await c.request("environment_open");
    await waitUntil(async () => (await c.request("status")).worker_environment_exists, 20_000, 2);
  } catch (err) {
    await stop();
    throw err;
  }
  return { m, c, stop };
}

/** The function item of the no-op (bench/startup/noop.mjs). */
export const NOOP = { item_type: "function", name: "noop" } as const;

/** `function_execute` of the no-op, as the benchmarks send it. */
export function noopExecute(background: boolean): Record<string, unknown> {
  return { item: NOOP, user: "bench", user_group: "primary", run_in_background: background };
}

// ---- tables and JSON ------------------------------------------------------------------

/** A figure and what it is compared with, measured in the same run. */
export interface Row {
  label: string;
  /** Its key in the JSON results. */
  key: string;
  value: number;
  digits: number;
  base?: { key: string; value: number; digits: number; label: string };
  /** Default: value / base.value. */
  ratio?: number;
  /** Its key in the JSON results (default `<key>_ratio`). */
  ratioKey?: string;
  target?: string;
}

export function ratioOf(r: Row): number | undefined {
  return r.ratio ?? (r.base ? r.value / r.base.value : undefined);
}

/** The machine, as the tables begin. */
export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

/** A Markdown table: label, figure, baseline, ratio, target. */
export function printTable(rows: Row[], head: [string, string, string, string, string]): void {
  const cells = rows.map((r) => {
    const ratio = ratioOf(r);
    return [
      r.label,
      fmt(r.value, r.digits),
      r.base ? `${fmt(r.base.value, r.base.digits)} ${r.base.label}` : "",
      ratio === undefined ? "" : fmt(ratio, 2),
      r.target ?? "",
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((x) => x[i]?.length ?? 0)));
  const line = (x: string[]) => `| ${x.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const x of cells) console.log(line(x));
}

/** Every figure of the rows by its key: the value, its baseline, and `<key>_ratio`. */
export function rowsJson(rows: Row[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) {
    out[r.key] ??= r.value;
    if (r.base) out[r.base.key] ??= r.base.value;
    const ratio = ratioOf(r);
    if (ratio !== undefined) out[r.ratioKey ?? `${r.key}_ratio`] = ratio;
  }
  return out;
}

/** With `BENCH_JSON=FILE`, write the results there as one JSON object (6 significant digits). */
export function writeBenchJson(results: Record<string, unknown>): void {
  const file = process.env.BENCH_JSON;
  if (!file) return;
  const cpus = os.cpus();
  const doc = {
    machine: {
      cpus: cpus.length,
      cpu_model: cpus[0]?.model ?? null,
      mem_gib: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      loadavg_1m: os.loadavg()[0],
    },
    date: new Date().toISOString(),
    ...results,
  };
  const round = (_k: string, v: unknown) =>
    typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v;
  fs.writeFileSync(file, `${JSON.stringify(doc, round, 2)}\n`);
  console.log(`results written to ${file}`);
}

/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`: 100 on Linux). */
const CLK_TCK = 100;

/** The CPU time (µs) the processes `pids` and their descendants have used so far (those gone count 0). */
export function treeCpuUs(pids: readonly number[]): number {
  let us = 0;
  for (const pid of pids) {
    try {
      us += processCpuUs(pid);
    } catch {
      continue; // gone
    }
    us += treeCpuUs(childPids(pid));
  }
  return us;
}

/** CPU time (user + system) a process has used so far, in µs (Linux /proc). */
export function processCpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), from field 3 (state).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6;
}
