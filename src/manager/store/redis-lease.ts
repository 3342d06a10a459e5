/**
 * One manager per Redis store (per key name prefix P): a lease.
 *
 *   P + "zqs:owner"        the owner's record (JSON: pid, host, since, token...),
 *                          with an expiry (--redis-lease), renewed every third of it
 *   P + "zqs:owner_epoch"  a counter, raised each time a manager takes the store
 *
 * Every write is one Lua script (atomic in Redis) that runs its commands only
 * when the lease key holds this manager's record; so a manager that lost the
 * store (stalled past its lease, then another took it) cannot write a byte,
 * even with requests already in flight. When the lease lapsed and no one took
 * the store since (the epoch is still the one this manager got), the script
 * takes it back and writes: a stall with no rival costs nothing. Otherwise the
 * write fails with "the manager lost ownership of the store", `onLost` is
 * called once, and every later write fails the same way.
 *
 * Taking the store at start (`take`):
 *  - free, or its lease expired: taken;
 *  - held by a manager of this host that is gone (pid not running, or reused):
 *    taken over at once (compare-and-set on its record), with a log line; its
 *    writes still in flight are refused by the check above;
 *  - held by a running manager of this host: a StoreInUseError naming it;
 *  - held by a manager of another host, which cannot be checked from here:
 *    waited for, with a log line, until its lease would expire; taken if it
 *    did, a StoreInUseError if it was renewed (that manager runs).
 * A standby (`standby` given) never gives up: whoever holds the store, it is
 * told (`onHolder`) and asked again every third of a lease, or sooner when the
 * lease is due to expire, until the store is free, its holder gone, or the
 * wait is aborted.
 */
import type { Redis } from "ioredis";
import {
  StoreInUseError,
  describeOwner,
  type ManagerIdentity,
  ownerRecord,
  ownerState,
  parseOwner,
  type OwnerRecord,
  type StoreLog,
} from "./owner.js";
import { StoreError } from "./types.js";

/** The lease check, then the commands: ARGV = record, epoch, lease ms, then (count, command...)... */
const FENCED = `
local held = redis.call('GET', KEYS[1])
if held ~= ARGV[1] then
  if held == false and redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  else
    return redis.error_reply('ZQS_LOST ' .. (held or ''))
  end
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
`;

/** Take the lease when free or held by ARGV[3]: {1, epoch}, else {0, record held, its PTTL}. */
const TAKE = `
local held = redis.call('GET', KEYS[1])
if held == false or (ARGV[3] ~= '' and held == ARGV[3]) then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, tostring(epoch)}
end
return {0, held, redis.call('PTTL', KEYS[1])}
`;

/** Delete the lease when it is still ARGV[1]. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface LeaseCommands {
  zqsFenced(lease: string, epoch: string, ...argv: string[]): Promise<unknown>;
  zqsTake(
    lease: string,
    epoch: string,
    record: string,
    ms: string,
    expected: string,
  ): Promise<[number, string, number?]>;
  zqsRelease(lease: string, record: string): Promise<unknown>;
}

function leaseCommands(client: Redis): LeaseCommands {
  const c = client as Redis & Partial<LeaseCommands>;
  if (c.zqsFenced === undefined) {
    client.defineCommand("zqsFenced", { numberOfKeys: 2, lua: FENCED });
    client.defineCommand("zqsTake", { numberOfKeys: 2, lua: TAKE });
    client.defineCommand("zqsRelease", { numberOfKeys: 1, lua: RELEASE });
  }
  return c as Redis & LeaseCommands;
}

/** Wait `ms`; an aborted `signal` rejects at once. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

function isoOrNever(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "never (it has no expiry)";
}

/** What `fenced` throws once the store is lost (the message says so). */
export class LostOwnershipError extends StoreError {
  override name = "LostOwnershipError";
}

