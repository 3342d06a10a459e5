/**
 * What a standby manager serves on its control socket while another holds
 * the store: `ping` and `status` (manager_state "standby", and the active
 * manager), and for every other method a refusal naming the active manager.
 */
import type { Logger } from "pino";
import { Dispatcher } from "./dispatch.js";
import { bindRetryMs, controlServer, type ControlSetupOptions } from "./control-setup.js";
import type { ControlServer } from "./server.js";
import { StatusState } from "../state.js";
import { markStandby } from "../activity.js";

/** What the standby says of itself: its status's extra keys, and its refusal. */
export interface StandbyRole {
  statusExtras(): Record<string, unknown>;
  refusal(): Record<string, unknown>;
}

export class StandbyServer {
  private readonly state = new StatusState();
  private control: ControlServer | undefined;
  private bound: Promise<void> | undefined;

  constructor(
    private readonly opts: ControlSetupOptions,
    private readonly ha: StandbyRole,
    private readonly log: Logger,
  ) {
    markStandby(this.state);
    this.state.setExtras(() => ha.statusExtras());
  }

  /** Bind the control socket (once; later calls wait for the first). */
  bind(): Promise<void> {
    this.bound ??= (async () => {
      const dispatcher = new Dispatcher(this.opts.zmqEncoding, this.opts.maxMessageSize, {
        handlers: {},
        statusBytes: (enc) => this.state.statusBytes(enc),
        refuse: () => this.ha.refusal(),
        onInternalError: (method, err) => this.log.error({ err }, `Internal error in '${method}'`),
      });
      const { control } = controlServer(this.opts, dispatcher, this.log, {
        bindRetryMs: bindRetryMs(this.opts),
      });
      this.control = control;
      await control.bind();
      this.log.info(`Standby: serving ping and status on ${this.opts.zmqControlAddr}`);
    })();
    return this.bound;
  }

  /** The holder of the store changed: a new status. */
  holderChanged(): void {
    this.state.extrasChanged();
  }

  async close(): Promise<void> {
    if (!this.bound) return;
    await this.bound.catch(() => undefined);
    await this.control?.flush(200);
    await this.control?.close();
  }
}
