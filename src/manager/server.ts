/**
 * Sockets: the control ROUTER (REQ clients, raw DEALERs) and the info PUB.
 * The receive loop never waits for a handler: each request is answered when
 * its handler is done, so a slow request never holds up `status`.
 */
import { Publisher, Router } from "zeromq";
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import { encode, TOPIC_CONSOLE, TOPIC_INFO, TOPIC_TASK } from "../protocol/index.js";
import type { Dispatcher } from "./dispatch.js";
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

export interface ControlServerOptions {
  address: string;
  /** Hard limit at the socket: larger messages drop the connection. */
  socketMaxMessageSize: number;
  curveSecretKey?: string;
  replyEncodingForErrors: WireEncoding;
}

export class ControlServer {
  readonly router: Router;
  private readonly sendQueue: SendQueue;
  private running = false;
  private loopDone: Promise<void> | undefined;

  constructor(
    private readonly opts: ControlServerOptions,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {
    this.router = new Router({
      linger: 1000,
      maxMessageSize: opts.socketMaxMessageSize,
      ...(opts.curveSecretKey ? { curveServer: true, curveSecretKey: opts.curveSecretKey } : {}),
    });
    this.sendQueue = new SendQueue(this.router, (err) =>
      this.log.warn({ err }, "Failed to send a reply"),
    );
  }

  async bind(): Promise<void> {
    await this.router.bind(this.opts.address);
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Replies waiting to be written. */
  get pendingReplies(): number {
    return this.sendQueue.length;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let frames: Buffer[];
      try {
        frames = await this.router.receive();
      } catch (err) {
        if (!this.running || this.router.closed) return;
        this.log.warn({ err }, "Receive failed on the control socket");
        continue;
      }
      this.onMessage(frames);
    }
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

  /** Wait until queued replies are handed to the socket (bounded). */
  async flush(timeoutMs = 1000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.sendQueue.length > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.sendQueue.close();
    this.router.close();
    await this.loopDone?.catch(() => undefined);
  }
}

/** The info socket: QS_Info, QS_Console and QS_Task messages. */
export class InfoPublisher {
  readonly pub: Publisher;
  private readonly sendQueue: SendQueue;
  private lastStatusPayload: unknown;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly address: string,
    private readonly encoding: WireEncoding,
    log: Logger,
  ) {
    this.pub = new Publisher({ linger: 0, sendHighWaterMark: 10_000 });
    this.sendQueue = new SendQueue(this.pub, (err) =>
      log.debug({ err }, "Failed to publish an info message"),
    );
  }

  async bind(): Promise<void> {
    await this.pub.bind(this.address);
    // Re-publish the last status at least once a second (same status_uid).
    this.timer = setInterval(() => {
      if (this.lastStatusPayload !== undefined) this.publish(TOPIC_INFO, this.lastStatusPayload);
    }, 1000);
    this.timer.unref();
  }

  private publish(topic: string, msg: unknown): void {
    // Keep memory bounded when nobody reads fast enough: drop, as PUB does.
    if (this.sendQueue.length > 10_000) return;
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
