/**
 * Manager options: one table drives the `zqs manager` command line, the
 * environment variables, the defaults and the README's option list (a test
 * checks that the README names each one).
 */
import path from "node:path";
import type { Encoding } from "../protocol/index.js";
import { ENCODINGS } from "../protocol/index.js";
import { curveKey, positiveInteger } from "../options/parsers.js";
import { STORE_SYNCS, type StoreSync } from "./store/types.js";
import {
  anonymousScope,
  DEFAULT_API_KEY_MAX_LIFETIME,
  ENV_SINGLE_USER_KEY,
  parseHostPort,
  parseOrigins,
  positiveSeconds,
  STREAM_LIMIT_SPECS,
} from "../http/options.js";
import { DEFAULT_CONSOLE_BURST, DEFAULT_CONSOLE_RATE } from "./console-limit.js";
import { resolveTable, tableDefaults, type TableOption } from "../options/spec.js";
import { parseRateRules, type Rate } from "../protocol/rate-limit.js";

/** `--zmq-info-interval`: seconds above 0, at most 1 (clients' liveness window is 1.5 s). */
function infoInterval(raw: string): number {
  const n = positiveSeconds(raw);
  if (n > 1) throw new Error(`expected at most 1 second, got '${raw}'`);
  return n;
}

export interface ManagerOptions {
  zmqControlAddr: string;
  zmqInfoAddr: string;
  zmqPublishConsole: boolean;
  zmqEncoding: Encoding;
  zmqPrivateKey: string | undefined;
  zmqAllowedClients: string | undefined;
  zmqWorkerAddr: string | undefined;
  zmqAllowedWorkers: string | undefined;
  startupDir: string | undefined;
  startupModule: string | undefined;
  startupListsWait: number;
  userGroupPermissions: string | undefined;
  taskResultsRetention: number;
  storePath: string;
  storeSync: StoreSync;
  redisAddr: string | undefined;
  redisNamePrefix: string;
  redisLease: number;
  standby: boolean;
  redisSentinel: string[] | undefined;
  redisMasterName: string | undefined;
  redisWaitReplicas: number | undefined;
  redisReplicaWait: number;
  bindRetry: number;
  adoptWait: number | undefined;
  idempotencyTtl: number;
  idempotencyMax: number;
  workers: number;
  workerSlots: number;
  workerPrefetch: number;
  cancelGrace: number;
  workerTimeout: number;
  workerMaxFunctions: number;
  workerMaxTags: number;
  workerMaxHelloSize: number;
  workerMaxMessageSize: number;
  workerForgetAfter: number;
  workerHeartbeatRate: number;
  maxMessageSize: number;
  consoleRate: number;
  consoleBurst: number;
  zmqInfoHwm: number;
  zmqInfoInterval: number;
  maxSubtaskDepth: number;
  maxTreeTasks: number;
  maxLiveTasks: number;
  maxSchedules: number;
  scheduleMinEvery: number;
  scheduleCatchUp: number;
  rateLimit: Map<string, Rate> | undefined;
  maxRateLimits: number;
  maxDelay: number;
  maxDedupTtl: number;
  maxDedupKey: number;
  emergencyLockKey: string | undefined;
  httpAddr: string | undefined;
  httpApiKeys: string | undefined;
  httpSingleUserApiKey: string | undefined;
  httpAllowAnonymous: "read" | "write" | undefined;
  httpStreamBuffer: number;
  httpConsoleKeep: number;
  httpConsoleKeepBytes: number;
  httpAllowedOrigins: string[] | undefined;
  httpApiKeyMaxLifetime: number;
  verbose: boolean;
  quiet: boolean;
}

/** A row of the manager's table (src/options/spec.ts: one style for every command). */
export type OptionSpec = TableOption<keyof ManagerOptions, ManagerOptions[keyof ManagerOptions]>;

function onOff(raw: string): boolean {
  const v = raw.trim().toUpperCase();
  if (["ON", "TRUE", "1", "YES"].includes(v)) return true;
  if (["OFF", "FALSE", "0", "NO"].includes(v)) return false;
  throw new Error(`expected ON or OFF, got '${raw}'`);
}

