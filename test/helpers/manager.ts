/**
 * Start a real manager process (the built JS, as users run it) on free ports,
 * and talk to it with raw REQ sockets and SUB sockets. Every integration test
 * uses these.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Request, Subscriber } from "zeromq";
import { decode, encode, type WireEncoding } from "../../src/protocol/index.js";
import { CLI, EXAMPLES } from "./paths.js";
import { writeStartup } from "./startup.js";
import { GUARD_MS, waitUntil } from "./wait.js";

export { CLI, EXAMPLES, ROOT } from "./paths.js";
export { sleep, waitUntil } from "./wait.js";

/** Failure guard of a manager's start (until it answers `status`), in ms. */
const START_MS = 120_000;
/** Failure guard of one reply to a RawClient, in ms. */
const REPLY_MS = 30_000;

/**
 * Ports are handed out from a range of this test process's own, below the
 * operating system's ephemeral ports: 1,000 per vitest worker (VITEST_POOL_ID),
 * in turn from a random start. A port the OS picks (bind to port 0) could be
 * picked for another test process too in the moment before our manager binds
 * it; a manager that then finds it taken exits, and the probe of its address
 * reaches the other test's manager instead (seen once: a restarted manager
 * "lost" its store when it was another test's fresh manager answering).
 * ZQS_TEST_PORT_BASE moves the whole block (default 20000), so that two runs of
 * the suite on one machine (two checkouts) keep out of each other's ports.
 */
const PORTS_PER_PROCESS = 1000;
const PORT_BASE =
  Number(process.env.ZQS_TEST_PORT_BASE ?? 20_000) +
  (Number(process.env.VITEST_POOL_ID ?? 0) % 12) * PORTS_PER_PROCESS;
let nextPort = Math.floor(Math.random() * PORTS_PER_PROCESS);

/** A TCP port of this process's range that nobody listens on right now. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < PORTS_PER_PROCESS; i++) {
    const port = PORT_BASE + (nextPort++ % PORTS_PER_PROCESS);
    if (await canListen(port)) return port;
  }
  throw new Error(`No free port in ${PORT_BASE}-${PORT_BASE + PORTS_PER_PROCESS - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

export interface StartOptions {
  /** Extra command-line arguments for `zqs manager`. */
  args?: string[];
  encoding?: "json" | "msgpack" | "auto";
  publishConsole?: boolean;
  /**
   * Open the example startup code and permissions (default: true unless
   * `startup` is given).
   */
  examples?: boolean;
  /**
   * Startup files (name → source) written to a directory in the manager's
   * temp dir and given as --startup-dir; removed with it.
   */
  startup?: Record<string, string>;
  env?: Record<string, string>;
  /** Validate every reply against its schema (ZQS_CHECK_REPLIES; default true; benchmarks turn it off). */
  checkReplies?: boolean;
  /** The zqs command to run (default: this checkout's dist/cli/main.js). */
  cli?: string;
  /** The sockets' addresses (default: free ports; a restart gives the old ones). */
  controlAddr?: string;
  infoAddr?: string;
  /** CURVE keys of the readiness probe (a manager with --zmq-private-key answers no one else). */
  probeCurve?: CurveClientKeys;
  /**
   * `--zmq-info-interval` (seconds; default: the manager's, 1 s). Managers whose
   * tests wait on `InfoListener.ready()` pass BRISK_INFO_INTERVAL: it waits for
   * one republished status.
   */
  infoInterval?: number;
}

/** An info interval that makes `InfoListener.ready()` quick (it waits up to one interval). */
export const BRISK_INFO_INTERVAL = 0.05;

/** CURVE keys of a client: the server's public key and the client's own pair (z85). */
export interface CurveClientKeys {
  serverKey: string;
  publicKey: string;
  secretKey: string;
}

export interface RunningManager {
  proc: ChildProcess;
  controlAddr: string;
  infoAddr: string;
  tmpDir: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code when the process exits. */
  exited: Promise<number | null>;
  /** SIGTERM, wait for exit (SIGKILL after a timeout), remove the temp dir. */
  stop(): Promise<number | null>;
  /** kill -9 and wait for the exit; the temp dir stays (stop() removes it). */
  kill9(): Promise<void>;
}

