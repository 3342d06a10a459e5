/**
 * Simulated remote workers for bench/remote.ts: one process holding N DEALER
 * sockets that join a manager's worker socket (hello, wire 2), beat as the
 * manager says (welcome, heartbeat), only after a silence, as the real agent,
 * and answer each task with a successful task_done (no worker
 * process behind them): at once, or after `--sleep` ms, each worker running
 * at most `--slots` tasks at a time and holding the rest (dealt ahead) in
 * order. The reports of one turn go as one message, as the real agent's.
 * Cheap per socket, so that 10,000 of them take little CPU from the manager
 * on the same machine: it trusts its manager (messages are decoded, not
 * checked against their schemas) and its heartbeats are encoded once.
 *
 *   node bench/sim-workers.mjs ADDR N [--slots S] [--sleep MS] [--first I]
 *   (prints "ready" once every one is welcome; they are named sim-I, sim-I+1...;
 *   each socket takes two file descriptors: bench/remote.ts runs 5,000 a process)
 */
import { parseArgs } from "node:util";
import { context, Dealer } from "zeromq";
import { decode } from "../dist/protocol/codec.js";
import { encodeWire, WORKER_WIRE_VERSION } from "../dist/protocol/worker-wire.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    slots: { type: "string", default: "1" },
    sleep: { type: "string", default: "0" },
    first: { type: "string", default: "0" },
  },
});
const [addr, nText] = positionals;
const n = Number(nText);
const slots = Number(values.slots);
const sleepMs = Number(values.sleep);
const first = Number(values.first);
// zeromq's default is 1,024 sockets per context.
context.maxSockets = n + 64;

let welcomed = 0;
/** Heartbeat bodies by the tasks held (encoded once each). */
const beats = [];
const beatBody = (busy) => (beats[busy] ??= encodeWire({ type: "heartbeat", busy }));
const socks = [];

function done(id) {
  const t = Date.now() / 1000;
  return {
    type: "task_done",
    id,
    success: true,
    msg: "",
    traceback: "",
    return_value: null,
    time_start: t,
    time_stop: t,
    call_ms: sleepMs,
  };
}

async function run(i) {
  const d = new Dealer({ linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 });
  socks.push(d);
  d.connect(addr);
  const out = [];
  let sending = false;
  let lastSentAt = 0;
  const write = (msg) => {
    lastSentAt = Date.now();
    out.push(Buffer.isBuffer(msg) ? msg : encodeWire(msg));
    if (sending) return;
    sending = true;
    void (async () => {
      while (out.length > 0) await d.send(out.shift());
      sending = false;
    })();
  };
  // Reports of one turn: one message.
  let reports = [];
  const report = (msg) => {
    if (reports.length === 0) {
      setImmediate(() => {
        const r = reports;
        reports = [];
        write(r.length === 1 ? r[0] : { type: "reports", reports: r });
      });
    }
    reports.push(msg);
  };
  const hello = {
    type: "hello",
    name: `sim-${i}`,
    instance: `sim-instance-${process.pid}`,
    hostname: "sim",
    pid: process.pid,
    slots,
    tags: [],
    version: "sim",
    functions: { noop: "0" },
    wire: WORKER_WIRE_VERSION,
  };
  write(hello);
  let known = false;
  // A hello may be lost among thousands of connects: said again until welcome
  // (the real agent's heartbeat gets a "who" and says hello again).
  const again = setInterval(() => (known ? clearInterval(again) : write(hello)), 5000);
  again.unref();
  let beat;
  let beatMs = 0;
  const pace = (ms) => {
    if (ms === beatMs) return;
    beatMs = ms;
    clearInterval(beat);
    beat = setInterval(() => {
      if (Date.now() - lastSentAt >= beatMs / 2) write(beatBody(running + waiting.length));
    }, beatMs);
    beat.unref();
  };
  const waiting = [];
  let running = 0;
  const start = () => {
    while (running < slots && waiting.length > 0) {
      const id = waiting.shift();
      if (sleepMs === 0) {
        report(done(id));
        continue;
      }
      running++;
      setTimeout(() => {
        running--;
        report(done(id));
        start();
      }, sleepMs);
    }
  };
  for await (const [body] of d) {
    const m = decode(body, "msgpack");
    if (m.type === "welcome") {
      if (!known && ++welcomed === n) process.stdout.write("ready\n");
      known = true;
      pace(m.heartbeat_ms);
    } else if (m.type === "heartbeat") {
      if (m.heartbeat_ms !== undefined) pace(m.heartbeat_ms);
    } else if (m.type === "who") write(hello);
    else if (m.type === "execute" || m.type === "execute_batch") {
      for (const t of m.type === "execute" ? [m] : m.tasks) waiting.push(t.id);
      start();
    }
  }
}

for (let i = 0; i < n; i++) void run(first + i);
process.on("SIGTERM", () => {
  for (const s of socks) s.close();
  process.exit(0);
});