function positiveNumber(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got '${raw}'`);
  return n;
}

function leaseSeconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.1)
    throw new Error(`expected seconds, at least 0.1, got '${raw}'`);
  return n;
}

function nonNegativeInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`expected a non-negative integer, got '${raw}'`);
  return n;
}

/** A parser of one word out of `choices` (any case). */
function oneOf<T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (!(choices as readonly string[]).includes(v)) {
      throw new Error(`expected one of ${choices.join(", ")}, got '${raw}'`);
    }
    return v as T;
  };
}

export const OPTION_SPECS: OptionSpec[] = [
  {
    key: "zmqControlAddr",
    flag: "--zmq-control-addr",
    value: "<addr>",
    env: "QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER",
    description: "address the control (ROUTER) socket binds",
    default: "tcp://*:60615",
  },
  {
    key: "zmqInfoAddr",
    flag: "--zmq-info-addr",
    value: "<addr>",
    env: "QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER",
    description: "address the info (PUB) socket binds",
    default: "tcp://*:60625",
  },
  {
    key: "zmqPublishConsole",
    flag: "--zmq-publish-console",
    value: "<ON|OFF>",
    description: "open the info socket: QS_Info status, QS_Console output, QS_Task events",
    default: false,
    parse: onOff,
  },
  {
    key: "zmqEncoding",
    flag: "--zmq-encoding",
    value: "<json|msgpack|auto>",
    env: "QSERVER_ZMQ_ENCODING_FOR_SERVER",
    description: "message encoding; auto answers each request in its own encoding",
    default: "json",
    parse: oneOf(ENCODINGS),
  },
  {
    key: "zmqPrivateKey",
    flag: "--zmq-private-key",
    value: "<z85>",
    env: "QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER",
    description: "CurveZMQ secret key of the server (40 z85 characters); enables encryption",
    default: undefined,
    parse: curveKey,
  },
  {
    key: "zmqAllowedClients",
    flag: "--zmq-allowed-clients",
    value: "<file>",
    description:
      "file of client public keys (one z85 key per line, # comments) allowed to connect with CURVE",
    default: undefined,
  },
  {
    key: "zmqWorkerAddr",
    flag: "--zmq-worker-addr",
    value: "<addr>",
    description:
      "address the socket for workers on other hosts (zqs worker) binds, e.g. tcp://*:60617 (off unless given)",
    default: undefined,
  },
  {
    key: "zmqAllowedWorkers",
    flag: "--zmq-allowed-workers",
    value: "<file>",
    description:
      "file of worker public keys (same format as --zmq-allowed-clients) allowed to join with CURVE",
    default: undefined,
  },
  {
    key: "startupDir",
    flag: "--startup-dir",
    value: "<dir>",
    description: "directory of startup code (.js/.mjs/.ts files, loaded in name order)",
    default: undefined,
  },
  {
    key: "startupModule",
    flag: "--startup-module",
    value: "<module>",
    description: "one startup module (a path or package name) instead of a directory",
    default: undefined,
  },
  {
    key: "startupListsWait",
    flag: "--startup-lists-wait",
    value: "<seconds>",
    description:
      "while the lists of plans and devices are read from the startup code at start (a new store, or changed code), how long a request that needs them (queue_item_add, plans_allowed...) waits for them before it is refused",
    default: 10,
    parse: positiveNumber,
  },
  {
    key: "userGroupPermissions",
    flag: "--user-group-permissions",
    value: "<file>",
    description: "permissions YAML file (default: user_group_permissions.yaml in the startup dir)",
    default: undefined,
  },
  {
    key: "taskResultsRetention",
    flag: "--task-results-retention",
    value: "<seconds>",
    description: "how long completed task results are kept",
    default: 120,
    parse: positiveNumber,
  },
  {
    key: "storePath",
    flag: "--store-path",
    value: "<dir>",
    description: "directory of the embedded (LMDB) store",
    default: path.join(".zqs", "store"),
  },
  {
    key: "storeSync",
    flag: "--store-sync",
    value: "<fsync|os>",
    description:
      "embedded store: a write counts as done once flushed to disk (fsync: survives a power cut) or once handed to the operating system (os: survives a crash or kill -9 of zqs, not of the machine; faster)",
    default: "fsync",
    parse: oneOf(STORE_SYNCS),
  },
  {
    key: "redisAddr",
    flag: "--redis-addr",
    value: "<host:port>",
    description: "use a Redis server as the store instead of the embedded one",
    default: undefined,
  },
  {
    key: "redisNamePrefix",
    flag: "--redis-name-prefix",
    value: "<prefix>",
    description: "prefix of the Redis keys",
    default: "qserver",
  },
  {
    key: "redisLease",
    flag: "--redis-lease",
    value: "<seconds>",
    description:
      "lifetime of the manager's lease on a Redis store, renewed every third of it (see Stores and recovery)",
    default: 5,
    parse: leaseSeconds,
  },
  {
    key: "standby",
    flag: "--standby",
    description:
      "with a Redis store: wait while another manager holds the store, answering only ping and status, and take over when its lease lapses; a manager that loses the store steps down to standby instead of exiting (see High availability)",
    default: false,
  },
  {
    key: "redisSentinel",
    flag: "--redis-sentinel",
    value: "<host:port,...>",
    description:
      "reach the Redis store through Redis Sentinel (with --redis-master-name) instead of --redis-addr; a Redis failover is followed",
    default: undefined,
    parse: (raw) => {
      const list = raw
        .split(",")
        .map((a) => a.trim())
        .filter((a) => a !== "");
      if (list.length === 0) throw new Error(`expected host:port,..., got '${raw}'`);
      return list;
    },
  },
  {
    key: "redisMasterName",
    flag: "--redis-master-name",
    value: "<name>",
    description: "with --redis-sentinel: the name of the master the sentinels watch",
    default: undefined,
  },
  {
    key: "redisWaitReplicas",
    flag: "--redis-wait-replicas",
    value: "<n>",
    description:
      "a write to Redis counts as done once this many replicas have it (Redis WAIT; fewer in time: the request fails, nothing acknowledged); default 1 with --redis-sentinel, else 0",
    default: undefined,
    parse: nonNegativeInt,
  },
  {
    key: "redisReplicaWait",
    flag: "--redis-replica-wait",
    value: "<seconds>",
    description:
      "with --redis-wait-replicas: how long a write waits for its replicas to confirm it before it fails (at most 9.5 s)",
    default: 3,
    parse: positiveNumber,
  },
  {
    key: "bindRetry",
    flag: "--bind-retry",
    value: "<seconds>",
    description:
      "with --standby: how long a manager taking over keeps trying to bind its control address, closed a moment before by this process",
    default: 5,
    parse: positiveNumber,
  },
  {
    key: "adoptWait",
    flag: "--adopt-wait",
    value: "<seconds>",
    description:
      "after a restart or takeover: how long a task found running on a zqs worker waits for it to take the task back, before a retry (max_retries) or failing as cut off; default twice --worker-timeout",
    default: undefined,
    parse: positiveNumber,
  },
  {
    key: "idempotencyTtl",
    flag: "--idempotency-ttl",
    value: "<seconds>",
    description:
      "how long the reply to a request with an idempotency_key is remembered (in the store): a repeat within it gets that reply and changes nothing",
    default: 600,
    parse: positiveNumber,
  },
  {
    key: "idempotencyMax",
    flag: "--idempotency-max",
    value: "<n>",
    description:
      "most idempotency keys remembered at once; beyond it the oldest are forgotten first",
    default: 100_000,
    parse: positiveInteger,
  },
  {
    key: "workers",
    flag: "--workers",
    value: "<n>",
    description:
      "worker processes: the first runs plans and foreground tasks, background tasks and runs are spread over all (0: zqs worker hosts only)",
    default: 1,
    parse: nonNegativeInt,
  },
  {
    key: "workerSlots",
    flag: "--worker-slots",
    value: "<n>",
    description:
      "with --workers above 1: background tasks one worker process runs at a time (1 suits CPU-bound code; raise it for code that mostly waits)",
    default: 1,
    parse: positiveInteger,
  },
  {
    key: "workerPrefetch",
    flag: "--worker-prefetch",
    value: "<n>",
    description:
      "with --workers above 1: background tasks dealt ahead to a worker process whose slots are full, waiting there to start (fewer round trips; more, up to 256, to a worker whose recent calls are short; 0: deal only to free slots)",
    default: 4,
    parse: nonNegativeInt,
  },
  {
    key: "cancelGrace",
    flag: "--cancel-grace",
    value: "<seconds>",
    description: "how long a cancelled task may take to stop before its worker is replaced",
    default: 5,
    parse: positiveNumber,
  },
  {
    key: "workerTimeout",
    flag: "--worker-timeout",
    value: "<seconds>",
    description:
      "a worker process silent this long (no heartbeat) is lost and replaced; its running tasks fail or are retried",
    default: 3,
    parse: positiveNumber,
  },
  {
    key: "workerMaxFunctions",
    flag: "--worker-max-functions",
    value: "<n>",
    description:
      "with --zmq-worker-addr: most functions a zqs worker may offer; a hello with more is refused (the worker is told why and exits)",
    default: 10_000,
    parse: positiveInteger,
  },
  {
    key: "workerMaxTags",
    flag: "--worker-max-tags",
    value: "<n>",
    description:
      "with --zmq-worker-addr: most tags a zqs worker may have (each at most 100 characters, its name at most 200); more is refused",
    default: 100,
    parse: nonNegativeInt,
  },
  {
    key: "workerMaxHelloSize",
    flag: "--worker-max-hello-size",
    value: "<bytes>",
    description:
      "with --zmq-worker-addr: largest hello (and largest message from a connection not yet joined) a zqs worker may send; larger ones are refused unread",
    default: 1024 * 1024,
    parse: positiveInteger,
  },
  {
    key: "workerMaxMessageSize",
    flag: "--worker-max-message-size",
    value: "<bytes>",
    description:
      "with --zmq-worker-addr: largest message of a joined worker (a task's result); past it ZeroMQ drops the worker's connection unread",
    default: 256 * 1024 * 1024,
    parse: positiveInteger,
  },
  {
    key: "workerForgetAfter",
    flag: "--worker-forget-after",
    value: "<seconds>",
    description:
      "with --zmq-worker-addr: a zqs worker that left or was lost stays in workers_list (and keeps its name's key) this long (0: forgotten at once)",
    default: 3600,
    parse: positiveNumber,
  },
  {
    key: "workerHeartbeatRate",
    flag: "--worker-heartbeat-rate",
    value: "<n>",
    description:
      "with --zmq-worker-addr: most heartbeats a second, both ways, with all zqs workers together; past it, their interval and --worker-timeout double as often as needed (told to the workers)",
    default: 1000,
    parse: positiveInteger,
  },
  {
    key: "maxMessageSize",
    flag: "--max-message-size",
    value: "<bytes>",
    description: "largest request accepted; larger ones get a success: false reply",
    default: 16 * 1024 * 1024,
    parse: positiveInteger,
  },
  {
    key: "consoleRate",
    flag: "--console-rate",
    value: "<bytes/s>",
    description:
      "console output one worker process may publish a second (QS_Console); beyond it (and --console-burst) its output is dropped, with a line saying how much (0: no limit)",
    default: DEFAULT_CONSOLE_RATE,
    parse: nonNegativeInt,
  },
  {
    key: "consoleBurst",
    flag: "--console-burst",
    value: "<bytes>",
    description:
      "console output one worker process may publish at once before --console-rate applies",
    default: DEFAULT_CONSOLE_BURST,
    parse: positiveInteger,
  },
  {
    key: "zmqInfoHwm",
    flag: "--zmq-info-hwm",
    value: "<messages>",
    description:
      "messages the info socket keeps for one subscriber that does not read; beyond it that subscriber misses messages (ZeroMQ's PUB drops them)",
    default: 10_000,
    parse: positiveInteger,
  },
  {
    key: "zmqInfoInterval",
    flag: "--zmq-info-interval",
    value: "<seconds>",
    description:
      "the info socket publishes the status on QS_Info at each change and again this often (a new subscriber has it within this time); at most 1, since clients take an info socket silent for 1.5 s as down",
    default: 1,
    parse: infoInterval,
  },
  {
    key: "maxSubtaskDepth",
    flag: "--max-subtask-depth",
    value: "<n>",
    description:
      "deepest subtask: a task a client submits is depth 0, a subtask its parent's depth + 1; a deeper one is refused (SubtaskError)",
    default: 32,
    parse: positiveInteger,
  },
  {
    key: "maxTreeTasks",
    flag: "--max-tree-tasks",
    value: "<n>",
    description:
      "most unfinished tasks in one tree (a task and all its subtasks, theirs in turn); a subtask beyond it is refused (SubtaskError)",
    default: 1000,
    parse: positiveInteger,
  },
  {
    key: "maxLiveTasks",
    flag: "--max-live-tasks",
    value: "<n>",
    description:
      "most unfinished tasks in the manager (function_execute, runs, subtasks); a request or subtask beyond it is refused",
    default: 100_000,
    parse: positiveInteger,
  },
  {
    key: "maxSchedules",
    flag: "--max-schedules",
    value: "<n>",
    description: "most schedules (schedule_create) the manager keeps; one beyond it is refused",
    default: 10_000,
    parse: positiveInteger,
  },
  {
    key: "scheduleMinEvery",
    flag: "--schedule-min-every",
    value: "<seconds>",
    description: "the shortest period of an `every` schedule; a shorter one is refused",
    default: 0.1,
    parse: positiveNumber,
  },
  {
    key: "scheduleCatchUp",
    flag: "--schedule-catch-up",
    value: "<n>",
    description:
      "most missed fires a schedule with misfire 'all' makes up for at once (after a restart); older ones are counted missed",
    default: 100,
    parse: positiveInteger,
  },
  {
    key: "rateLimit",
    flag: "--rate-limit",
    value: "<name=n/period...>",
    description:
      "a function's rate limit: at most N starts per PERIOD (s, m, h, or a number of them: 5/s, 100/m, 10/2s) over every worker; repeatable (or several separated by commas); a task may not set another",
    default: undefined,
    parse: parseRateRules,
  },
  {
    key: "maxRateLimits",
    flag: "--max-rate-limits",
    value: "<n>",
    description:
      "most functions with a rate limit at once (--rate-limit and tasks' rate_limit); a task setting one more is refused, unless one set by a task holds and counts nothing",
    default: 1000,
    parse: positiveInteger,
  },
  {
    key: "maxDelay",
    flag: "--max-delay",
    value: "<seconds>",
    description:
      "the furthest a task may be put off (`delay`, `not_before` of function_execute and run_create); a later start is refused",
    default: 365 * 24 * 3600,
    parse: positiveNumber,
  },
  {
    key: "maxDedupTtl",
    flag: "--max-dedup-ttl",
    value: "<seconds>",
    description:
      "the longest `dedup_ttl` of function_execute (how long after its end a task still answers for its `dedup_key`); a longer one is refused",
    default: 7 * 24 * 3600,
    parse: positiveNumber,
  },
  {
    key: "maxDedupKey",
    flag: "--max-dedup-key",
    value: "<chars>",
    description: "the longest `dedup_key` of function_execute; a longer one is refused",
    default: 256,
    parse: positiveInteger,
  },
  {
    key: "emergencyLockKey",
    flag: "--emergency-lock-key",
    value: "<key>",
    env: "QSERVER_EMERGENCY_LOCK_KEY_FOR_SERVER",
    description: "a key that always unlocks the manager",
    default: undefined,
  },
  {
    key: "httpAddr",
    flag: "--http-addr",
    value: "<host:port>",
    description:
      "also start the HTTP gateway (as `zqs http`) in this process, listening there; turns the info socket on (the gateway's streams read it)",
    default: undefined,
    parse: (raw) => (parseHostPort(raw), raw.trim()),
  },
  {
    key: "httpApiKeys",
    flag: "--http-api-keys",
    value: "<file>",
    description: "with --http-addr: the gateway's API keys file (as `zqs http --api-keys`)",
    default: undefined,
  },
  {
    key: "httpSingleUserApiKey",
    flag: "--http-single-user-api-key",
    value: "<key>",
    env: ENV_SINGLE_USER_KEY,
    description:
      "with --http-addr: one key with every scope (with no key at all, the gateway makes one and prints its login URL)",
    default: undefined,
  },
  {
    key: "httpAllowAnonymous",
    flag: "--http-allow-anonymous",
    value: "<read|write>",
    description: "with --http-addr: let callers without a key read (or also write)",
    default: undefined,
    parse: anonymousScope,
  },
  ...STREAM_LIMIT_SPECS.map((s): OptionSpec => ({
    key: `http${s.key[0]?.toUpperCase() ?? ""}${s.key.slice(1)}` as keyof ManagerOptions,
    flag: `--http-${s.flag}`,
    value: s.value,
    description: `with --http-addr: ${s.description}`,
    default: s.default,
    parse: positiveInteger,
  })),
  {
    key: "httpAllowedOrigins",
    flag: "--http-allowed-origins",
    value: "<origins>",
    description:
      "with --http-addr: other origins whose pages may use the dashboard's session (as `zqs http --allowed-origins`)",
    default: undefined,
    parse: parseOrigins,
  },
  {
    key: "httpApiKeyMaxLifetime",
    flag: "--http-api-key-max-lifetime",
    value: "<seconds>",
    description: "with --http-addr: the longest 'expires_in' of a key created over HTTP",
    default: DEFAULT_API_KEY_MAX_LIFETIME,
    parse: positiveSeconds,
  },
  {
    key: "verbose",
    flag: "--verbose",
    description: "log debug messages",
    default: false,
  },
  {
    key: "quiet",
    flag: "--quiet",
    description: "log warnings and errors only",
    default: false,
  },
];

export function defaultOptions(): ManagerOptions {
  return tableDefaults<ManagerOptions>(OPTION_SPECS);
}

/**
 * Resolve options: explicit values beat environment variables, which beat
 * defaults. `given` holds raw strings (or booleans for switches) by key.
 */
export function resolveOptions(
  given: Partial<Record<keyof ManagerOptions, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): ManagerOptions {
  const opts = resolveTable<ManagerOptions>(OPTION_SPECS, given, env);
  if (opts.startupDir && opts.startupModule) {
    throw new Error("--startup-dir and --startup-module cannot be used together");
  }
  if (opts.zmqAllowedClients && !opts.zmqPrivateKey) {
    throw new Error(
      "--zmq-allowed-clients needs CURVE: give the server's secret key (--zmq-private-key or QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER)",
    );
  }
  if (opts.zmqAllowedWorkers && !opts.zmqPrivateKey) {
    throw new Error(
      "--zmq-allowed-workers needs CURVE: give the server's secret key (--zmq-private-key or QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER)",
    );
  }
  if (opts.zmqAllowedWorkers && !opts.zmqWorkerAddr) {
    throw new Error("--zmq-allowed-workers needs --zmq-worker-addr");
  }
  if ((opts.rateLimit?.size ?? 0) > opts.maxRateLimits) {
    throw new Error(
      `--rate-limit names ${opts.rateLimit?.size} functions, more than --max-rate-limits (${opts.maxRateLimits})`,
    );
  }
  if ((opts.redisSentinel === undefined) !== (opts.redisMasterName === undefined)) {
    throw new Error("--redis-sentinel and --redis-master-name go together");
  }
  if (opts.redisSentinel && opts.redisAddr) {
    throw new Error("--redis-sentinel replaces --redis-addr: give one of them");
  }
  if (opts.standby && !opts.redisAddr && !opts.redisSentinel) {
    throw new Error("--standby needs a Redis store (--redis-addr or --redis-sentinel)");
  }
  return opts;
}
