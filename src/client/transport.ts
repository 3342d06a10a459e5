/**
 * The control connection: one DEALER socket that frames each request as a REQ
 * socket would, with one more envelope frame in front, a request id:
 *
 *     [request id][empty delimiter][body]
 *
 * A server's ROUTER socket (zqs) or REP socket echoes every frame up to the
 * delimiter, so the reply comes back as `[id][][body]` and is matched to its
 * request by id. That gives what a REQ socket cannot:
 *
 *  - many requests in flight at once on one connection;
 *  - after a timeout the socket stays usable (a REQ socket would be stuck
 *    waiting for the reply it gave up on), and a reply that arrives late finds
 *    no pending request with its id and is dropped: it can never be taken
 *    for the answer to a later request;
 *  - `immediate` is on, so a request is only queued to a live connection: with
 *    no manager to talk to, sending fails after `timeoutSend` instead of
 *    queueing the request for whoever binds the address later.
 */
import { Dealer } from "zeromq";
import type { WireRequest } from "./errors.js";
import { ClientClosedError, RequestError, RequestTimeoutError } from "./errors.js";

export interface TransportOptions {
  address: string;
  /** Seconds to wait until a request is handed to a connection. */
  timeoutSend: number;
  /** CURVE: the server's public key and the client's own key pair (z85). */
  curve?: { serverKey: string; publicKey: string; secretKey: string };
}

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

const EMPTY = Buffer.alloc(0);

export class Transport {
  private readonly sock: Dealer;
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private sendChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly loopDone: Promise<void>;
  /** Replies that came after their request had timed out (and were dropped). */
  lateReplies = 0;

  constructor(private readonly opts: TransportOptions) {
    this.sock = new Dealer({
      linger: 0,
      immediate: true,
      sendTimeout: Math.max(0, Math.round(opts.timeoutSend * 1000)),
      ...(opts.curve
        ? {
            curveServerKey: opts.curve.serverKey,
            curvePublicKey: opts.curve.publicKey,
            curveSecretKey: opts.curve.secretKey,
          }
        : {}),
    });
    this.sock.connect(opts.address);
    this.loopDone = this.receiveLoop();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests waiting for their reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  private newId(): Buffer {
    this.counter += 1;
    const id = Buffer.alloc(8);
    id.writeUIntBE(this.counter, 2, 6);
    return id;
  }

  /**
   * Send one request body and resolve with the reply body. `timeout` (seconds)
   * counts from the moment the request was handed to the connection.
   */
  request(body: Buffer, timeout: number, request: WireRequest): Promise<Buffer> {
    if (this.closed) {
      return Promise.reject(new ClientClosedError("The client is closed", { request }));
    }
    const id = this.newId();
    const key = id.toString("hex");
    return new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: undefined, settled: false };
      this.pending.set(key, p);
      const settle = (fn: () => void) => {
        if (p.settled) return;
        p.settled = true;
        if (p.timer) clearTimeout(p.timer);
        this.pending.delete(key);
        fn();
      };
      p.resolve = (b) => settle(() => resolve(b));
      p.reject = (e) => settle(() => reject(e));
      // zeromq.js allows one pending send per socket: sends wait their turn, but
      // never longer in all than timeoutSend (a burst behind a send that blocks
      // because no manager is there fails together, not one after another).
      const sendDeadline = Date.now() + this.opts.timeoutSend * 1000;
      const sendTimeout = (cause?: unknown) =>
        new RequestTimeoutError(
          `Timed out sending '${request.method}' to ${this.opts.address}: no connection to the manager within ${this.opts.timeoutSend} s`,
          { request, cause, timeout: this.opts.timeoutSend, phase: "send" },
        );
      this.sendChain = this.sendChain.then(async () => {
        if (p.settled) return;
        if (this.closed) {
          p.reject(new ClientClosedError("The client is closed", { request }));
          return;
        }
        if (Date.now() >= sendDeadline) {
          p.reject(sendTimeout());
          return;
        }
        try {
          await this.sock.send([id, EMPTY, body]);
        } catch (err) {
          if (this.closed) {
            p.reject(new ClientClosedError("The client is closed", { request, cause: err }));
          } else if ((err as { code?: string }).code === "EAGAIN") {
            p.reject(sendTimeout(err));
          } else {
            p.reject(
              new RequestError(`Failed to send '${request.method}': ${(err as Error).message}`, {
                request,
                cause: err,
              }),
            );
          }
          return;
        }
        if (p.settled || !Number.isFinite(timeout)) return;
        p.timer = setTimeout(() => {
          p.reject(
            new RequestTimeoutError(
              `Timed out waiting for the reply to '${request.method}' from ${this.opts.address} (${timeout} s)`,
              { request, timeout, phase: "receive" },
            ),
          );
        }, timeout * 1000);
      });
    });
  }

  private async receiveLoop(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch {
        if (this.closed || this.sock.closed) return;
        continue;
      }
      // [id][][body]: everything before the delimiter is our envelope.
      const delim = frames.findIndex((f) => f.length === 0);
      const idFrame = delim > 0 ? frames[delim - 1] : undefined;
      const body = delim >= 0 ? frames[delim + 1] : undefined;
      if (idFrame === undefined || body === undefined) continue;
      const p = this.pending.get(idFrame.toString("hex"));
      if (!p) {
        this.lateReplies += 1;
        continue;
      }
      p.resolve(body);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) {
      p.reject(new ClientClosedError("The client was closed before the reply came"));
    }
    this.sock.close();
    await this.loopDone.catch(() => undefined);
  }
}
