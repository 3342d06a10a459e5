/**
 * The manager daemon: binds the sockets, owns the status and the handlers of
 * each area, and shuts down cleanly on manager_stop, SIGTERM or SIGINT.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import { TOPIC_CONSOLE } from "../protocol/index.js";
import { Dispatcher } from "./dispatch.js";
import type { Handlers } from "./dispatch.js";
import { managerHandlers } from "./handlers/manager.js";
import { statusHandlers } from "./handlers/status.js";
import type { ManagerLogger } from "./log.js";
import type { ManagerOptions } from "./options.js";
import { ControlServer, InfoPublisher } from "./server.js";
import { StatusState } from "./state.js";

export class Manager {
  readonly state = new StatusState();
  readonly log: Logger;
  private control: ControlServer | undefined;
  private info: InfoPublisher | undefined;
  private stopping: Promise<void> | undefined;
  /** Resolves when the manager has shut down. */
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(
    readonly opts: ManagerOptions,
    private readonly logger: ManagerLogger,
  ) {
    this.log = logger.log;
    this.stopped = new Promise((r) => (this.resolveStopped = r));
  }

  private handlers(): Handlers {
    return { ...statusHandlers(this), ...managerHandlers(this) };
  }

  get infoEncoding(): WireEncoding {
    return this.opts.zmqEncoding === "msgpack" ? "msgpack" : "json";
  }

  async start(): Promise<void> {
    const dispatcher = new Dispatcher(this.opts.zmqEncoding, this.opts.maxMessageSize, {
      handlers: this.handlers(),
      statusBytes: (enc) => this.state.statusBytes(enc),
      onInternalError: (method, err) => this.log.error({ err }, `Internal error in '${method}'`),
      checkReplies: process.env.ZQS_CHECK_REPLIES === "1",
    });
    this.control = new ControlServer(
      {
        address: this.opts.zmqControlAddr,
        socketMaxMessageSize: Math.max(this.opts.maxMessageSize * 4, 64 * 1024 * 1024),
        ...(this.opts.zmqPrivateKey ? { curveSecretKey: this.opts.zmqPrivateKey } : {}),
        replyEncodingForErrors: this.infoEncoding,
      },
      dispatcher,
      this.log,
    );
    if (this.opts.zmqPublishConsole) {
      this.info = new InfoPublisher(this.opts.zmqInfoAddr, this.infoEncoding, this.log);
      await this.info.bind();
      const info = this.info;
      this.state.on("change", (s) => info.status(s));
      info.status(this.state.status());
      this.logger.setConsoleSink((text) => info.console(text));
    }
    await this.control.bind();
    this.log.info(
      `zqs manager is ready: control ${this.opts.zmqControlAddr}` +
        (this.info ? `, info ${this.opts.zmqInfoAddr} (${TOPIC_CONSOLE} on)` : ", info socket off") +
        `, encoding ${this.opts.zmqEncoding}`,
    );
  }

  /** Publish text on QS_Console (worker output, manager messages). */
  console(text: string): void {
    this.info?.console(text);
  }

  /** Publish a QS_Task event. */
  taskEvent(event: Record<string, unknown>): void {
    this.info?.task(event);
  }

  /** Stop after the current replies are sent (manager_stop). */
  requestStop(reason: string): void {
    setImmediate(() => void this.stop(reason));
  }

  stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.info(`Stopping the manager (${reason})`);
        await this.control?.flush();
        this.logger.setConsoleSink(undefined);
        await this.control?.close();
        this.info?.close();
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }
}