export interface LeaseOptions {
  /** Key of the lease; the epoch's is this + "_epoch". */
  key: string;
  /** For messages: `Redis store <where>`. */
  where: string;
  /** Lifetime of the lease without renewal (ms). */
  leaseMs: number;
  log?: StoreLog | undefined;
  /** Written into the owner record: a standby names the active manager by it. */
  identity?: ManagerIdentity | undefined;
  /** Wait for the store however long another manager holds it (a standby manager). */
  standby?: StandbyWait | undefined;
  /** What the manager does once it lost the store, for the message ("exits"). */
  onLostDoes?: string | undefined;
}

/** How a standby manager waits for the store. */
export interface StandbyWait {
  /** Told each time the holder (or its lease's expiry, epoch ms) is seen to change. */
  onHolder(holder: OwnerRecord | undefined, expiresAt: number): void;
  /** Aborts the wait: `take` then rejects. */
  signal: AbortSignal;
}

/** How the store was taken: at once (free), from a gone holder, or once a lease expired. */
export interface Taken {
  /** The holder before, if any. */
  from: OwnerRecord | undefined;
  /** When its lease was due to expire (epoch ms), as last seen; undefined: not watched. */
  expiredAt: number | undefined;
  /** The holder's process was seen gone (same host): taken before its lease's end. */
  gone: boolean;
}

export class RedisLease {
  private lostWhy: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  /** Called once, when the store is found lost. */
  onLost: ((why: string) => void) | undefined;

