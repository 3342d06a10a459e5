/**
 * Failover time of two managers with --standby on one redis-server: kill -9
 * of the active, then the first request (`queue_get`) the standby serves
 * instead of refusing, timed from the kill; `tries` times (fresh managers each
 * time), with the lease beside it. Both managers run on this host, where the
 * standby sees the killed manager gone at its next look at the lease (every
 * third of the lease); a manager on another host is taken over once its lease
 * lapses. Run alone: `npx tsx bench/failover.ts`.
 */
import { pathToFileURL } from "node:url";
import { RawClient, startManager } from "../test/helpers/manager.js";
import { startRedis } from "../test/helpers/redis.js";
import { fmt, median, nowMs } from "./lib.js";

/** How long a request waits for its reply before it is sent again (ms). */
const RETRY_MS = 250;

export interface FailoverResult {
  leaseMs: number;
  times: number[];
  medianMs: number;
  maxMs: number;
}

export async function benchFailover(tries = 5, leaseS = 2): Promise<FailoverResult> {
  const redis = await startRedis();
  const times: number[] = [];
  try {
    for (let i = 0; i < tries; i++) {
      const args = ["--redis-addr", redis.addr, "--standby", "--redis-lease", String(leaseS)];
      const a = await startManager({ args, checkReplies: false });
      const b = await startManager({ args, checkReplies: false });
      try {
        const t0 = nowMs();
        a.proc.kill("SIGKILL");
        // A request sent as the standby hands its socket over to the active
        // manager gets no reply: asked again on a new socket after RETRY_MS
        // (what a client following the active manager does).
        for (let served = false; !served;) {
          const c = new RawClient(b.controlAddr, { timeoutMs: RETRY_MS });
          served = await c.request("queue_get").then(
            (r) => r.success === true,
            () => false,
          );
          c.close();
        }
        times.push(nowMs() - t0);
      } finally {
        await a.stop();
        await b.stop();
      }
    }
  } finally {
    await redis.stop();
  }
  return {
    leaseMs: leaseS * 1000,
    times,
    medianMs: median(times),
    maxMs: Math.max(...times),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const r = await benchFailover();
  console.log(
    `failover (kill -9 of the active → first request served by the standby), ${r.times.length} tries: ` +
      `${r.times.map((t) => fmt(t, 0)).join(", ")} ms; median ${fmt(r.medianMs, 0)} ms, max ${fmt(r.maxMs, 0)} ms (lease ${r.leaseMs} ms)`,
  );
}
