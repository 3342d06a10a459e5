/**
 * Sockets: the control ROUTER (REQ clients, raw DEALERs) and the info PUB.
 * The receive loop never waits for a handler: each request is answered when
 * its handler is done, so a slow request never holds up `status`.
 */
import { constants as bufferConstants } from "node:buffer";
import { readFileSync, statSync } from "node:fs";
import { Publisher, Reply, Router } from "zeromq";
import type { Logger } from "pino";
import type { WireEncoding } from "../../protocol/index.js";
import { encode, TOPIC_CONSOLE, TOPIC_INFO, TOPIC_TASK } from "../../protocol/index.js";
import { isCurveKey, z85Encode } from "../../protocol/z85.js";
import type { Dispatcher } from "./dispatch.js";
import { routerLoop } from "./router-loop.js";
import { SendQueue } from "./sendqueue.js";

/** Split a ROUTER message into its routing envelope and its body frames. */
export function splitEnvelope(frames: Buffer[]): { envelope: Buffer[]; body: Buffer[] } {
  // frames[0] is the peer identity. A REQ peer adds an empty delimiter frame.
  for (let i = 1; i < frames.length; i++) {
    if ((frames[i] as Buffer).length === 0) {
      return { envelope: frames.slice(0, i + 1), body: frames.slice(i + 1) };
    }
  }
  return { envelope: frames.slice(0, 1), body: frames.slice(1) };
}

/** The least the control socket reads before it drops a connection: 1 GiB. */
export const MIN_SOCKET_MESSAGE_SIZE = 1024 ** 3;

/**
 * The control socket's own limit on a message (ZeroMQ's ZMQ_MAXMSGSIZE): 1 GiB,
 * or 4 × --max-message-size when that is more (within what a Node Buffer can
 * hold). A request up to it is read whole and, when over --max-message-size,
 * answered with a `success: false` reply. Past it, ZeroMQ closes the client's
 * connection as soon as the message's header announces the size, without
 * reading the rest: no reply can be sent (the client sees its timeout), but
 * no client can make the manager hold more than this in memory per message.
 */
export function socketMessageLimit(maxMessageSize: number): number {
  return Math.min(
    Math.max(MIN_SOCKET_MESSAGE_SIZE, maxMessageSize * 4),
    bufferConstants.MAX_LENGTH,
  );
}

export interface ControlServerOptions {
  address: string;
  /** Hard limit at the socket (socketMessageLimit): larger messages drop the connection. */
  socketMaxMessageSize: number;
  curveSecretKey?: string;
  /** With CURVE: only clients whose public key is on this list get in (a ZAP handler). */
  allowedClients?: AllowList;
  /** Other sockets' allow-lists, by ZAP domain (the worker socket's), checked by the same handler. */
  otherZapDomains?: Map<string, { list: AllowList; who: string }>;
  replyEncodingForErrors: WireEncoding;
  /**
   * Keep trying this long (ms) while the address is still in use (a socket
   * of this process closed a moment ago: a manager stepping down to standby,
   * or a standby taking over). Default 0: fail at once.
   */
  bindRetryMs?: number;
}

/** How long the control socket may still deliver queued replies once closed (ms). */
export const CONTROL_LINGER_MS = 1000;

/**
 * How long the control socket stays open after the last reply it took, before
 * the manager closes it and exits (ms). ZeroMQ writes a message out on its own
 * I/O thread after the socket took it; on a busy machine, a socket closed by a
 * process that exits at once lost a reply just taken (the reply to
 * manager_stop), the linger notwithstanding.
 */
const REPLY_DRAIN_MS = 300;

export class ControlServer {
  readonly router: Router;
  private readonly sendQueue: SendQueue;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private zap: ZapHandler | undefined;

