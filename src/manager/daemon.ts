/**
 * The manager daemon, the composition root: builds the areas (activity, store
 * writer, access, environment, workers, tasks, queue, schedules, rpc), each
 * with the narrow context it names, and keeps them in one list of services,
 * started in order (the store opened and restored from, the sockets bound)
 * and stopped in reverse. It holds no rule of its own: the areas' logic lives
 * in their folders (docs/architecture.md); no area imports this class.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import { methods, TOPIC_CONSOLE } from "../protocol/index.js";
import { Dispatcher } from "./rpc/dispatch.js";
import type { Handlers } from "./rpc/dispatch.js";
import type { RpcContext } from "./rpc/context.js";
import { bindRetryMs } from "./rpc/control-setup.js";
import { Idempotency } from "./rpc/idempotency.js";
import type { HaState } from "./ha-role.js";
import type { Store } from "./store/types.js";
import { ControlSocket, InfoSocket } from "./rpc/sockets.js";
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
import { taskProblem } from "./queue/task-check.js";
import type { EnvironmentContent } from "../protocol/ipc.js";
import { AccessControl, permissionsFile } from "./access/access.js";
import { TaskRegistry } from "./tasks/registry.js";
import { attemptEnded } from "./tasks/task-record.js";
import { TaskScheduler } from "./tasks/scheduler.js";
import { TaskLifecycle } from "./tasks/lifecycle.js";
import { Subtasks } from "./tasks/subtasks.js";
import { TaskTrees } from "./tasks/task-tree.js";
import { LockManager } from "./access/locks.js";
import type { ManagerLogger } from "./log.js";
import type { ManagerOptions } from "./options.js";
import { WORKER_ZAP_DOMAIN } from "./rpc/server.js";
import { StatusState } from "./state.js";
import { Activity } from "./activity.js";
import type { StoreOp } from "./store/types.js";
import { OpenedStore } from "./store/opened.js";
import { StoreWriter } from "./store/writer.js";
import { LocalWorkerPool, slotsOfLocalWorker } from "./workers/local-pool.js";
import { CombinedWorkerPool } from "./workers/combined-pool.js";
import { RemoteWorkerPool } from "./workers/remote-pool.js";
import { workerHandlers } from "./workers/handlers.js";
import { LATENCY_BUCKETS, LatencyHistograms } from "./metrics.js";
import { Schedules } from "./schedules/schedules.js";
import { scheduleHandlers } from "./schedules/handlers.js";
import { EmbeddedGateway } from "./embedded-gateway.js";

/** One part of the manager as the root starts and stops it. */
interface Service {
  name: string;
  start(): void | Promise<void>;
  stop?(): void | Promise<void>;
}

export class Manager {
  readonly state = new StatusState();
  /** The one owner of manager_state. */
  readonly activity: Activity;
  readonly log: Logger;
  /** The one path of writes to the store. */
  readonly writer: StoreWriter;
  readonly store: OpenedStore;
  readonly tasks: TaskRegistry;
  /** Which worker runs a ready function task, and when. */
  readonly scheduler: TaskScheduler;
  /** A function task's life: dependencies, retries, timeouts, cancel, workers lost. */
  readonly lifecycle: TaskLifecycle;
  readonly env: EnvironmentController;
  /** The lists of plans and devices read from the startup code at start, without an environment. */
  readonly startupLists: StartupLists;
  /** Workers on other hosts (--zmq-worker-addr), when the socket is on. */
  readonly remote: RemoteWorkerPool | undefined;
  readonly local: LocalWorkerPool;
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
  /** Schedules (schedule_create...): their fires go through `dispatcher.call`. */
  readonly schedules: Schedules;
  private readonly dispatcher: Dispatcher;
  private readonly control: ControlSocket;
  private readonly info: InfoSocket;
  /** How long the manager took to handle each request, by method. */
  readonly requestLatency = new LatencyHistograms();
  /** Started in this order, stopped in reverse. */
  private readonly services: Service[];
  /** The services whose start has begun (those stopped at stop). */
  private begun = 0;
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
  private resolveStopped!: () => void;

