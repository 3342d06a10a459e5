/**
 * The manager's two sockets as services: the control socket (requests, with
 * CURVE and the allow-list of clients when configured) and the info socket
 * (status, QS_Console and QS_Task), each bound at start and closed at stop.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../../protocol/index.js";
import type { ManagerOptions } from "../options.js";
import type { Dispatcher } from "./dispatch.js";
import { controlServer, type ControlSetupOptions } from "./control-setup.js";
import { type AllowList, type ControlServer, InfoPublisher } from "./server.js";

type ControlOptions = ControlSetupOptions & Pick<ManagerOptions, "httpAddr">;

/** The control socket: its allow-lists are read at start (a file that cannot be read fails it). */
export class ControlSocket {
  private server: ControlServer | undefined;
  /** The allow-list of clients (--zmq-allowed-clients), once read. */
  allowedClients: AllowList | undefined;

  /** `bindRetryMs`: how long to keep trying an address closed a moment ago (a standby taking over). */
  constructor(
    private readonly opts: ControlOptions,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    private readonly bindRetryMs = 0,
  ) {}

  async start(): Promise<void> {
    const { control, allowedClients } = controlServer(this.opts, this.dispatcher, this.log, {
      bindRetryMs: this.bindRetryMs,
    });
    this.allowedClients = allowedClients;
    if (allowedClients?.size === 0 && !this.opts.httpAddr) {
      this.log.warn(`The allow-list '${allowedClients.file}' is empty: no client can connect`);
    }
    this.server = control;
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
    private readonly opts: Pick<ManagerOptions, "zmqInfoAddr" | "zmqInfoHwm" | "zmqInfoInterval">,
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
      this.opts.zmqInfoInterval * 1000,
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