  constructor(
    private readonly opts: ControlServerOptions,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {
    this.router = new Router({
      linger: CONTROL_LINGER_MS,
      // Pending TCP connections (zeromq's default is 100): a burst of clients
      // past it waits for SYN retries, a second or more.
      backlog: 1024,
      maxMessageSize: opts.socketMaxMessageSize,
      ...(opts.curveSecretKey ? { curveServer: true, curveSecretKey: opts.curveSecretKey } : {}),
      ...(opts.allowedClients ? { zapDomain: ZAP_DOMAIN } : {}),
    });
    this.sendQueue = new SendQueue(this.router, (err) =>
      this.log.warn({ err }, "Failed to send a reply"),
    );
  }

  async bind(): Promise<void> {
    const others = this.opts.otherZapDomains;
    if (this.opts.allowedClients || (others && others.size > 0)) {
      if (!this.opts.curveSecretKey) {
        throw new Error("--zmq-allowed-clients needs CURVE: give the server's --zmq-private-key");
      }
      const domains = new Map(others ?? []);
      if (this.opts.allowedClients) {
        domains.set(ZAP_DOMAIN, { list: this.opts.allowedClients, who: "client" });
      }
      this.zap = new ZapHandler(domains, this.log);
      await this.zap.bind();
    }
    const until = performance.now() + (this.opts.bindRetryMs ?? 0);
    for (;;) {
      try {
        await this.router.bind(this.opts.address);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "EADDRINUSE" || performance.now() >= until)
          throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.running = true;
    this.loopDone = routerLoop(this.router, {
      name: "the control socket",
      log: this.log,
      running: () => this.running,
      onFrames: (frames) => this.onMessage(frames),
    });
  }

  private onMessage(frames: Buffer[]): void {
    const { envelope, body } = splitEnvelope(frames);
    if (body.length !== 1) {
      // Answer in the encoding of the first frame when there is one (`auto`).
      const first = body[0];
      const reply = encode(
        {
          success: false,
          msg: `Failed to decode the request: expected one message frame, got ${body.length}`,
        },
        first ? this.dispatcher.replyEncoding(first) : this.opts.replyEncodingForErrors,
      );
      this.sendQueue.send([...envelope, reply]);
      return;
    }
    let out: Buffer | Promise<Buffer>;
    try {
      out = this.dispatcher.handle(body[0] as Buffer);
    } catch (err) {
      // The dispatcher catches handler errors; this is a last line of defence.
      this.log.error({ err }, "Request failed unexpectedly");
      out = encode(
        { success: false, msg: `Internal error: ${String(err)}` },
        this.opts.replyEncodingForErrors,
      );
    }
    if (out instanceof Promise) {
      out.then(
        (reply) => this.sendQueue.send([...envelope, reply]),
        (err: unknown) => {
          this.log.error({ err }, "Request failed unexpectedly");
          this.sendQueue.send([
            ...envelope,
            encode(
              { success: false, msg: `Internal error: ${String(err)}` },
              this.opts.replyEncodingForErrors,
            ),
          ]);
        },
      );
    } else {
      this.sendQueue.send([...envelope, out]);
    }
  }

  /**
   * Wait until every reply sent so far is handed to the socket (the reply to
   * manager_stop among them), or `timeoutMs` has passed; then, if the socket
   * took a reply less than REPLY_DRAIN_MS ago, for the rest of that time.
   */
  async flush(timeoutMs = CONTROL_LINGER_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([this.sendQueue.idle(), late]);
    clearTimeout(timer);
    const rest = this.sendQueue.lastSentAt + REPLY_DRAIN_MS - performance.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }

  async close(): Promise<void> {
    this.running = false;
    this.sendQueue.close();
    this.router.close();
    await this.loopDone?.catch(() => undefined);
    await this.zap?.close();
  }
}

/** The ZAP domain of the control socket (ZMQ RFC 27). */
export const ZAP_DOMAIN = "zqs.control";
/** The ZAP domain of the socket of workers on other hosts. */
export const WORKER_ZAP_DOMAIN = "zqs.workers";
/** Where libzmq sends its authentication requests: a fixed inproc address of the context. */
const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
/**
 * Parse an allow-list: one z85 public key per line, blank lines skipped. `#`
 * starts a comment at the beginning of a line or after whitespace (`#` is a
 * z85 character, but no valid key begins with it: a block starting with `#`
 * is out of range).
 */
export function parseAllowedClients(text: string, source: string): Set<string> {
  const keys = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") return;
    if (!isCurveKey(line)) {
      throw new Error(
        `${source}:${i + 1}: expected a CURVE public key (40 z85 characters), got '${line.slice(0, 60)}'`,
      );
    }
    keys.add(line);
  });
  return keys;
}

/**
 * The allow-list file of client public keys. It is read again when it changes
 * (checked at each new connection), so clients can be added without a restart;
 * a file that has become invalid keeps the previous list (and is logged).
 */
export class AllowList {
  private keys: Set<string>;
  private mtimeMs: number;
  /** Keys allowed besides the file's (the manager's own HTTP gateway), kept across reloads. */
  private readonly own = new Set<string>();

  constructor(readonly file: string) {
    this.mtimeMs = AllowList.mtime(file);
    this.keys = AllowList.read(file);
  }

