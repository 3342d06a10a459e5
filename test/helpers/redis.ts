/**
 * Start a real redis-server for a test: a free port, a fresh temp dir, the
 * append-only file synced on every write (or no persistence, for benchmarks). Not skipped when missing: the
 * tests need it (CI installs the redis-server package).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./manager.js";
import { sleep } from "./wait.js";

export interface RunningRedis {
  /** `127.0.0.1:port` */
  addr: string;
  port: number;
  /** The server's data directory. */
  dir: string;
  /** Everything the server printed so far. */
  output(): string;
  /** SIGTERM, wait for the exit (SIGKILL after 5 s), remove the dir unless it was given. */
  stop(): Promise<void>;
  /** SIGKILL, at once; `stop()` afterwards still cleans up. */
  kill9(): void;
}

export interface StartRedisOptions {
  /** Use this data directory (kept on stop), e.g. to restart on the data of a killed server. */
  dir?: string;
  /** Listen on this port (default: a free one). */
  port?: number;
  /**
   * "always" (default): the append-only file, synced on every write (what the tests need);
   * "none": no persistence at all (`--appendonly no`), as the peer benchmark runs BullMQ's server.
   */
  persistence?: "always" | "none";
  /** A replica of the server on this port (`--replicaof 127.0.0.1 <port>`). */
  replicaOf?: number;
  /**
   * A sentinel (redis-server --sentinel) watching the master on this port
   * under the name `master`: quick to judge it down (1 s) and to fail over.
   */
  sentinelOf?: { port: number; master: string };
}

function findRedisServer(): string {
  const candidates = [
    process.env.REDIS_SERVER,
    ...(process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "redis-server")),
    "/usr/bin/redis-server",
    "/usr/local/bin/redis-server",
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(
    "redis-server is not installed (looked in PATH, /usr/bin, /usr/local/bin and $REDIS_SERVER); " +
      "install it, e.g. `apt-get install redis-server`",
  );
}

/** Resolves when the server at port answers PING with PONG; rejects otherwise. */
function ping(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    sock.setTimeout(1000, () => sock.destroy(new Error("no answer")));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) {
        sock.destroy();
        if (data.startsWith("+PONG")) resolve();
        else reject(new Error(`answered ${JSON.stringify(data)}`));
      }
    });
    sock.on("error", reject);
    sock.on("close", () => reject(new Error("closed")));
  });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RunningRedis> {
  const bin = findRedisServer();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "zqs-redis-"));
  fs.mkdirSync(dir, { recursive: true });
  // Another process may take a free port before the server binds it: try a few.
  let lastErr: unknown;
  for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1); attempt++) {
    const port = opts.port ?? (await freePort());
    const common = ["--port", String(port), "--bind", "127.0.0.1", "--daemonize", "no"];
    const s = opts.sentinelOf;
    let args: string[];
    if (s) {
      // A sentinel rewrites its configuration file: one of its own.
      const conf = path.join(dir, "sentinel.conf");
      fs.writeFileSync(
        conf,
        [
          `sentinel monitor ${s.master} 127.0.0.1 ${s.port} 1`,
          `sentinel down-after-milliseconds ${s.master} 1000`,
          `sentinel failover-timeout ${s.master} 5000`,
          "",
        ].join("\n"),
      );
      args = [conf, "--sentinel", ...common, "--protected-mode", "no"];
    } else {
      args = [
        ...common,
        "--dir",
        dir,
        "--save",
        "",
        ...(opts.persistence === "none"
          ? ["--appendonly", "no"]
          : ["--appendonly", "yes", "--appendfsync", "always"]),
        "--protected-mode",
        "no",
        ...(opts.replicaOf !== undefined
          ? ["--replicaof", "127.0.0.1", String(opts.replicaOf)]
          : []),
      ];
    }
    const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once("exit", () => resolve());
    });
    const spawnError = new Promise<Error>((resolve) => proc.once("error", resolve));
    try {
      await waitForPong(port, proc, exited, spawnError, () => out);
      return handle(proc, port, dir, ownDir, exited, () => out);
    } catch (err) {
      lastErr = err;
      proc.kill("SIGKILL");
      await exited;
    }
  }
  if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

async function waitForPong(
  port: number,
  proc: ChildProcess,
  exited: Promise<void>,
  spawnError: Promise<Error>,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  let dead = false;
  void exited.then(() => (dead = true));
  let failure: Error | undefined;
  void spawnError.then((e) => (failure = e));
  for (;;) {
    if (failure) throw new Error(`cannot start redis-server: ${failure.message}`);
    if (dead) {
      throw new Error(
        `redis-server exited (code ${proc.exitCode}, signal ${proc.signalCode}): ${output()}`,
      );
    }
    try {
      await ping(port);
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer PING in 60 s: ${output()}`);
      }
      await sleep(25);
    }
  }
}

function handle(
  proc: ChildProcess,
  port: number,
  dir: string,
  ownDir: boolean,
  exited: Promise<void>,
  output: () => string,
): RunningRedis {
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    addr: `127.0.0.1:${port}`,
    port,
    dir,
    output,
    kill9() {
      if (alive()) proc.kill("SIGKILL");
    },
    async stop() {
      if (alive()) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      } else {
        await exited;
      }
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