  /** `takenOver`: a standby that took the store over (standby.ts) hands its role and the store. */
  constructor(
    readonly opts: ManagerOptions,
    logger: ManagerLogger,
    takenOver?: { ha: HaState; store: Store },
  ) {
    const log = (this.log = logger.log);
    const state = this.state;
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    const writer = (this.writer = new StoreWriter(log));
    const ha = (this.ha = takenOver?.ha);
    if (ha) state.setExtras(() => ha.statusExtras());
    this.idempotency = new Idempotency({
      ttlSec: opts.idempotencyTtl,
      max: opts.idempotencyMax,
      write: (ops, mode) => writer.write(ops, { mode }),
    });
    writer.tag = () => this.idempotency.pendingOp();
    const background = (ops: StoreOp[]): void => void writer.write(ops, { mode: "background" });
    this.store = new OpenedStore(
      opts,
      {
        writer,
        log,
        // A --standby manager steps down to standby (standby.ts); another stops, exit code 1.
        ownershipLost: () => {
          if (ha) this.steppedDown = true;
          else this.exitCode = 1;
          this.requestStop(
            ha
              ? "lost ownership of the store: stepping down to standby"
              : "lost ownership of the store",
          );
        },
      },
      takenOver?.store,
    );
    const console = (text: string): void => this.info.console(text);
    const activity = (this.activity = new Activity(state, (): boolean => env.phase === "open"));

    // The environment and its workers.
    const env = (this.env = new EnvironmentController(
      {
        startupDir: opts.startupDir,
        startupModule: opts.startupModule,
        heartbeatTimeoutMs: opts.workerTimeout * 1000,
        closeTimeoutMs: 5000,
        workers: Math.max(1, opts.workers),
        workerSlots: slotsOfLocalWorker(opts),
        consoleLimit: { rate: opts.consoleRate, burst: opts.consoleBurst },
      },
      {
        activity,
        tasks: { workersLost: (workers, msg) => this.lifecycle.workersLost(workers, msg) },
        log,
        console,
        state,
        writeInBackground: background,
      },
    ));
    this.startupLists = new StartupLists(
      {
        startupDir: opts.startupDir,
        startupModule: opts.startupModule,
        heartbeatTimeoutMs: opts.workerTimeout * 1000,
      },
      { info: (msg) => log.info(msg), error: (msg) => log.error(msg) },
    );
    this.startupLists.on("lists", (content, fingerprint) => env.adoptContent(content, fingerprint));
    // An environment's own lists replace any still being read at start.
    env.on("opening", () => this.startupLists.yieldTo(env.whenOpenEnds()));
    const local = (this.local = new LocalWorkerPool(env, opts));
    const remote = (this.remote = opts.zmqWorkerAddr
      ? new RemoteWorkerPool(
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
            heartbeatRate: opts.workerHeartbeatRate,
            // A task end is acknowledged to its worker once its result is durable.
            durable: () => writer.settled(),
            // Tasks that outlive a manager: where each was dealt, and who takes it back.
            marks: {
              dealt: (w, tasks) =>
                this.tasks.startedRemotely(
                  {
                    worker: w.name,
                    instance: w.instance,
                    ...(w.key !== undefined ? { key: w.key } : {}),
                  },
                  tasks,
                ),
              claim: (w, uids, quiet) => this.lifecycle.claim(w, uids, quiet),
              ended: (uid, attempt) => attemptEnded(this.tasks.get(uid), attempt),
            },
          },
          log,
        )
      : undefined);
    remote?.notices.on("console", console);
    remote?.notices.on("worker-event", (e) => this.info.task(e));
    const pool = remote ? new CombinedWorkerPool(local, remote) : local;

    // Access.
    const access = (this.access = new AccessControl({
      permissionsFile: permissionsFile(opts),
      content: () => env.content,
      listsKnown: (ms) => this.startupLists.whenKnown(ms),
      listsWaitSeconds: opts.startupListsWait,
      state,
      writeInBackground: background,
      log,
    }));
    env.on("content", () => access.contentChanged());
    this.locks = new LockManager(
      undefined,
      (rec) =>
        writer.write(
          rec ? [{ op: "set", key: "lock", value: rec }] : [{ op: "delete", key: "lock" }],
          { mode: "durable" },
        ),
      state,
      opts.emergencyLockKey,
    );

    // The plan queue.
    const queue = (this.queue = new PlanQueue(state, (ops) =>
      writer.write(ops, { mode: "durable" }),
    ));
    this.executor = new QueueExecutor({ queue, activity, state, env, log });

