/**
 * Simulated remote workers for bench/remote.ts: one process holding N DEALER
 * sockets that join a manager's worker socket (hello), beat, and answer each
 * task at once with a successful task_done (no worker process behind them):
 * the manager's own cost of many connected workers.
 *
 *   node bench/sim-workers.mjs ADDR N   (prints "ready" once every one is welcome)
 */
import { Dealer } from "zeromq";
import { decodeWire, encodeWire, managerMessageSchema } from "../dist/protocol/worker-wire.js";

const [addr, nText] = process.argv.slice(2);
const n = Number(nText);
let welcomed = 0;
const socks = [];

async function run(i) {
  const d = new Dealer({ linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 });
  socks.push(d);
  d.connect(addr);
  const out = [];
  let sending = false;
  const send = (msg) => {
    out.push(encodeWire(msg));
    if (sending) return;
    sending = true;
    void (async () => {
      while (out.length > 0) await d.send(out.shift());
      sending = false;
    })();
  };
  const hello = {
    type: "hello",
    name: `sim-${i}`,
    hostname: "sim",
    pid: process.pid,
    slots: 1,
    tags: [],
    version: "sim",
    functions: { noop: "0" },
  };
  send(hello);
  let known = false;
  setInterval(() => send({ type: "heartbeat", busy: 0 }), 500).unref();
  for await (const [body] of d) {
    const r = decodeWire(body, managerMessageSchema);
    if (!r.ok) continue;
    const m = r.msg;
    if (m.type === "welcome" && !known) {
      known = true;
      if (++welcomed === n) process.stdout.write("ready\n");
    } else if (m.type === "who") send(hello);
    else if (m.type === "execute") {
      const t = Date.now() / 1000;
      send({
        type: "task_done",
        id: m.id,
        success: true,
        msg: "",
        traceback: "",
        return_value: null,
        time_start: t,
        time_stop: t,
      });
    }
  }
}

for (let i = 0; i < n; i++) void run(i);
process.on("SIGTERM", () => {
  for (const s of socks) s.close();
  process.exit(0);
});
