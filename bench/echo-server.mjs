// A bare zeromq.js echo server in its own process: the raw baseline of the benchmarks.
// Usage: node bench/echo-server.mjs <rep|router> <address>
import { Reply, Router } from "zeromq";

const [kind, address] = process.argv.slice(2);
const sock = kind === "router" ? new Router({ linger: 0 }) : new Reply({ linger: 0 });
await sock.bind(address);
process.send?.("ready");
for await (const frames of sock) await sock.send(frames);