export async function startManager(opts: StartOptions = {}): Promise<RunningManager> {
  const controlAddr = opts.controlAddr ?? `tcp://127.0.0.1:${await freePort()}`;
  const infoAddr = opts.infoAddr ?? `tcp://127.0.0.1:${await freePort()}`;
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), "zqs-test-"));
  const args = [
    // ZQS_MANAGER_NODE_ARGS: node flags for the manager (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p", to profile it in a bench).
    ...(process.env.ZQS_MANAGER_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
    opts.cli ?? CLI,
    "manager",
    "--zmq-control-addr",
    controlAddr,
    "--zmq-info-addr",
    infoAddr,
    "--zmq-publish-console",
    opts.publishConsole === false ? "OFF" : "ON",
    "--zmq-encoding",
    opts.encoding ?? "json",
    "--store-path",
    path.join(tmpDir, "store"),
  ];
  const examples = opts.examples ?? opts.startup === undefined;
  if (examples && opts.startup) throw new Error("startManager: either examples or startup");
  if (opts.startup) {
    args.push("--startup-dir", writeStartup(path.join(tmpDir, "startup"), opts.startup));
  }
  if (examples) {
    args.push(
      "--startup-dir",
      path.join(EXAMPLES, "startup"),
      "--user-group-permissions",
      path.join(EXAMPLES, "user_group_permissions.yaml"),
    );
  }
  if (opts.infoInterval !== undefined) {
    args.push("--zmq-info-interval", String(opts.infoInterval));
  }
  args.push(...(opts.args ?? []));
  const proc = spawn(process.execPath, args, {
    cwd: tmpDir,
    env: {
      ...process.env,
      ZQS_CHECK_REPLIES: opts.checkReplies === false ? "0" : "1",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const m: RunningManager = {
    proc,
    controlAddr,
    infoAddr,
    tmpDir,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(tmpDir, { recursive: true, force: true });
      return exited;
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
  // Ready when it answers status (asked in its own encoding: a msgpack manager
  // cannot read a JSON probe). One request, sent at once: the REQ socket
  // connects as soon as the manager binds (retrying every few ms until then) and
  // the request waits in it, so the answer comes as soon as the manager can give
  // it (a probe per 0.4 s made every start wait for the next probe).
  const probe = new RawClient(controlAddr, {
    timeoutMs: START_MS,
    encoding: opts.encoding === "msgpack" ? "msgpack" : "json",
    reconnectMs: 10,
    ...(opts.probeCurve ? { curve: opts.probeCurve } : {}),
  });
  // Its output is complete once its pipes close, after its exit.
  const closed = new Promise<string>((resolve) =>
    proc.on("close", (code, signal) => resolve(code === null ? String(signal) : String(code))),
  );
  try {
    const early = await Promise.race([
      probe.request("status").then(() => undefined),
      closed.then((code) => ({ code })),
    ]);
    if (early) {
      rmSync(tmpDir, { recursive: true, force: true });
      throw new Error(`manager exited early (code ${early.code}):\n${out}`);
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("manager exited early")) throw err;
    await m.stop();
    throw new Error(`manager did not start:\n${out}`);
  } finally {
    probe.close();
  }
  return m;
}

/** A raw REQ client with an encoding, as the Python client's socket. */
export class RawClient {
  readonly sock: Request;
  private readonly enc: WireEncoding;
  constructor(
    addr: string,
    opts: {
      encoding?: WireEncoding;
      timeoutMs?: number;
      curve?: CurveClientKeys;
      /** ZeroMQ's reconnect interval, in ms (default ZeroMQ's 100). */
      reconnectMs?: number;
    } = {},
  ) {
    this.enc = opts.encoding ?? "json";
    this.sock = new Request({
      receiveTimeout: opts.timeoutMs ?? REPLY_MS,
      linger: 0,
      ...(opts.reconnectMs !== undefined ? { reconnectInterval: opts.reconnectMs } : {}),
      ...(opts.curve
        ? {
            curveServerKey: opts.curve.serverKey,
            curvePublicKey: opts.curve.publicKey,
            curveSecretKey: opts.curve.secretKey,
          }
        : {}),
    });
    this.sock.connect(addr);
  }

  /** Send `{method, params}` and return the decoded reply. */
  async request(method: string, params?: unknown): Promise<Record<string, unknown>> {
    const msg = params === undefined ? { method } : { method, params };
    return this.send(encode(msg, this.enc));
  }

  /** Send raw bytes (or an encoded object) and decode the reply. */
  async send(bytes: Buffer): Promise<Record<string, unknown>> {
    return decode(await this.sendRaw(bytes), this.enc) as Record<string, unknown>;
  }

  /** Send raw bytes and return the reply's bytes undecoded (one frame expected). */
  async sendRaw(bytes: Buffer): Promise<Buffer> {
    await this.sock.send(bytes);
    const frames = await this.sock.receive();
    if (frames.length !== 1)
      throw new Error(`expected a one-frame reply, got ${frames.length} frames`);
    return frames[0] as Buffer;
  }

  close(): void {
    this.sock.close();
  }
}

/** Subscribe to the info socket; collect [topic, payload] messages. */
export class InfoListener {
  readonly sock: Subscriber;
  readonly messages: { topic: string; payload: Record<string, unknown> }[] = [];
  private done = false;
  private probed = false;
  constructor(
    addr: string,
    private readonly topics: string[] = [""],
    enc: WireEncoding = "json",
  ) {
    const sock = new Subscriber({ linger: 0 });
    this.sock = sock;
    sock.connect(addr);
    for (const t of topics) sock.subscribe(t);
    void (async () => {
      try {
        for await (const [topic, payload] of sock) {
          const name = (topic as Buffer).toString();
          if (name === "QS_Info") this.probed = true;
          if (!this.wants(name)) continue; // the probe of ready()
          this.messages.push({
            topic: name,
            payload: decode(payload as Buffer, enc) as Record<string, unknown>,
          });
        }
      } catch {
        if (!this.done) throw new Error("info listener failed");
      }
    })();
  }

  private wants(topic: string): boolean {
    return this.topics.some((t) => topic.startsWith(t));
  }

  /**
   * Resolves once the subscriptions are in place (a SUB socket misses what is
   * published before them): once a QS_Info message, published again every
   * `--zmq-info-interval` (see BRISK_INFO_INTERVAL), has come through a
   * subscription made after the others.
   */
  async ready(): Promise<this> {
    const probe = !this.wants("QS_Info");
    if (probe) this.sock.subscribe("QS_Info");
    await waitUntil(() => this.probed);
    if (probe) this.sock.unsubscribe("QS_Info");
    return this;
  }

  async waitFor(
    pred: (m: { topic: string; payload: Record<string, unknown> }) => boolean,
    timeoutMs = GUARD_MS,
  ): Promise<{ topic: string; payload: Record<string, unknown> }> {
    const hit = await waitUntil(() => this.messages.find(pred), timeoutMs).catch(() => {
      throw new Error(`timed out after ${timeoutMs} ms waiting for an info message`);
    });
    return hit;
  }

  close(): void {
    this.done = true;
    this.sock.close();
  }
}

/** Resident memory of a process in MB (`VmRSS` of /proc/<pid>/status; Linux). */
export function rssMb(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}
