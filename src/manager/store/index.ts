/**
 * Opening the store (LMDB or Redis, each loaded on demand). The encoding both
 * implementations share is encoding.ts, re-exported here.
 */
import type { ManagerIdentity, StoreLog } from "./owner.js";
import type { StandbyWait } from "./redis-lease.js";
import type { Store, StoreSync } from "./types.js";

export {
  DOC_KEYS,
  MAX_UID_BYTES,
  causeOf,
  decodeResult,
  decodeRuns,
  decodeSchedules,
  encodeOps,
  parseJson,
  toJson,
  type EncodedOp,
} from "./encoding.js";

export { StoreError } from "./types.js";
export { StoreInUseError, type StoreLog } from "./owner.js";
export type {
  DocKey,
  Store,
  StoreOp,
  StoreSnapshot,
  StoredResult,
  StoredRun,
  StoredSchedule,
  StoreSync,
} from "./types.js";

export interface OpenStoreOptions {
  /** Directory of the embedded (LMDB) store; used when `redisAddr` is not set. */
  storePath: string;
  /** Embedded store: when a write counts as done (default "fsync"; see StoreSync). */
  storeSync?: StoreSync | undefined;
  /** `host:port` of a Redis server: use it instead of the embedded store. */
  redisAddr?: string | undefined;
  /** Prefix of the Redis key names. */
  redisNamePrefix: string;
  /** Lifetime of a manager's lease on a Redis store without renewal, in seconds (default 5). */
  redisLease?: number | undefined;
  /** Where to say that a store left by a manager that is gone is taken over, or waited for. */
  log?: StoreLog | undefined;
  /** Redis Sentinel instead of `redisAddr`: the sentinels' `host:port` and the master's name. */
  redisSentinel?: string[] | undefined;
  redisMasterName?: string | undefined;
  /** Replicas that must confirm each Redis write (default 1 with Sentinel, else 0). */
  redisWaitReplicas?: number | undefined;
  /** How long a Redis write waits for its replicas, in seconds (--redis-replica-wait, default 3). */
  redisReplicaWait?: number | undefined;
  /** Redis: written into the lease. */
  identity?: ManagerIdentity | undefined;
  /** Redis: wait for the store however long another manager holds it. */
  standbyWait?: StandbyWait | undefined;
  /** Redis: what the manager does once it lost the store, for the message. */
  onLostDoes?: string | undefined;
}

/**
 * Open the store the options name (Redis when `redisAddr` is set, else LMDB)
 * and take it for this process: a StoreInUseError when another manager owns it.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  // Imported on demand: a manager on LMDB never loads ioredis, and the other way round.
  const sentinel =
    opts.redisSentinel && opts.redisMasterName
      ? { addrs: opts.redisSentinel, masterName: opts.redisMasterName }
      : undefined;
  if ((opts.redisAddr !== undefined && opts.redisAddr !== "") || sentinel) {
    const { RedisStore } = await import("./redis.js");
    return RedisStore.open({
      addr: opts.redisAddr ?? "",
      sentinels: sentinel,
      waitReplicas: opts.redisWaitReplicas ?? (sentinel ? 1 : 0),
      ...(opts.redisReplicaWait !== undefined
        ? { replicaWaitMs: Math.round(opts.redisReplicaWait * 1000) }
        : {}),
      prefix: opts.redisNamePrefix,
      leaseMs: opts.redisLease === undefined ? undefined : Math.round(opts.redisLease * 1000),
      log: opts.log,
      identity: opts.identity,
      standby: opts.standbyWait,
      onLostDoes: opts.onLostDoes,
    });
  }
  const { LmdbStore } = await import("./lmdb.js");
  return LmdbStore.open({ storePath: opts.storePath, sync: opts.storeSync, log: opts.log });
}
