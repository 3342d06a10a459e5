/**
 * Load: 1,000 concurrent client sockets (zeromq REQ sockets in this process,
 * each its own TCP connection) send `status` and `task_status` (one UID, a
 * list of UIDs) to one manager without pause, each waiting for its reply
 * before the next request, for ZQS_LOAD_SECONDS seconds (default 30; the
 * file starts early, beside the rest of the suite: test/sequencer.ts). Every
 * request must be answered; throughput and p50/p99/max latency are printed
 * (the first request of each socket, which also waits for its connection,
 * apart). That 1,000 connections at once fit in the manager's
 * listen backlog is read from the kernel (the backlog of its listening socket).
 *
 * zeromq's default context allows 1,023 sockets: the clients get a context of
 * their own with room for them. Each socket uses about three file
 * descriptors here (TCP connection, mailbox); the test checks the open-file
 * limit first and says how much it needs.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { Context, Request } from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode } from "../../src/protocol/index.js";
import { RawClient, rssMb, startManager, type RunningManager } from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitCompleted } from "../helpers/tasks.js";

const SOCKETS = 1000;
const SECONDS = Number(process.env.ZQS_LOAD_SECONDS ?? 30);
/** A failure guard: a request not answered within this long counts as unanswered. */
const REPLY_TIMEOUT_MS = 60_000;

let m: RunningManager;
let c: RawClient;
let taskUid: string;

beforeAll(async () => {
  // Replies are not schema-checked here (ZQS_CHECK_REPLIES=0): measure the manager as run.
  m = await startManager({ publishConsole: false, env: { ZQS_CHECK_REPLIES: "0" } });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  taskUid = await execute(c, fn("function_sleep", [0]));
  expect((await waitCompleted(c, taskUid)).success).toBe(true);
});

afterAll(async () => {
  c?.close();
  await m?.stop();
});

function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  return m?.[1] === "unlimited" ? Infinity : Number(m?.[1] ?? 0);
}

/** The backlog of the socket listening on 127.0.0.1:port (`ss`: Send-Q of a LISTEN socket). */
function listenBacklog(port: number): number {
  const out = execFileSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" });
  const fields = out.trim().split(/\s+/);
  return Number(fields[2]);
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

describe(`${SOCKETS} concurrent client sockets`, () => {
  it(
    `status and task_status for ${SECONDS} s: every request answered`,
    async () => {
      const limit = openFileLimit();
      expect(
        limit,
        `open-file limit ${limit} is too low for ${SOCKETS} sockets: raise it (ulimit -n 8192)`,
      ).toBeGreaterThanOrEqual(SOCKETS * 4);
      const context = new Context({ maxSockets: SOCKETS + 64, ioThreads: 2 });
      const socks = Array.from(
        { length: SOCKETS },
        () => new Request({ context, linger: 0, receiveTimeout: REPLY_TIMEOUT_MS }),
      );
      for (const s of socks) s.connect(m.controlAddr);

      const requests = [
        encode({ method: "status" }, "json"),
        encode({ method: "task_status", params: { task_uid: taskUid } }, "json"),
        encode({ method: "task_status", params: { task_uid: [taskUid, "no-such-uid"] } }, "json"),
      ];
      const latencies: number[] = [];
      const failures: string[] = [];
      let sent = 0;
      const rss0 = rssMb(m.proc.pid as number);
      const t0 = performance.now();
      const end = t0 + SECONDS * 1000;

      // The first request of a socket also waits for its connection (1,000 at once).
      const firstLatencies: number[] = [];
      async function client(sock: Request, i: number): Promise<void> {
        let k = i;
        let first = true;
        while (performance.now() < end) {
          const which = k++ % requests.length;
          const s = performance.now();
          sent += 1;
          try {
            await sock.send(requests[which] as Buffer);
            const [reply] = await sock.receive();
            const ms = performance.now() - s;
            if (first) firstLatencies.push(ms);
            else latencies.push(ms);
            first = false;
            const r = decode(reply as Buffer, "json") as Record<string, unknown>;
            const ok =
              which === 0
                ? r.manager_state === "idle"
                : which === 1
                  ? r.success === true && r.status === "completed"
                  : r.success === true &&
                    JSON.stringify(r.status) ===
                      JSON.stringify({ [taskUid]: "completed", "no-such-uid": "not_found" });
            if (!ok) failures.push(`unexpected reply: ${JSON.stringify(r).slice(0, 200)}`);
          } catch (err) {
            failures.push(`socket ${i}: ${(err as Error).message}`);
            return; // a REQ socket is stuck after a lost reply
          }
        }
      }

      // Open descriptors of the manager, sampled while the clients run (the peak is kept).
      let fdsAtPeak = 0;
      const sampler = setInterval(() => {
        try {
          const n = readdirSync(`/proc/${m.proc.pid as number}/fd`).length;
          fdsAtPeak = Math.max(fdsAtPeak, n);
        } catch {
          // the manager is gone: the checks below say so
        }
      }, 250);
      await Promise.all(socks.map((s, i) => client(s, i)));
      clearInterval(sampler);
      const elapsed = (performance.now() - t0) / 1000;
      const rss1 = rssMb(m.proc.pid as number);
      for (const s of socks) s.close();

      const sorted = Float64Array.from(latencies).sort();
      const answered = latencies.length + firstLatencies.length;
      const stats = {
        sockets: SOCKETS,
        seconds: Number(elapsed.toFixed(1)),
        requests: sent,
        answered,
        per_second: Math.round(answered / elapsed),
        first_request_max_ms: Number(Math.max(...firstLatencies).toFixed(1)),
        p50_ms: Number(pct(sorted, 50).toFixed(1)),
        p99_ms: Number(pct(sorted, 99).toFixed(1)),
        max_ms: Number(pct(sorted, 100).toFixed(1)),
        manager_fds: fdsAtPeak,
        manager_rss_mb: { before: Math.round(rss0), after: Math.round(rss1) },
      };
      console.log(`load: ${JSON.stringify(stats)}`);

      expect(failures.slice(0, 5)).toEqual([]);
      expect(answered).toBe(sent);
      // Every socket was served, many times over.
      expect(firstLatencies.length).toBe(SOCKETS);
      expect(answered).toBeGreaterThan(SOCKETS * 5);
      // 1,000 connections at once fit in the manager's listen backlog (with
      // zeromq's default of 100, connections waited for SYN retries: 2.5 s).
      const port = Number(new URL(m.controlAddr.replace("tcp://", "http://")).port);
      expect(listenBacklog(port)).toBeGreaterThanOrEqual(SOCKETS);
      // All 1,000 connections were open at the same time.
      expect(fdsAtPeak).toBeGreaterThan(SOCKETS);
      // The manager still answers a new client.
      expect((await c.request("status")).manager_state).toBe("idle");
      expect(m.proc.exitCode).toBeNull();
    },
    SECONDS * 1000 + 60_000,
  );
});
