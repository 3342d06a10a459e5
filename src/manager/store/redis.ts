/**
 * The Redis store. Key names (P = the name prefix):
 *   P + "zqs:" + document name  a string, the JSON text of the document
 *   P + "zqs:history"           a list of JSON texts, oldest first (RPUSH, LTRIM)
 *   P + "zqs:results"           a hash uid -> JSON text of `{ expiresAt, result }`
 *   P + "zqs:runs"              a hash run uid -> JSON text of its definition
 *   P + "zqs:run_outcomes"      a hash run uid -> its outcome string
 *   P + "zqs:schedules"         a hash schedule uid -> JSON text of the schedule
 *   P + "zqs:idempotency"       a hash idempotency key -> JSON text of the remembered reply
 *   P + "zqs:starts"            a hash task uid -> JSON text of its start mark
 *   P + "zqs:owner", P + "zqs:owner_epoch"  the lease of the manager that owns the store
 *
 * One manager at a time (redis-lease.ts): `open` takes the lease, and `apply`
 * sends all its operations in one Lua script that first checks the lease, so
 * other clients see all or none of them and a manager that lost the store
 * writes nothing. Durability is the server's: an apply resolves when Redis has
 * replied, which is on disk only when the server runs with `appendonly yes`
 * and `appendfsync always`.
 *
 * No request waits for a connection: at start the server must answer within
 * the connect timeout, and afterwards a lost connection (or a server that
 * stops answering for the command timeout) makes `apply` reject at once while
 * the client reconnects in the background.
 */
import { Redis } from "ioredis";
import {
  DOC_KEYS,
  causeOf,
  decodeResult,
  decodeRuns,
  decodeSchedules,
  decodeIdempotency,
  decodeStarts,
  encodeOps,
  parseJson,
  type EncodedOp,
} from "./encoding.js";
import type { ManagerIdentity, StoreLog } from "./owner.js";
import { LostOwnershipError, RedisLease, type StandbyWait, type Taken } from "./redis-lease.js";
import {
  StoreError,
  type Store,
  type StoreOp,
  type StoreSnapshot,
  type StoredResult,
} from "./types.js";

export interface RedisStoreOptions {
  /**
   * `host:port`, `host` (port 6379), `[v6addr]:port`; a leading `redis://` is accepted.
   * With `sentinels`: ignored (the sentinels name the master).
   */
  addr: string;
  /** Redis Sentinel: `host:port` of each sentinel, and the name of the master they watch. */
  sentinels?: { addrs: string[]; masterName: string } | undefined;
  /**
   * After each write, wait until this many replicas have it (Redis WAIT) before
   * it counts as done; a write fewer replicas confirmed in time fails. 0: no wait.
   */
  waitReplicas?: number | undefined;
  /** How long a write waits for its replicas (ms, --redis-replica-wait; default REPLICA_WAIT_MS). */
  replicaWaitMs?: number | undefined;
  /** Written into the lease (a standby names the active manager by it). */
  identity?: ManagerIdentity | undefined;
  /** Wait for the store however long another manager holds it (see redis-lease.ts). */
  standby?: StandbyWait | undefined;
  /** What the manager does once it lost the store, for the message ("exits"). */
  onLostDoes?: string | undefined;
  /** Prefix of every key name. */
  prefix: string;
  /** How long the server has to answer at start (ms, default 3000). */
  connectTimeoutMs?: number;
  /** How long any later request may wait for its reply (ms, default 10000). */
  commandTimeoutMs?: number;
  /** Lifetime of the owner's lease without renewal (ms, default 5000), renewed every third of it. */
  leaseMs?: number | undefined;
  /** Where to say that the store is taken over, or waited for. */
  log?: StoreLog | undefined;
}

/** How long a write waits for its replicas (--redis-wait-replicas) by default, in ms (--redis-replica-wait). */
const REPLICA_WAIT_MS = 3000;

