/**
 * bench:remote — workers on other hosts, on loopback:
 *   - `benchRemoteThroughput`: background no-op tasks (one request each, 16 in
 *     flight) over 1, 2 or 4 `zqs worker` processes (`--slots 2` each, the
 *     manager with `--workers 0`), beside a bare DEALER/ROUTER echo with the
 *     same requests in flight;
 *   - `benchRemoteScheduling`: the same tasks with 1,000 simulated workers
 *     connected (one process holding 1,000 DEALER sockets that answer at once,
 *     bench/sim-workers.mjs) beside 1 simulated worker: the manager's cost of
 *     many connected workers (dealing, heartbeats), as a ratio.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { CLI, freePort, ROOT, waitUntil } from "../test/helpers/manager.js";
import { fmt, pipelinedRate, startEchoServer, startNoopManager, type NoopManager } from "./lib.js";
import { encode } from "../src/protocol/index.js";
import { noopExecute } from "./lib.js";
import { backgroundRate } from "./throughput.js";

async function remoteManager(): Promise<{ z: NoopManager; addr: string }> {
  const addr = `tcp://127.0.0.1:${await freePort()}`;
  const z = await startNoopManager({ workers: 0, args: ["--zmq-worker-addr", addr] });
  return { z, addr };
}

async function onlineWorkers(z: NoopManager): Promise<number> {
  const r = await z.c.request("workers_list");
  return (r.workers as { kind: string; state: string }[]).filter(
    (w) => w.kind === "remote" && w.state === "online",
  ).length;
}

function stopAll(procs: ChildProcess[]): Promise<unknown> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve(undefined);
          p.once("exit", resolve);
          p.kill("SIGKILL");
        }),
    ),
  );
}

export interface RemoteThroughput {
  workers: number;
  tasksPerSec: number;
  echoPerSec: number;
}

export async function benchRemoteThroughput(n = 5000, workers = 1): Promise<RemoteThroughput> {
  const { z, addr } = await remoteManager();
  const procs: ChildProcess[] = [];
  const router = await startEchoServer("router");
  try {
    for (let i = 0; i < workers; i++) {
      procs.push(
        spawn(
          process.execPath,
          [
            CLI,
            "worker",
            "--connect",
            addr,
            "--startup-dir",
            path.join(ROOT, "bench/startup"),
            "--name",
            `bench-${i}`,
            "--slots",
            "2",
          ],
          { stdio: "ignore" },
        ),
      );
    }
    await waitUntil(async () => (await onlineWorkers(z)) === workers, 120_000);
    const body = encode({ method: "function_execute", params: noopExecute(true) }, "json");
    const echoPerSec = await pipelinedRate(router.address, () => body, n, 16);
    const tasksPerSec = await backgroundRate(z, n, 16);
    return { workers, tasksPerSec, echoPerSec };
  } finally {
    router.stop();
    await stopAll(procs);
    await z.stop();
  }
}

/** Background no-op tasks/s with `simulated` workers connected (answering at once). */
export async function benchRemoteScheduling(n = 5000, simulated = 1000): Promise<number> {
  const { z, addr } = await remoteManager();
  const sim = spawn(
    process.execPath,
    [path.join(ROOT, "bench/sim-workers.mjs"), addr, String(simulated)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      sim.stdout?.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) resolve();
      });
      sim.once("exit", (code) =>
        reject(new Error(`the simulated workers exited (${String(code)})`)),
      );
    });
    await waitUntil(async () => (await onlineWorkers(z)) === simulated, 120_000);
    return await backgroundRate(z, n, 16);
  } finally {
    await stopAll([sim]);
    await z.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.BENCH_N ?? 5000);
  for (const w of [1, 2, 4]) {
    const r = await benchRemoteThroughput(n, w);
    console.log(
      `${w} remote worker(s), --slots 2: ${fmt(r.tasksPerSec, 0)} tasks/s; raw DEALER/ROUTER echo ${fmt(r.echoPerSec, 0)} req/s (16 in flight); ratio ${fmt(r.tasksPerSec / r.echoPerSec, 2)}`,
    );
  }
  const one = await benchRemoteScheduling(n, 1);
  const many = await benchRemoteScheduling(n, 1000);
  console.log(
    `simulated workers answering at once: 1,000 connected ${fmt(many, 0)} tasks/s; 1 connected ${fmt(one, 0)} tasks/s; ratio ${fmt(many / one, 2)}`,
  );
}
