/**
 * The manager daemon, the composition root: builds the areas (activity, store
 * writer, access, environment, workers, tasks, queue, rpc), gives each the
 * narrow context it names, wires their events, starts (restoring the store,
 * binding the sockets) and stops. The areas' own logic lives in their folders
 * (docs/architecture.md); no area imports this class.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import { methods, TOPIC_CONSOLE } from "../protocol/index.js";
import { Dispatcher } from "./rpc/dispatch.js";
import type { Handlers } from "./rpc/dispatch.js";
import type { RpcContext } from "./rpc/context.js";
import { EnvironmentController } from "./environment/controller.js";
import { StartupLists } from "./environment/startup-lists.js";
import { environmentHandlers } from "./environment/handlers.js";
import { lockHandlers } from "./access/lock-handlers.js";
import { managerHandlers } from "./rpc/manager-handlers.js";
import { permissionHandlers } from "./access/permission-handlers.js";
import { statusHandlers } from "./rpc/status-handlers.js";
import { taskHandlers } from "./tasks/handlers.js";
import { controlHandlers } from "./queue/control-handlers.js";
import { queueHandlers } from "./queue/handlers.js";
import { runHandlers } from "./tasks/run-handlers.js";
import { RunRegistry } from "./tasks/runs.js";
import { QueueExecutor } from "./queue/executor.js";
import { PlanQueue } from "./queue/plan-queue.js";
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";
import { Idempotency } from "./rpc/idempotency.js";
import type { EnvironmentContent } from "../protocol/ipc.js";
import { AccessControl, permissionsFile } from "./access/access.js";
import { TaskRegistry } from "./tasks/registry.js";
import { TaskScheduler } from "./tasks/scheduler.js";
import { TaskLifecycle } from "./tasks/lifecycle.js";
import { Subtasks } from "./tasks/subtasks.js";
import { TaskTrees } from "./tasks/task-tree.js";
import { LockManager } from "./access/locks.js";
import type { ManagerLogger } from "./log.js";
import type { ManagerOptions } from "./options.js";
import type { AllowList, ControlServer } from "./rpc/server.js";
import { InfoPublisher } from "./rpc/server.js";
import { BIND_RETRY_MS, controlServer } from "./rpc/control-setup.js";
import { StatusState } from "./state.js";
import { Activity } from "./activity.js";
import type { StoreOp } from "./store/types.js";
import { StoreWriter } from "./store/writer.js";
import { LocalWorkerPool } from "./workers/local-pool.js";
import { CombinedWorkerPool } from "./workers/combined-pool.js";
import { LOCAL_HOSTNAME, RemoteWorkerPool } from "./workers/remote-pool.js";
import { workerHandlers } from "./workers/handlers.js";
import { WORKER_ZAP_DOMAIN } from "./rpc/server.js";
import type { HaState } from "./ha-role.js";
import { LATENCY_BUCKETS, LatencyHistograms } from "./metrics.js";
import { Schedules } from "./schedules/schedules.js";
import { scheduleHandlers } from "./schedules/handlers.js";
import { taskProblem } from "./schedules/task-check.js";

export class Manager {
  readonly state = new StatusState();
  /** The one owner of manager_state. */
  readonly activity = new Activity(this.state, () => this.env.phase === "open");
  readonly log: Logger;
  readonly tasks: TaskRegistry;
  /** Which worker runs a ready function task, and when. */
  readonly scheduler: TaskScheduler;
  /** A function task's life: dependencies, retries, timeouts, cancel, workers lost. */
  readonly lifecycle: TaskLifecycle;
  readonly env: EnvironmentController;
  /** The lists of plans and devices read from the startup code at start, without an environment. */
  readonly startupLists: StartupLists;
  /** Runs of many tasks (run_create...). */
  readonly runs: RunRegistry;
  /** Tasks that running functions and plans submit (context().subtask). */
  readonly subtasks: Subtasks;
  /** The bounds of task trees and of the manager's unfinished tasks. */
  readonly trees: TaskTrees;
  readonly queue: PlanQueue;
  readonly executor: QueueExecutor;
  /** The lock; the stored record is given to `locks.restore()` at start. */
  readonly locks: LockManager;
  /** Permissions and the allowed lists of each group. */
  readonly access: AccessControl;
  /** The one path of writes to the store (set open in start()). */
  readonly writer: StoreWriter;
  /** Schedules (schedule_create...): their fires go through `dispatcher.call`. */
  readonly schedules: Schedules;
  private dispatcher: Dispatcher | undefined;
  /** Workers on other hosts (--zmq-worker-addr), when the socket is on. */
  readonly remote: RemoteWorkerPool | undefined;
  private readonly localSlots: number;
  /** How long the manager took to handle each request, by method. */
  readonly requestLatency = new LatencyHistograms();
  private control: ControlServer | undefined;
  private allowedClients: AllowList | undefined;
  private info: InfoPublisher | undefined;
  /** The HTTP gateway started by --http-addr. */
  private http: { close(): Promise<void>; url: string } | undefined;
  private stopping: Promise<void> | undefined;
  /** Resolves when the manager has shut down. */
  readonly stopped: Promise<void>;
  /** The process's exit code once stopped: 1 when it stopped because it lost its store. */
  exitCode = 0;
  /** Stopped because another manager took the store, to wait as a standby (--standby). */
  steppedDown = false;
  /** Replies remembered by idempotency key. */
  readonly idempotency: Idempotency;
  /** With --standby: the role, shared with the standby phases of this process (standby.ts). */
  private readonly ha: HaState | undefined;
  /** A store already taken (a standby that took over), used instead of opening one. */
  private readonly preopened: Store | undefined;
  /** The store says the environment was open (a manager taking over opens it). */
  private reopenEnvironment = false;
  private resolveStopped!: () => void;

  constructor(
    readonly opts: ManagerOptions,
    private readonly logger: ManagerLogger,
    takenOver?: { ha: HaState; store: Store },
  ) {
    this.log = logger.log;
    this.ha = takenOver?.ha;
    this.preopened = takenOver?.store;
    this.writer = new StoreWriter(this.log);
    this.idempotency = new Idempotency({
      ttlSec: opts.idempotencyTtl,
      max: opts.idempotencyMax,
      write: (ops, mode) => this.writer.write(ops, { mode }),
    });
    this.writer.tag = () => this.idempotency.pendingOp();
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.tasks = new TaskRegistry(opts.taskResultsRetention, {
      state: this.state,
      activity: this.activity,
    });
    this.env = new EnvironmentController(
      {
        startupDir: opts.startupDir,
        startupModule: opts.startupModule,
        heartbeatTimeoutMs: opts.workerTimeout * 1000,
        closeTimeoutMs: 5000,
        workers: Math.max(1, opts.workers),
        workerSlots: opts.workers > 1 ? opts.workerSlots : Infinity,
        consoleLimit: { rate: opts.consoleRate, burst: opts.consoleBurst },
      },
      {
        activity: this.activity,
        tasks: { workersLost: (workers, msg) => this.lifecycle.workersLost(workers, msg) },
        log: this.log,
        console: (text) => this.console(text),
      },
    );
    this.startupLists = new StartupLists(
      {
        startupDir: opts.startupDir,
        startupModule: opts.startupModule,
        heartbeatTimeoutMs: opts.workerTimeout * 1000,
      },
      { info: (msg) => this.log.info(msg), error: (msg) => this.log.error(msg) },
    );
    this.startupLists.on("lists", (content, fingerprint) => {
      this.env.adoptContent(content);
      this.background([{ op: "set", key: "startup_fingerprint", value: fingerprint }]);
    });
    // An environment's own lists replace any still being read at start.
    this.env.on("opening", () => this.startupLists.yieldTo(this.env.whenOpenEnds()));
    this.env.on("content", (content) => {
      this.access.contentChanged();
      this.background([{ op: "set", key: "environment_content", value: content }]);
      this.state.bump(
        "plans_existing_uid",
        "devices_existing_uid",
        "plans_allowed_uid",
        "devices_allowed_uid",
      );
    });
    // One worker takes every task at once, as the Python server's; a pool deals out slots.
    // With --workers 0 the main worker takes no background task (they wait for remote workers).
    this.localSlots = opts.workers === 0 ? 0 : opts.workers > 1 ? opts.workerSlots : Infinity;
    const local =
      opts.workers > 1
        ? new LocalWorkerPool(this.env, opts.workerSlots, opts.workerPrefetch)
        : new LocalWorkerPool(this.env, Infinity, 0, opts.workers > 0);
    if (opts.zmqWorkerAddr) {
      this.remote = new RemoteWorkerPool(
        {
          address: opts.zmqWorkerAddr,
          timeoutMs: opts.workerTimeout * 1000,
          curveSecretKey: opts.zmqPrivateKey,
          zapDomain: opts.zmqAllowedWorkers ? WORKER_ZAP_DOMAIN : undefined,
          consoleLimit: { rate: opts.consoleRate, burst: opts.consoleBurst },
          limits: {
            maxFunctions: opts.workerMaxFunctions,
            maxTags: opts.workerMaxTags,
            maxHelloSize: opts.workerMaxHelloSize,
          },
          maxMessageSize: opts.workerMaxMessageSize,
          forgetAfterMs: opts.workerForgetAfter * 1000,
        },
        this.log,
      );
      this.remote.notices.on("console", (text) => this.console(text));
      this.remote.notices.on("worker-event", (e) => this.info?.task(e));
    }
    const remote = this.remote;
    this.tasks.workerInfo = (id) => {
      const r = remote?.info(id);
      if (r) return r;
      const pid = this.env.pidOf(id);
      return { hostname: LOCAL_HOSTNAME, pid: pid ?? null };
    };
    const pool = remote ? new CombinedWorkerPool(local, remote) : local;
    this.scheduler = new TaskScheduler({ tasks: this.tasks, pool });
    this.lifecycle = new TaskLifecycle({
      tasks: this.tasks,
      dealer: this.scheduler,
      pool,
      log: this.log,
      cancelGraceSec: opts.cancelGrace,
    });
    this.runs = new RunRegistry({ tasks: this.tasks, lifecycle: this.lifecycle });
    this.trees = new TaskTrees(
      {
        maxSubtaskDepth: opts.maxSubtaskDepth,
        maxTreeTasks: opts.maxTreeTasks,
        maxLiveTasks: opts.maxLiveTasks,
      },
      () => this.tasks.runningCount,
    );
    this.subtasks = new Subtasks({
      trees: this.trees,
      tasks: this.tasks,
      lifecycle: this.lifecycle,
      pool,
      access: {
        hasGroup: (g) => this.access.hasGroup(g),
        functionAllowed: (g, n) => this.access.functionAllowed(g, n),
      },
      planOwner: (uid) => {
        const r = this.queue.running;
        if (r?.item_uid !== uid) return undefined;
        const { user, user_group } = r as { user?: unknown; user_group?: unknown };
        return typeof user === "string" && typeof user_group === "string"
          ? { user, group: user_group }
          : undefined;
      },
    });
    this.access = new AccessControl({
      permissionsFile: permissionsFile(opts),
      content: () => this.env.content,
      listsKnown: (ms) => this.startupLists.whenKnown(ms),
      listsWaitSeconds: opts.startupListsWait,
      state: this.state,
      writeInBackground: (ops) => this.background(ops),
      log: this.log,
    });
    this.locks = new LockManager(
      undefined,
      (rec) =>
        this.writer.write(
          rec ? [{ op: "set", key: "lock", value: rec }] : [{ op: "delete", key: "lock" }],
          { mode: "durable" },
        ),
      this.state,
      opts.emergencyLockKey,
    );
    this.queue = new PlanQueue(this.state, (ops) => this.writer.write(ops, { mode: "durable" }));
    this.schedules = new Schedules(
      {
        submit: async ({ method, params, uid }) => {
          if (!this.dispatcher) return { success: false, msg: "the manager is not serving yet" };
          return this.dispatcher.call(method, params, uid);
        },
        check: (task, user, group) => taskProblem(this.access, task, user, group),
        write: (ops, mode) => this.writer.write(ops, { mode }),
        outcome: (uid) => this.outcomeOf(uid),
        now: () => Date.now(),
        setTimer: (ms, fn) => {
          const t = setTimeout(fn, ms);
          return () => clearTimeout(t);
        },
        log: this.log,
      },
      { catchUp: opts.scheduleCatchUp, firesKept: 20, nextShown: 5 },
    );
    this.executor = new QueueExecutor({
      queue: this.queue,
      activity: this.activity,
      state: this.state,
      env: this.env,
      log: this.log,
    });
    this.env.on("plan-message", (msg) => {
      this.executor.onWorkerMessage(msg);
      // A plan that was stopped stops its subtasks, as a cancelled task does.
      if (
        msg.type === "plan_done" &&
        ["stopped", "aborted", "halted"].includes(msg.result.exit_status)
      ) {
        this.subtasks.cancelDescendants(msg.id);
      }
    });
    this.env.on("lost", (reason) => this.executor.onWorkerLost(reason));
    // A manager taking the store over opens the environment when it was open (see restore).
    this.env.on("lost", () =>
      this.background([{ op: "set", key: "environment_open", value: false }]),
    );
    this.env.on("ready", (metadata) => {
      this.background([{ op: "set", key: "environment_open", value: true }]);
      this.executor.metadata = metadata;
      this.lifecycle.workerReady();
      this.executor.maybeAutostart();
    });
  }

  /** The methods this manager serves (the others answer "not implemented yet"). */
  servedMethods(): string[] {
    return Object.keys(this.handlers());
  }

  private handlers(): Handlers {
    const rpc: RpcContext = {
      status: () => this.state.status(),
      activity: this.activity,
      requestStop: (reason) => this.requestStop(reason),
      metrics: () => ({
        tasks_by_state: this.tasks.countsByState(),
        worker_slots: this.scheduler.slotUsage(),
        buckets: [...LATENCY_BUCKETS],
        requests: this.requestLatency.snapshot(),
        store_writes: this.writer.latency.snapshot(),
        schedules: this.schedules.counts(),
        ...(this.ha ? { ha: this.ha.metrics() } : {}),
      }),
    };
    return {
      ...statusHandlers(rpc),
      ...managerHandlers(rpc),
      ...environmentHandlers({ env: this.env, activity: this.activity, tasks: this.tasks }),
      ...taskHandlers({
        tasks: this.tasks,
        lifecycle: this.lifecycle,
        trees: this.trees,
        subtasks: this.subtasks,
        activity: this.activity,
        access: this.access,
      }),
      ...permissionHandlers({
        access: this.access,
        content: () => this.env.content,
        state: this.state,
      }),
      ...lockHandlers({ locks: this.locks, log: this.log }),
      ...queueHandlers({
        queue: this.queue,
        executor: this.executor,
        access: this.access,
        state: this.state,
      }),
      ...controlHandlers({ queue: this.queue, executor: this.executor, state: this.state }),
      ...workerHandlers({
        env: this.env,
        tasks: this.tasks,
        remote: this.remote,
        localSlots: this.localSlots,
      }),
      ...runHandlers({
        runs: this.runs,
        trees: this.trees,
        activity: this.activity,
        access: this.access,
        writer: this.writer,
      }),
      ...scheduleHandlers({
        schedules: this.schedules,
        access: this.access,
        check: (task, user, group) => taskProblem(this.access, task, user, group),
        now: () => Date.now(),
        limits: { maxSchedules: this.opts.maxSchedules, minEvery: this.opts.scheduleMinEvery },
      }),
    };
  }

  /** The outcome of a schedule's task or queue item, while the manager knows it. */
  private outcomeOf(uid: string): string | undefined {
    const task = this.tasks.get(uid);
    if (task) return task.state;
    if (this.queue.running?.item_uid === uid) return "running";
    if (this.queue.items.some((i) => i.item_uid === uid)) return "queued";
    for (let i = this.queue.history.length - 1; i >= 0; i--) {
      const h = this.queue.history[i] as { item_uid?: unknown; result?: { exit_status?: unknown } };
      if (h.item_uid === uid) {
        return typeof h.result?.exit_status === "string" ? h.result.exit_status : "completed";
      }
    }
    return undefined;
  }

  get infoEncoding(): WireEncoding {
    return this.opts.zmqEncoding === "msgpack" ? "msgpack" : "json";
  }

  /** Open the store and take back what it holds; a plan cut off by a crash goes to history. */
  private async restore(): Promise<void> {
    const store =
      this.preopened ??
      (await openStore({
        ...this.opts,
        standbyWait: undefined,
        log: { info: (msg) => this.log.info(msg), warn: (msg) => this.log.warn(msg) },
      }));
    this.writer.store = store;
    // Another manager took the store (Redis: the lease): write nothing more, and stop
    // (a --standby manager steps down to standby: standby.ts).
    store.onOwnershipLost = (why) => {
      this.log.error(`${store.kind} store at ${store.location}: ${why}`);
      if (this.ha) this.steppedDown = true;
      else this.exitCode = 1;
      this.requestStop(
        this.ha
          ? "lost ownership of the store: stepping down to standby"
          : "lost ownership of the store",
      );
    };
    if (this.ha) {
      const ha = this.ha;
      this.state.setExtras(() => ha.statusExtras());
    }
    const snap = await store.load();
    const d = snap.docs;
    this.tasks.persist.store = (ops) => this.background(ops);
    // A final result is reported once durable: it joins the turn's batch (a group commit).
    this.tasks.persist.commit = (ops, patient) =>
      this.writer.write(ops, { mode: "batched", patient });
    this.tasks.restore(snap.results);
    this.runs.store = (ops) => this.background(ops);
    for (const { uid, reason } of this.runs.restore(snap.runs)) {
      this.log.error(`The stored run ${uid} cannot be read (${reason}): it is left out`);
    }
    if (d.lock) this.locks.restore(d.lock);
    if (d.permissions) this.access.restore(d.permissions);
    this.reopenEnvironment = d.environment_open === true;
    if (d.environment_content && typeof d.environment_content === "object") {
      this.env.content = d.environment_content as EnvironmentContent;
    }
    this.queue.restore(snap);
    this.schedules.restore(snap.schedules);
    this.idempotency.restore(snap.idempotency ?? []);
    this.idempotency.start();
    await this.executor.recoverInterrupted();
    // Before the sockets bind, so that the first request that needs the lists waits for them.
    this.startupLists.start(d.startup_fingerprint, d.environment_content !== undefined);
    this.log.info(
      `Store: ${store.kind} at ${store.location} (${this.queue.items.length} queued, ${this.queue.history.length} in history, ${this.runs.list().length} run(s))`,
    );
  }

  async start(): Promise<void> {
    await this.restore();
    const dispatcher = (this.dispatcher = new Dispatcher(
      this.opts.zmqEncoding,
      this.opts.maxMessageSize,
      {
        handlers: this.handlers(),
        statusBytes: (enc) => this.state.statusBytes(enc),
        checkLock: (method, params) => this.locks.check(methods[method].lock, params.lock_key),
        onInternalError: (method, err) => this.log.error({ err }, `Internal error in '${method}'`),
        checkReplies: process.env.ZQS_CHECK_REPLIES === "1",
        idempotency: this.idempotency,
        observe: (method, seconds) => this.requestLatency.observe(method, seconds),
      },
    ));
    const { control, allowedClients } = controlServer(this.opts, dispatcher, this.log, {
      bindRetryMs: this.ha ? BIND_RETRY_MS : 0,
    });
    this.allowedClients = allowedClients;
    if (allowedClients?.size === 0 && !this.opts.httpAddr) {
      this.log.warn(`The allow-list '${allowedClients.file}' is empty: no client can connect`);
    }
    this.control = control;
    // The in-process HTTP gateway streams from the info socket: --http-addr turns it on.
    if (this.opts.zmqPublishConsole || this.opts.httpAddr) {
      this.info = new InfoPublisher(
        this.opts.zmqInfoAddr,
        this.infoEncoding,
        this.log,
        this.opts.zmqInfoHwm,
      );
      await this.info.bind();
      const info = this.info;
      this.state.on("change", (s) => info.status(s));
      this.tasks.events.on("task", (e) => info.task(e));
      info.status(this.state.status());
      this.logger.setConsoleSink((text) => info.console(text));
    }
    await this.control.bind();
    await this.remote?.bind();
    this.log.info(
      `zqs manager is ready: control ${this.opts.zmqControlAddr}` +
        (this.info
          ? `, info ${this.opts.zmqInfoAddr} (${TOPIC_CONSOLE} on)`
          : ", info socket off") +
        `, encoding ${this.opts.zmqEncoding}` +
        (this.opts.zmqPrivateKey ? ", CURVE on" : "") +
        (allowedClients ? ` (${allowedClients.size} allowed client key(s))` : "") +
        (this.opts.zmqWorkerAddr ? `, workers ${this.opts.zmqWorkerAddr}` : ""),
    );
    // Fires begin once requests are served: missed ones follow their misfire policy.
    this.schedules.start();
    // Taken over from a manager whose environment was open: open it here.
    if (this.ha && this.reopenEnvironment) {
      this.log.info("The environment was open under the manager before: opening it");
      try {
        this.env.open();
      } catch (err) {
        this.log.error({ err }, "Opening the environment after the takeover failed");
      }
    }
    if (this.opts.httpAddr) await this.startHttp(this.opts.httpAddr);
  }

  /**
   * The HTTP gateway in this process (--http-addr): the same gateway as
   * `zqs http`, a client of this manager's own sockets.
   */
  private async startHttp(listen: string): Promise<void> {
    // Fastify is loaded only when the gateway is wanted.
    const { startGateway, startedMessage } = await import("../http/start.js");
    const { connectableAddress } = await import("../http/options.js");
    const { publicKeyFromPrivate } = await import("../client/keys.js");
    const zqsAddr = connectableAddress(this.opts.zmqControlAddr);
    // With an allow-list, the gateway's own key pair is allowed too.
    let clientKey: string | undefined;
    if (this.opts.zmqPrivateKey && this.allowedClients) {
      const { curveKeyPair } = await import("zeromq");
      const pair = curveKeyPair();
      this.allowedClients.allowOwn(pair.publicKey);
      clientKey = pair.secretKey;
    }
    const started = await startGateway({
      zqsAddr,
      zqsInfoAddr: connectableAddress(this.opts.zmqInfoAddr),
      listen,
      zmqEncoding: this.infoEncoding,
      zmqPublicKey: this.opts.zmqPrivateKey
        ? publicKeyFromPrivate(this.opts.zmqPrivateKey)
        : undefined,
      zmqClientPrivateKey: clientKey,
      apiKeys: this.opts.httpApiKeys,
      singleUserApiKey: this.opts.httpSingleUserApiKey,
      allowAnonymous: this.opts.httpAllowAnonymous,
      allowedOrigins: this.opts.httpAllowedOrigins,
      apiKeyMaxLifetime: this.opts.httpApiKeyMaxLifetime,
      dashboardDir: undefined,
      timeout: 10,
      streamBuffer: this.opts.httpStreamBuffer,
      consoleKeep: this.opts.httpConsoleKeep,
      consoleKeepBytes: this.opts.httpConsoleKeepBytes,
    });
    if (this.stopping) {
      // Stopped while the gateway was starting.
      await started.close();
      return;
    }
    this.http = started;
    this.log.info(`HTTP gateway at ${started.url}`);
    // On stdout only, never on QS_Console: a generated key must not reach the info socket.
    if (started.generatedKey) process.stdout.write(startedMessage(started, zqsAddr) + "\n");
  }

  /** Write changes no reply waits for (results, lists); a failure is logged. */
  private background(ops: StoreOp[]): void {
    void this.writer.write(ops, { mode: "background" });
  }

  /** Publish text on QS_Console (worker output, manager messages). */
  console(text: string): void {
    this.info?.console(text);
  }

  /** Stop after the current replies are sent (manager_stop). */
  requestStop(reason: string): void {
    setImmediate(() => void this.stop(reason));
  }

  stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.info(`Stopping the manager (${reason})`);
        await this.http
          ?.close()
          .catch((err: unknown) => this.log.error({ err }, "Closing the HTTP gateway failed"));
        await this.control?.flush();
        this.logger.setConsoleSink(undefined);
        await this.control?.close();
        await this.remote?.close();
        this.env.shutdown();
        this.startupLists.stop("the manager is stopping");
        this.schedules.close();
        this.lifecycle.close();
        this.tasks.close();
        this.runs.close();
        this.idempotency.close();
        this.info?.close();
        // The last quiet writes (results, run outcomes) before the store closes.
        await this.writer.flush();
        await this.writer.store
          ?.close()
          .catch((err: unknown) => this.log.error({ err }, "Closing the store failed"));
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }
}