    // Function tasks.
    const tasks = (this.tasks = new TaskRegistry(opts.taskResultsRetention, {
      state,
      activity,
      workerInfo: (id) => pool.whereIs(id),
      store: {
        background,
        // A final result is reported once durable: it joins the turn's batch (a group commit).
        commit: (ops, patient) => writer.write(ops, { mode: "batched", patient }),
      },
    }));
    this.scheduler = new TaskScheduler({
      tasks,
      pool,
      rateLimits: { defaults: opts.rateLimit ?? new Map(), max: opts.maxRateLimits },
    });
    const lifecycle = (this.lifecycle = new TaskLifecycle({
      tasks,
      dealer: this.scheduler,
      pool,
      log,
      cancelGraceSec: opts.cancelGrace,
    }));
    this.runs = new RunRegistry({ tasks, lifecycle, writeInBackground: background });
    this.trees = new TaskTrees(
      {
        maxSubtaskDepth: opts.maxSubtaskDepth,
        maxTreeTasks: opts.maxTreeTasks,
        maxLiveTasks: opts.maxLiveTasks,
      },
      () => tasks.runningCount,
    );
    this.subtasks = new Subtasks({
      trees: this.trees,
      tasks,
      lifecycle,
      pool,
      access,
      planOwner: (uid) => queue.ownerOfRunning(uid),
      plans: env,
    });

    // Schedules: their fires are requests, through the dispatcher.
    this.schedules = new Schedules(
      {
        submit: ({ method, params, uid }) => this.dispatcher.call(method, params, uid),
        check: (task, user, group) => taskProblem(access, task, user, group),
        write: (ops, mode) => writer.write(ops, { mode }),
        outcome: (uid) => tasks.get(uid)?.state ?? queue.outcomeOf(uid),
        now: () => Date.now(),
        setTimer: (ms, fn) => {
          const t = setTimeout(fn, ms);
          return () => clearTimeout(t);
        },
        log,
      },
      { catchUp: opts.scheduleCatchUp, firesKept: 20, nextShown: 5 },
    );

    // Requests and the sockets.
    this.dispatcher = new Dispatcher(opts.zmqEncoding, opts.maxMessageSize, {
      handlers: this.handlers(),
      statusBytes: (enc) => state.statusBytes(enc),
      checkLock: (method, params) => this.locks.check(methods[method].lock, params.lock_key),
      onInternalError: (method, err) => log.error({ err }, `Internal error in '${method}'`),
      checkReplies: process.env.ZQS_CHECK_REPLIES === "1",
      idempotency: this.idempotency,
      observe: (method, seconds) => this.requestLatency.observe(method, seconds),
    });
    this.control = new ControlSocket(opts, this.dispatcher, log, ha ? bindRetryMs(opts) : 0);
    this.info = new InfoSocket(
      opts,
      this.infoEncoding,
      { status: state, tasks: tasks.events },
      log,
    );