export function parseRedisAddr(addr: string): { host: string; port: number } {
  const bare = addr
    .trim()
    .replace(/^redis:\/\//i, "")
    .replace(/\/.*$/, "");
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(bare);
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? 6379 : Number(m[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StoreError(`Cannot use the Redis address "${addr}": expected host:port`);
  }
  return { host, port };
}

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

export class RedisStore implements Store {
  readonly kind = "redis";
  readonly location: string;
  /** Called once if another manager takes the store: every write fails from then on. */
  onOwnershipLost: ((why: string) => void) | undefined;
  private closed = false;
  private lease: RedisLease | undefined;
  /** Replicas that must confirm each write (Redis WAIT); 0: none. */
  private waitReplicas = 0;
  private replicaWaitMs = REPLICA_WAIT_MS;
  private readonly keys: {
    doc: (name: string) => string;
    history: string;
    results: string;
    runs: string;
    runOutcomes: string;
    schedules: string;
    idempotency: string;
    starts: string;
    owner: string;
  };

  private constructor(
    private readonly client: Redis,
    private readonly addr: string,
    prefix: string,
    private readonly lastError: () => unknown,
  ) {
    this.location = `${addr} (key prefix "${prefix}")`;
    this.keys = {
      doc: (name) => `${prefix}zqs:${name}`,
      history: `${prefix}zqs:history`,
      results: `${prefix}zqs:results`,
      runs: `${prefix}zqs:runs`,
      runOutcomes: `${prefix}zqs:run_outcomes`,
      schedules: `${prefix}zqs:schedules`,
      idempotency: `${prefix}zqs:idempotency`,
      starts: `${prefix}zqs:starts`,
      owner: `${prefix}zqs:owner`,
    };
  }

  /**
   * Connect and take the store; a StoreError naming the address when the
   * server does not answer in time, a StoreInUseError naming the manager that owns it.
   */
  static async open(opts: RedisStoreOptions): Promise<RedisStore> {
    const sentinels = opts.sentinels?.addrs.map((a) => parseRedisAddr(a));
    const { host, port } = sentinels?.[0] ?? parseRedisAddr(opts.addr);
    const addr = opts.sentinels
      ? `sentinel ${opts.sentinels.addrs.join(",")} master ${opts.sentinels.masterName}`
      : host.includes(":")
        ? `[${host}]:${port}`
        : `${host}:${port}`;
    const connectTimeout = opts.connectTimeoutMs ?? 3000;
    let started = false;
    let lastError: unknown;
    const retryStrategy = (times: number) => (started ? Math.min(100 * times, 2000) : null);
    const client = new Redis({
      ...(sentinels && opts.sentinels
        ? {
            sentinels,
            name: opts.sentinels.masterName,
            sentinelRetryStrategy: retryStrategy,
            // A master demoted to replica answers writes with READONLY: ask the sentinels again.
            reconnectOnError: (err: Error) => (/READONLY/.test(err.message) ? 2 : false),
          }
        : { host, port }),
      lazyConnect: true,
      connectTimeout,
      commandTimeout: opts.commandTimeoutMs ?? 10_000,
      keepAlive: 10_000,
      // Never queue a request while disconnected, never resend one after a
      // reconnection (an RPUSH sent twice would push twice): fail it, and
      // let the caller refuse its own request.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // No retry while starting; once started, reconnect in the background.
      retryStrategy,
    });
    // An 'error' listener keeps ioredis from printing "Unhandled error event".
    client.on("error", (err: unknown) => {
      lastError = err;
    });
    const timeout = delay(connectTimeout);
    try {
      const ready = client.connect().then(() => client.ping());
      ready.catch(() => undefined);
      const answered = await Promise.race([
        ready.then(() => true),
        timeout.promise.then(() => false),
      ]);
      if (!answered) throw new Error(`no answer within ${connectTimeout} ms`);
    } catch (err) {
      client.disconnect();
      const cause = lastError ?? err;
      throw new StoreError(`Cannot connect to the Redis server at ${addr}: ${causeOf(cause)}`, {
        cause,
      });
    } finally {
      timeout.cancel();
    }
    started = true;
    const store = new RedisStore(client, addr, opts.prefix, () => lastError);
    store.waitReplicas = opts.waitReplicas ?? 0;
    store.replicaWaitMs = opts.replicaWaitMs ?? REPLICA_WAIT_MS;
    try {
      store.lease = await RedisLease.take(client, {
        key: store.keys.owner,
        where: store.location,
        leaseMs: opts.leaseMs ?? 5000,
        log: opts.log,
        identity: opts.identity,
        standby: opts.standby,
        onLostDoes: opts.onLostDoes,
      });
    } catch (err) {
      client.disconnect();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`Cannot take the Redis store at ${store.location}: ${causeOf(err)}`, {
        cause: err,
      });
    }
    store.lease.onLost = (why) => store.onOwnershipLost?.(why);
    return store;
  }

  async load(): Promise<StoreSnapshot> {
    this.checkOpen("read");
    const m = this.client.multi();
    for (const name of DOC_KEYS) m.get(this.keys.doc(name));
    m.lrange(this.keys.history, 0, -1);
    m.hgetall(this.keys.results);
    m.hgetall(this.keys.runs);
    m.hgetall(this.keys.runOutcomes);
    m.hgetall(this.keys.schedules);
    m.hgetall(this.keys.idempotency);
    m.hgetall(this.keys.starts);
    const replies = await this.exec(m, "read");
    const docs: StoreSnapshot["docs"] = {};
    DOC_KEYS.forEach((name, i) => {
      const json = replies[i];
      if (typeof json === "string") {
        docs[name] = parseJson(json, `${this.location} (key ${this.keys.doc(name)})`);
      }
    });
    const list = replies[DOC_KEYS.length] as string[];
    const history = list.map((json, i) =>
      parseJson(json, `${this.location} (key ${this.keys.history}, item ${i})`),
    );
    const hash = replies[DOC_KEYS.length + 1] as Record<string, string>;
    const results: StoredResult[] = Object.entries(hash).map(([uid, json]) =>
      decodeResult(uid, json, `${this.location} (key ${this.keys.results}, field ${uid})`),
    );
    const defs = replies[DOC_KEYS.length + 2] as Record<string, string>;
    const outcomes = replies[DOC_KEYS.length + 3] as Record<string, string>;
    const runs = decodeRuns(
      Object.entries(defs),
      new Map(Object.entries(outcomes)),
      (uid) => `${this.location} (key ${this.keys.runs}, field ${uid})`,
    );
    const kept = replies[DOC_KEYS.length + 4] as Record<string, string>;
    const schedules = decodeSchedules(
      Object.entries(kept),
      (uid) => `${this.location} (key ${this.keys.schedules}, field ${uid})`,
    );
    const remembered = replies[DOC_KEYS.length + 5] as Record<string, string>;
    const idempotency = decodeIdempotency(
      Object.entries(remembered),
      (k) => `${this.location} (key ${this.keys.idempotency}, field ${k})`,
    );
    const marks = replies[DOC_KEYS.length + 6] as Record<string, string>;
    const starts = decodeStarts(
      Object.entries(marks),
      (uid) => `${this.location} (key ${this.keys.starts}, field ${uid})`,
    );
    return {
      docs,
      history,
      results,
      runs,
      schedules,
      // Only when there are some (the snapshot's shape is the same without).
      ...(idempotency.length > 0 ? { idempotency } : {}),
      ...(starts.length > 0 ? { starts } : {}),
    };
  }

  async apply(ops: readonly StoreOp[]): Promise<void> {
    this.checkOpen("write to");
    const encoded = encodeOps(ops, this.location);
    if (encoded.length === 0) return;
    const lease = this.lease as RedisLease;
    try {
      await lease.fenced(encoded.flatMap((op) => this.commands(op)));
    } catch (err) {
      throw this.failure("write to", err);
    }
    if (this.waitReplicas > 0) await this.replicated();
  }

  /**
   * Wait until `waitReplicas` replicas have every write so far (a write a
   * promoted replica lacks would be lost in a failover): a StoreError when
   * fewer confirm within the command timeout.
   */
  private async replicated(): Promise<void> {
    const timeout = Math.max(
      1,
      Math.min(this.replicaWaitMs, (this.client.options.commandTimeout ?? 10_000) - 500),
    );
    let got: number;
    try {
      got = await this.client.wait(this.waitReplicas, timeout);
    } catch (err) {
      throw this.failure("write to", err);
    }
    if (got < this.waitReplicas) {
      throw new StoreError(
        `Cannot write to the Redis store at ${this.location}: ${got} replica(s) of the ${this.waitReplicas} needed (--redis-wait-replicas) confirmed the write within ${timeout} ms (--redis-replica-wait); it may be lost if the master fails`,
      );
    }
  }

  /** How the lease was taken (for the log and status of a standby that took over). */
  get taken(): Taken | undefined {
    return this.lease?.taken;
  }

  /** The owner record this manager wrote (its identity). */
  get owner(): RedisLease["record"] | undefined {
    return this.lease?.record;
  }

  /** The Redis commands of one operation. */
  private commands(op: EncodedOp): string[][] {
    switch (op.op) {
      case "set":
        return [["SET", this.keys.doc(op.key), op.json]];
      case "delete":
        return [["DEL", this.keys.doc(op.key)]];
      case "history_push":
        return [["RPUSH", this.keys.history, op.json]];
      case "history_trim":
        return op.keep === 0
          ? [["DEL", this.keys.history]]
          : [["LTRIM", this.keys.history, String(-op.keep), "-1"]];
      case "result_put":
        return [["HSET", this.keys.results, op.uid, op.json]];
      case "result_delete":
        return [["HDEL", this.keys.results, op.uid]];
      case "run_put":
        return [["HSET", this.keys.runs, op.uid, op.json]];
      case "run_outcomes":
        return [["HSET", this.keys.runOutcomes, op.uid, op.outcomes]];
      case "run_delete":
        return [
          ["HDEL", this.keys.runs, op.uid],
          ["HDEL", this.keys.runOutcomes, op.uid],
        ];
      case "schedule_put":
        return [["HSET", this.keys.schedules, op.uid, op.json]];
      case "schedule_delete":
        return [["HDEL", this.keys.schedules, op.uid]];
      case "idem_put":
        return [["HSET", this.keys.idempotency, op.key, op.json]];
      case "idem_delete":
        return [["HDEL", this.keys.idempotency, op.key]];
      case "start_put":
        return [["HSET", this.keys.starts, op.uid, op.json]];
      case "start_delete":
        return [["HDEL", this.keys.starts, op.uid]];
    }
  }

  /** A StoreError naming the server and the cause of a failed request. */
  private failure(what: string, err: unknown): StoreError {
    if (err instanceof LostOwnershipError) {
      return new StoreError(`Cannot ${what} the Redis store at ${this.location}: ${err.message}`, {
        cause: err,
      });
    }
    // ioredis says "Stream isn't writeable and enableOfflineQueue options is false".
    const msg = /isn't writeable/.test(causeOf(err)) ? "not connected" : causeOf(err);
    const cause = this.client.status === "ready" ? msg : `${msg} (${this.connectionState()})`;
    return new StoreError(`Cannot ${what} the Redis store at ${this.location}: ${cause}`, {
      cause: err,
    });
  }

  /** EXEC a MULTI; the replies, or a StoreError naming the server and the cause. */
  private async exec(m: ReturnType<Redis["multi"]>, what: string): Promise<unknown[]> {
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await m.exec();
    } catch (err) {
      throw this.failure(what, err);
    }
    if (replies === null) {
      throw new StoreError(
        `Cannot ${what} the Redis store at ${this.location}: transaction aborted`,
      );
    }
    const failed = replies.find(([err]) => err !== null);
    if (failed) {
      // A command that fails at run time inside EXEC (e.g. a key of another
      // type, set by someone else) does not undo the others: Redis has no rollback.
      throw new StoreError(
        `Cannot ${what} the Redis store at ${this.location}: ${causeOf(failed[0])}`,
        { cause: failed[0] },
      );
    }
    return replies.map(([, value]) => value);
  }

  private connectionState(): string {
    const last = this.lastError();
    return `connection ${this.client.status}${last === undefined ? "" : `, last error: ${causeOf(last)}`}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Stops the renewals at once; deletes the lease (when still ours) so the
    // next manager need not wait for its expiry.
    const released = this.lease?.release().catch(() => undefined);
    if (this.client.status === "ready") {
      const t = delay(2000);
      const quit = Promise.resolve(released)
        .then(() => this.client.quit())
        .then(
          () => true,
          () => false,
        );
      const done = await Promise.race([quit, t.promise.then(() => false)]);
      t.cancel();
      if (done) return;
    }
    this.client.disconnect();
  }

  private checkOpen(what: string): void {
    if (this.closed) {
      throw new StoreError(`Cannot ${what} the Redis store at ${this.location}: closed`);
    }
  }

  /** The address, `host:port`. */
  get address(): string {
    return this.addr;
  }
}
