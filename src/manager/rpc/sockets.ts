/**
 * The manager's two sockets as services: the control socket (requests, with
 * CURVE and the allow-list of clients when configured) and the info socket
 * (status, QS_Console and QS_Task), each bound at start and closed at stop.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../../protocol/index.js";
import type { ManagerOptions } from "../options.js";
import type { Dispatcher } from "./dispatch.js";
import {
  AllowList,
  ControlServer,
  InfoPublisher,
  socketMessageLimit,
  WORKER_ZAP_DOMAIN,
} from "./server.js";

type ControlOptions = Pick<
  ManagerOptions,
  | "zmqControlAddr"
  | "maxMessageSize"
  | "zmqPrivateKey"
  | "zmqAllowedClients"
  | "zmqAllowedWorkers"
  | "httpAddr"
>;

/** The control socket: its allow-lists are read at start (a file that cannot be read fails it). */
export class ControlSocket {
  private server: ControlServer | undefined;
  /** The allow-list of clients (--zmq-allowed-clients), once read. */
  allowedClients: AllowList | undefined;

  constructor(
    private readonly opts: ControlOptions,
    private readonly dispatcher: Dispatcher,
    private readonly replyEncodingForErrors: WireEncoding,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const o = this.opts;
    const allowedClients = o.zmqAllowedClients ? new AllowList(o.zmqAllowedClients) : undefined;
    this.allowedClients = allowedClients;
    if (allowedClients?.size === 0 && !o.httpAddr) {
      this.log.warn(`The allow-list '${allowedClients.file}' is empty: no client can connect`);
    }
    this.server = new ControlServer(
      {
        address: o.zmqControlAddr,
        socketMaxMessageSize: socketMessageLimit(o.maxMessageSize),
        ...(o.zmqPrivateKey ? { curveSecretKey: o.zmqPrivateKey } : {}),
        ...(allowedClients ? { allowedClients } : {}),
        ...(o.zmqAllowedWorkers
          ? {
              otherZapDomains: new Map([
                [WORKER_ZAP_DOMAIN, { list: new AllowList(o.zmqAllowedWorkers), who: "worker" }],
              ]),
            }
          : {}),
        replyEncodingForErrors: this.replyEncodingForErrors,
      },
      this.dispatcher,
      this.log,
    );
    await this.server.bind();
  }

  /** The replies queued so far are sent, then the socket closes. */
  async stop(): Promise<void> {
    await this.server?.flush();
    await this.server?.close();
  }
}

/** What the info socket publishes: the status as it changes, task events, console lines. */
export interface InfoSources {
  status: {
    status(): unknown;
    on(event: "change", listener: (status: unknown) => void): unknown;
  };
  tasks: { on(event: "task", listener: (e: Record<string, unknown>) => void): unknown };
}

/** The info socket (PUB), when it is on (--zmq-publish-console, or the HTTP gateway). */
export class InfoSocket {
  private publisher: InfoPublisher | undefined;

  constructor(
    private readonly opts: Pick<ManagerOptions, "zmqInfoAddr" | "zmqInfoHwm">,
    private readonly encoding: WireEncoding,
    private readonly sources: InfoSources,
    private readonly log: Logger,
  ) {}

  get on(): boolean {
    return this.publisher !== undefined;
  }

  async start(): Promise<void> {
    const info = new InfoPublisher(
      this.opts.zmqInfoAddr,
      this.encoding,
      this.log,
      this.opts.zmqInfoHwm,
    );
    this.publisher = info;
    await info.bind();
    this.sources.status.on("change", (s) => info.status(s));
    this.sources.tasks.on("task", (e) => info.task(e));
    info.status(this.sources.status.status());
  }

  /** Publish text on QS_Console (nothing while the socket is off). */
  console(text: string): void {
    this.publisher?.console(text);
  }

  /** Publish a task or worker event on QS_Task. */
  task(event: Record<string, unknown>): void {
    this.publisher?.task(event);
  }

  stop(): void {
    this.publisher?.close();
  }
}