    const snapshot = () => this.store.snapshot;
    this.services = [
      service("store", this.store),
      // The in-process HTTP gateway streams from the info socket: --http-addr turns it on.
      ...(opts.zmqPublishConsole || opts.httpAddr ? [service("info", this.info)] : []),
      {
        name: "tasks",
        start: () => tasks.restore(snapshot().results, snapshot().starts),
        stop: () => tasks.close(),
      },
      {
        name: "lifecycle",
        // Delayed tasks still scheduled are submitted again (one whose time passed runs once now);
        // those that ran wait for their workers on other hosts, or are retried or cut off.
        start: () => {
          lifecycle.resume(tasks.takeResumable());
          const adoptWait = opts.adoptWait ?? 2 * opts.workerTimeout;
          lifecycle.resumeRunning(tasks.takeHeld(), adoptWait * 1000);
        },
        stop: () => lifecycle.close(),
      },
      { name: "rate limits", start: () => undefined, stop: () => this.scheduler.limits.close() },
      {
        name: "runs",
        start: () => {
          for (const { uid, reason } of this.runs.restore(snapshot().runs)) {
            log.error(`The stored run ${uid} cannot be read (${reason}): it is left out`);
          }
        },
        stop: () => this.runs.close(),
      },
      {
        name: "lock and permissions",
        start: () => {
          const d = snapshot().docs;
          if (d.lock) this.locks.restore(d.lock);
          if (d.permissions) access.restore(d.permissions);
        },
      },
      {
        name: "environment",
        start: () => {
          const content = snapshot().docs.environment_content;
          if (content && typeof content === "object") env.restore(content as EnvironmentContent);
        },
        stop: () => env.shutdown(),
      },
      { name: "queue", start: () => queue.restore(snapshot()) },
      { name: "stored schedules", start: () => this.schedules.restore(snapshot().schedules) },
      {
        name: "remembered replies",
        start: () => {
          this.idempotency.restore(snapshot().idempotency ?? []);
          this.idempotency.start();
        },
        stop: () => this.idempotency.close(),
      },
      { name: "executor", start: () => this.executor.recoverInterrupted() },
      {
        // Before the sockets bind, so that the first request that needs the lists waits for them.
        name: "startup lists",
        start: () => {
          const d = snapshot().docs;
          this.startupLists.start(d.startup_fingerprint, d.environment_content !== undefined);
          log.info(
            `Store: ${this.store.where} (${queue.items.length} queued, ${queue.history.length} in history, ${this.runs.list().length} run(s))`,
          );
        },
        stop: () => this.startupLists.stop("the manager is stopping"),
      },
      // Before the sockets: the first request sees every schedule caught up (the slots
      // missed while the manager was down counted, or fired by their misfire policy).
      {
        name: "schedules",
        start: () => this.schedules.start(),
        stop: () => this.schedules.close(),
      },
      ...(remote
        ? [{ name: "worker socket", start: () => remote.bind(), stop: () => remote.close() }]
        : []),
      service("control socket", this.control),
      {
        name: "console sink",
        start: () => {
          if (this.info.on) logger.setConsoleSink((text) => this.info.console(text));
        },
        stop: () => logger.setConsoleSink(undefined),
      },
      // Taken over from a manager whose environment was open: open it here.
      ...(ha ? [{ name: "environment reopened", start: () => this.reopenEnvironment() }] : []),
      ...(opts.httpAddr
        ? [
            service(
              "HTTP gateway",
              new EmbeddedGateway(
                opts.httpAddr,
                opts,
                this.infoEncoding,
                () => this.control.allowedClients,
                log,
              ),
            ),
          ]
        : []),
      // Said once every part is up (the HTTP gateway too).
      { name: "ready", start: () => this.logReady() },
    ];
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
        deduplicated: this.tasks.deduplicated,
        schedules: this.schedules.counts(),
        rate_limited: this.scheduler.limits.held,
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
        rateLimits: this.scheduler.limits,
        limits: {
          maxDelay: this.opts.maxDelay,
          maxDedupTtl: this.opts.maxDedupTtl,
          maxDedupKey: this.opts.maxDedupKey,
        },
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
        localSlots: this.local.listedSlots,
      }),
      ...runHandlers({
        runs: this.runs,
        trees: this.trees,
        activity: this.activity,
        access: this.access,
        writer: this.writer,
        rateLimits: this.scheduler.limits,
        limits: { maxDelay: this.opts.maxDelay },
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

  get infoEncoding(): WireEncoding {
    return this.opts.zmqEncoding === "msgpack" ? "msgpack" : "json";
  }

  /** A manager taking the store over opens the environment when it was open under the other. */
  private reopenEnvironment(): void {
    if (this.store.snapshot.docs.environment_open !== true) return;
    this.log.info("The environment was open under the manager before: opening it");
    try {
      this.env.open();
    } catch (err) {
      this.log.error({ err }, "Opening the environment after the takeover failed");
    }
  }

  private logReady(): void {
    const o = this.opts;
    const allowed = this.control.allowedClients;
    this.log.info(
      `zqs manager is ready: control ${o.zmqControlAddr}` +
        (this.info.on ? `, info ${o.zmqInfoAddr} (${TOPIC_CONSOLE} on)` : ", info socket off") +
        `, encoding ${o.zmqEncoding}` +
        (o.zmqPrivateKey ? ", CURVE on" : "") +
        (allowed ? ` (${allowed.size} allowed client key(s))` : "") +
        (o.zmqWorkerAddr ? `, workers ${o.zmqWorkerAddr}` : ""),
    );
  }

  /** Start every service in order (a stop meanwhile ends the start). */
  async start(): Promise<void> {
    for (const s of this.services) {
      if (this.stopping) return;
      this.begun++;
      await s.start();
    }
  }

  /** Stop after the current replies are sent (manager_stop). */
  requestStop(reason: string): void {
    setImmediate(() => void this.stop(reason));
  }

  /** Stop the services begun, in reverse order. */
  stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.info(`Stopping the manager (${reason})`);
        for (const s of this.services.slice(0, this.begun).reverse()) {
          try {
            await s.stop?.();
          } catch (err) {
            this.log.error({ err }, `Stopping the ${s.name} failed`);
          }
        }
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }
}

/** A part with its own start and stop, named for the log. */
function service(
  name: string,
  part: { start(): void | Promise<void>; stop(): void | Promise<void> },
): Service {
  return { name, start: () => part.start(), stop: () => part.stop() };
}
