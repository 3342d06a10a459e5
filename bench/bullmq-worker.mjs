// A BullMQ worker in its own process (as zqs's worker is), running no-op jobs: the peer
// benchmark's other side. Usage: node bench/bullmq-worker.mjs <redis port> <queue> <concurrency> <expect>
// Sends {ready} once connected, {done} when `expect` jobs have completed (0: never), and
// closes on "close".
import { Worker } from "bullmq";

const [port, queue, concurrency, expect] = process.argv
  .slice(2)
  .map((x, i) => (i === 1 ? x : Number(x)));
let done = 0;
const worker = new Worker(queue, async () => null, {
  connection: { host: "127.0.0.1", port },
  concurrency,
});
worker.on("completed", () => {
  if (++done === expect) process.send?.({ done });
});
worker.on("failed", (_job, err) => process.send?.({ failed: String(err) }));
worker.on("error", (err) => process.send?.({ failed: String(err) }));
await worker.waitUntilReady();
process.send?.({ ready: true });
process.on("message", (m) => {
  if (m === "close") void worker.close().then(() => process.exit(0));
});