  private constructor(
    private readonly cmds: LeaseCommands,
    private readonly opts: LeaseOptions,
    readonly record: OwnerRecord,
    private readonly value: string,
    private readonly epoch: string,
    /** How the store was taken (see Taken). */
    readonly taken: Taken,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(1, Math.floor(opts.leaseMs / 3)));
    this.timer.unref();
  }

  /** Take the store for this process (see the file's comment), or throw a StoreInUseError. */
  static async take(client: Redis, opts: LeaseOptions): Promise<RedisLease> {
    const cmds = leaseCommands(client);
    const me = ownerRecord(opts.identity);
    const value = JSON.stringify(me);
    const epochKey = `${opts.key}_epoch`;
    const standby = opts.standby;
    let expected = "";
    let watched: { held: string; until: number } | undefined;
    let gone: OwnerRecord | undefined;
    for (let owners = 0; standby !== undefined || owners < 20;) {
      standby?.signal.throwIfAborted();
      let reply: [number, string, number?];
      try {
        reply = await cmds.zqsTake(opts.key, epochKey, value, String(opts.leaseMs), expected);
      } catch (err) {
        // A standby outlives a Redis server that is away for a while (or failing over).
        if (!standby) throw err;
        await sleep(Math.max(10, opts.leaseMs / 3), standby.signal);
        continue;
      }
      const [ok, a, b] = reply;
      if (ok === 1) {
        const from = gone ?? (watched ? parseOwner(watched.held) : undefined);
        return new RedisLease(cmds, opts, me, value, a, {
          from,
          expiredAt: watched?.until,
          gone: gone !== undefined,
        });
      }
      const held = a;
      const pttl = Number(b);
      if (held !== watched?.held) owners++;
      const owner = parseOwner(held);
      const state = owner ? ownerState(owner) : "elsewhere";
      if (owner && state === "gone") {
        opts.log?.warn(
          `Redis store ${opts.where} was owned by ${describeOwner(owner)}, which is no longer running: taking it over`,
        );
        expected = held;
        gone = owner;
        continue;
      }
      expected = "";
      const now = Date.now();
      if (standby) {
        // The expiry as the server counts it: PTTL after this reply.
        const until = pttl < 0 ? Infinity : now + pttl;
        if (watched?.held !== held || Math.abs(until - watched.until) > opts.leaseMs / 2) {
          if (watched?.held !== held) {
            opts.log?.info(
              `Standby: Redis store ${opts.where} is held by ${owner ? describeOwner(owner) : `a lease zqs did not write (key ${opts.key})`}; its lease expires at ${isoOrNever(until)} unless renewed`,
            );
          }
          standby.onHolder(owner, until);
        }
        watched = { held, until };
        await sleep(
          Math.max(5, Math.min(pttl < 0 ? Infinity : pttl + 5, opts.leaseMs / 3)),
          standby.signal,
        );
        continue;
      }
      // Running here, or a lease that never expires: nothing to wait for.
      if (state === "alive" || pttl < 0) throw inUse(opts, owner, held);
      // Another host: a running manager renews its lease, a dead one's expires.
      // Asked again every third of a lease, so that a lease released is taken at once.
      if (watched?.held !== held) {
        watched = { held, until: now + pttl + 100 };
        opts.log?.info(
          `Redis store ${opts.where} is held by ${owner ? describeOwner(owner) : `a lease zqs did not write (key ${opts.key})`}, on another host: waiting up to ${pttl} ms for its lease to expire (a running manager renews it)`,
        );
      } else if (now >= watched.until) {
        throw inUse(opts, owner, held);
      }
      await sleep(Math.max(10, Math.min(watched.until - now, opts.leaseMs / 3)));
    }
    throw new StoreError(
      `Cannot take the Redis store ${opts.where}: its lease keeps changing hands`,
    );
  }

  /** Why the store was lost, once it was. */
  get lost(): string | undefined {
    return this.lostWhy;
  }

  /**
   * Run the commands (each a command name and its arguments) in one script,
   * only while this manager owns the store. A LostOwnershipError when it does not.
   */
  async fenced(commands: readonly (readonly string[])[]): Promise<void> {
    if (this.lostWhy !== undefined) throw new LostOwnershipError(this.lostWhy);
    const argv = [this.value, this.epoch, String(this.opts.leaseMs)];
    for (const c of commands) argv.push(String(c.length), ...c);
    try {
      await this.cmds.zqsFenced(this.opts.key, `${this.opts.key}_epoch`, ...argv);
    } catch (err) {
      const m = /^ZQS_LOST ?(.*)$/s.exec(err instanceof Error ? err.message : "");
      if (!m) throw err;
      throw new LostOwnershipError(this.lose(m[1] ?? ""));
    }
  }

  private lose(held: string): string {
    if (this.lostWhy === undefined) {
      const owner = parseOwner(held);
      const now =
        owner !== undefined
          ? `it is now in use by ${describeOwner(owner)}`
          : held === ""
            ? "its lease lapsed and another manager has taken the store since, or the store was reset"
            : `its lease key now holds a record zqs did not write`;
      this.lostWhy = `the manager lost ownership of the store (${now}): it stops writing and ${this.opts.onLostDoes ?? "exits"}`;
      this.stopRenewing();
      this.onLost?.(this.lostWhy);
    }
    return this.lostWhy;
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.lostWhy !== undefined || this.timer === undefined) return;
    this.renewing = true;
    try {
      await this.fenced([["PEXPIRE", this.opts.key, String(this.opts.leaseMs)]]);
    } catch {
      // Lost: said by fenced. Not connected: the next renewal tries again.
    } finally {
      this.renewing = false;
    }
  }

  private stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop renewing and delete the lease when it is still this manager's. */
  async release(): Promise<void> {
    this.stopRenewing();
    if (this.lostWhy !== undefined) return;
    await this.cmds.zqsRelease(this.opts.key, this.value);
  }
}

function inUse(opts: LeaseOptions, owner: OwnerRecord | undefined, held: string) {
  const who = owner
    ? describeOwner(owner)
    : `an owner zqs does not know (key ${opts.key} holds ${JSON.stringify(held.slice(0, 200))})`;
  return new StoreInUseError(
    `Redis store ${opts.where} is in use by ${who}; stop it first or use another --redis-name-prefix`,
    owner,
  );
}
