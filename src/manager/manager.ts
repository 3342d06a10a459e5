/**
 * The manager daemon: binds the sockets, owns the status and the handlers of
 * each area, and shuts down cleanly on manager_stop, SIGTERM or SIGINT.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import { TOPIC_CONSOLE } from "../protocol/index.js";
import { Dispatcher } from "./dispatch.js";
import type { Handlers } from "./dispatch.js";
import { existsSync } from "node:fs";
import path from "node:path";
import { EnvironmentController } from "./environment.js";
import { environmentHandlers } from "./handlers/environment.js";
import { managerHandlers } from "./handlers/manager.js";
import { permissionHandlers } from "./handlers/permissions.js";
import { statusHandlers } from "./handlers/status.js";
import { taskHandlers } from "./handlers/tasks.js";
import {
  DEFAULT_PERMISSIONS,
  loadPermissionsFile,
  Permissions,
  validatePermissions,
} from "./permissions.js";
import { TaskRegistry } from "./tasks.js";
import type { ManagerLogger } from "./log.js";
import type { ManagerOptions } from "./options.js";
import { ControlServer, InfoPublisher } from "./server.js";
import { StatusState } from "./state.js";
import type { Store, StoreOp } from "./store/types.js";

export class Manager {
  readonly state = new StatusState();
  readonly log: Logger;
  readonly tasks: TaskRegistry;
  readonly env: EnvironmentController;
  permissions: Permissions;
  private allowedCache = new Map<
    string,
    { plans: Record<string, unknown>; devices: Record<string, unknown> }
  >();
  /** Where changes are made durable (set in start()). */
  store: Store | undefined;
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
    this.tasks = new TaskRegistry(opts.taskResultsRetention, this.state);
    this.env = new EnvironmentController(
      {
        startupDir: opts.startupDir,
        startupModule: opts.startupModule,
        heartbeatTimeoutMs: 1000,
        closeTimeoutMs: 5000,
      },
      this.state,
      this.tasks,
      this.log,
      (text) => this.console(text),
    );
    this.env.onContent = () => {
      this.allowedCache.clear();
      this.state.bump(
        "plans_existing_uid",
        "devices_existing_uid",
        "plans_allowed_uid",
        "devices_allowed_uid",
      );
    };
    this.permissions = new Permissions(this.loadPermissions());
  }

  private handlers(): Handlers {
    return {
      ...statusHandlers(this),
      ...managerHandlers(this),
      ...environmentHandlers(this),
      ...taskHandlers(this),
      ...permissionHandlers(this),
    };
  }

  /** The permissions file: the option, else user_group_permissions.yaml of the startup dir. */
  get permissionsFile(): string | undefined {
    if (this.opts.userGroupPermissions) return this.opts.userGroupPermissions;
    if (this.opts.startupDir) {
      const f = path.join(this.opts.startupDir, "user_group_permissions.yaml");
      if (existsSync(f)) return f;
    }
    return undefined;
  }

  private loadPermissions() {
    const file = this.permissionsFile;
    return file ? loadPermissionsFile(file) : structuredClone(DEFAULT_PERMISSIONS);
  }

  reloadPermissions(): void {
    this.applyPermissions(this.loadPermissions());
  }

  setPermissions(doc: unknown): void {
    this.applyPermissions(validatePermissions(doc));
  }

  private applyPermissions(doc: ReturnType<typeof validatePermissions>): void {
    this.permissions = new Permissions(doc);
    this.allowedCache.clear();
    this.state.bump("plans_allowed_uid", "devices_allowed_uid");
  }

  /** plans_allowed / devices_allowed of a group, cached until lists or permissions change. */
  allowedLists(group: string): {
    plans: Record<string, unknown>;
    devices: Record<string, unknown>;
  } {
    let c = this.allowedCache.get(group);
    if (!c) {
      c = {
        plans: this.permissions.allowedPlans(group, this.env.content.plans_existing),
        devices: this.permissions.allowedDevices(group, this.env.content.devices_existing),
      };
      this.allowedCache.set(group, c);
    }
    return c;
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
        (this.info
          ? `, info ${this.opts.zmqInfoAddr} (${TOPIC_CONSOLE} on)`
          : ", info socket off") +
        `, encoding ${this.opts.zmqEncoding}`,
    );
  }

  /** Make changes durable before a reply says success. */
  async persist(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length > 0) await this.store?.apply(ops);
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
        this.env.shutdown();
        this.tasks.close();
        this.info?.close();
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }
}