  private static mtime(file: string): number {
    try {
      return statSync(file).mtimeMs;
    } catch (err) {
      throw new Error(
        `Cannot read the allow-list of clients '${file}': ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private static read(file: string): Set<string> {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(
        `Cannot read the allow-list of clients '${file}': ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return parseAllowedClients(text, file);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Whether a client key (z85) is on the list; re-reads the file if it changed. */
  allows(key: string, log?: Logger): boolean {
    try {
      const m = AllowList.mtime(this.file);
      if (m !== this.mtimeMs) {
        const keys = AllowList.read(this.file);
        this.mtimeMs = m;
        this.keys = keys;
        log?.info(`Reloaded the allow-list of clients '${this.file}': ${keys.size} key(s)`);
      }
    } catch (err) {
      log?.error(`${(err as Error).message}: the previous list stays in force`);
    }
    return this.keys.has(key) || this.own.has(key);
  }

  /** Allow a key of the manager's own (not written to the file). */
  allowOwn(key: string): void {
    this.own.add(key);
  }
}

/**
 * The ZAP handler (ZMQ RFC 27): libzmq asks it about every CURVE handshake on
 * a socket of this context. Clients of the control socket whose public key is
 * not on the allow-list are refused (status 400): they never get a connection,
 * so their requests time out. Each refused key is logged once.
 */
export class ZapHandler {
  private readonly sock = new Reply({ linger: 0 });
  private loopDone: Promise<void> | undefined;
  private readonly refused = new Set<string>();

  constructor(
    /** ZAP domain → its allow-list and what its peers are called in the log. */
    private readonly domains: Map<string, { list: AllowList; who: string }>,
    private readonly log: Logger,
  ) {}

  async bind(): Promise<void> {
    await this.sock.bind(ZAP_ENDPOINT);
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch {
        return; // closed
      }
      const [version, requestId, domain, address, , mechanism, credential] = frames;
      let status = "400";
      let text = "Not allowed";
      let userId = "";
      const checked = this.domains.get(domain?.toString() ?? "");
      if (version?.toString() !== "1.0") {
        text = "Unsupported ZAP version";
      } else if (!checked) {
        // Another socket of this process with its own security: what libzmq
        // does without a handler (let it in).
        status = "200";
        text = "OK";
      } else if (mechanism?.toString() !== "CURVE" || credential?.length !== 32) {
        text = "CURVE is required";
      } else {
        const key = z85Encode(credential);
        if (checked.list.allows(key, this.log)) {
          status = "200";
          text = "OK";
          userId = key;
        } else {
          this.noteRefused(key, address?.toString() ?? "?", checked.who);
        }
      }
      try {
        await this.sock.send([version ?? "1.0", requestId ?? "", status, text, userId, ""]);
      } catch {
        return;
      }
    }
  }

  private noteRefused(key: string, address: string, who: string): void {
    if (this.refused.has(key)) return;
    // Bounded: a flood of new keys must not grow memory without end.
    if (this.refused.size >= 10_000) this.refused.clear();
    this.refused.add(key);
    this.log.warn(
      `Refused a ${who} whose public key is not on the allow-list: ${key} (from ${address})`,
    );
  }

  async close(): Promise<void> {
    this.sock.close();
    await this.loopDone?.catch(() => undefined);
  }
}

/**
 * The info socket: QS_Info, QS_Console and QS_Task messages. A subscriber
 * that does not read gets at most `hwm` messages queued for it (ZeroMQ's
 * send high-water mark, per subscriber); past it PUB drops its messages, and
 * the others' go on. What waits to be handed to the socket is bounded by the
 * same number.
 */
export class InfoPublisher {
  readonly pub: Publisher;
  private readonly sendQueue: SendQueue;
  private lastStatusPayload: unknown;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly address: string,
    private readonly encoding: WireEncoding,
    log: Logger,
    /** Messages kept for one subscriber that does not read (`--zmq-info-hwm`). */
    private readonly hwm: number,
    /** How often the last status is published again (ms; `--zmq-info-interval`). */
    private readonly intervalMs: number,
  ) {
    this.pub = new Publisher({ linger: 0, sendHighWaterMark: hwm });
    this.sendQueue = new SendQueue(this.pub, (err) =>
      log.debug({ err }, "Failed to publish an info message"),
    );
  }

  async bind(): Promise<void> {
    await this.pub.bind(this.address);
    // Re-publish the last status at least every interval (same status_uid).
    this.timer = setInterval(() => {
      if (this.lastStatusPayload !== undefined) this.publish(TOPIC_INFO, this.lastStatusPayload);
    }, this.intervalMs);
    this.timer.unref();
  }

  private publish(topic: string, msg: unknown): void {
    // Keep memory bounded when nobody reads fast enough: drop, as PUB does.
    if (this.sendQueue.length > this.hwm) return;
    this.sendQueue.send([topic, encode({ time: Date.now() / 1000, msg }, this.encoding)]);
  }

  status(status: unknown): void {
    this.lastStatusPayload = { status };
    this.publish(TOPIC_INFO, this.lastStatusPayload);
  }

  console(text: string): void {
    this.publish(TOPIC_CONSOLE, text);
  }

  task(event: Record<string, unknown>): void {
    this.publish(TOPIC_TASK, event);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.sendQueue.close();
    this.pub.close();
  }
}
