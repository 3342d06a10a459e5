/**
 * The manager lock (SPEC §5): `lock`, `unlock`, `lock_info` and the check of
 * every locked method, with the Python server's rules and message forms.
 *
 * Only a salted SHA-256 hash of the lock key is kept, in memory and in the
 * store; keys are compared in constant time. The emergency key (env
 * `QSERVER_EMERGENCY_LOCK_KEY_FOR_SERVER`) unlocks a manager whose key was
 * lost; as in the Python server it is accepted by `unlock` only, not by the
 * locked methods, `lock` or `lock_info`.
 *
 * `lock` and `unlock` run one at a time and write through `save` before they
 * reply success; the lock takes effect (and status shows it) once saved.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { LockInfo, LockKind } from "../../protocol/index.js";
import { pyRepr } from "../../protocol/index.js";
import type { StatusState } from "../state.js";

/** The lock as the store keeps it (DocKey "lock"): never the key, only its salted hash. */
export const storedLockSchema = z.object({
  environment: z.boolean(),
  queue: z.boolean(),
  user: z.string(),
  note: z.string().nullable(),
  /** Seconds since the epoch (float), as the Python server's `time.time()`. */
  time: z.number(),
  /** Local time when locked, `MM/DD/YYYY HH:MM:SS` (informative; replies format `time`). */
  time_str: z.string(),
  /** SHA-256 of salt ‖ UTF-8 key, hex. */
  key_hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Random salt, hex. */
  key_salt: z.string().regex(/^(?:[0-9a-f]{2})+$/),
});
export type StoredLock = z.infer<typeof storedLockSchema>;

/** A refused lock operation; `withInfo`: the failure reply carries the current lock_info. */
export class LockError extends Error {
  override name = "LockError";
  constructor(
    message: string,
    readonly withInfo = false,
  ) {
    super(message);
  }
}

export interface LockRequest {
  lock_key?: string | undefined;
  user?: string | undefined;
  environment: boolean;
  queue: boolean;
  note?: string | null | undefined;
}

export interface LockReply {
  lock_info: LockInfo;
  lock_info_uid: string;
}

export const EMERGENCY_KEY_ENV = "QSERVER_EMERGENCY_LOCK_KEY_FOR_SERVER";

const SALT_BYTES = 16;

function sha256(salt: Buffer, key: string): Buffer {
  return createHash("sha256").update(salt).update(key, "utf8").digest();
}

/** Python's `datetime.fromtimestamp(t).strftime("%m/%d/%Y %H:%M:%S")` (local time). */
export function lockTimeStr(time: number): string {
  const d = new Date(time * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    `${p(d.getMonth() + 1)}/${p(d.getDate())}/${d.getFullYear()} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

const pyBool = (b: boolean) => (b ? "True" : "False");

export class LockManager {
  private rec: StoredLock | undefined;
  /** Hash of the emergency key under a salt of its own (the key itself is not kept). */
  private readonly emergency: { salt: Buffer; hash: Buffer } | undefined;
  /** lock/unlock run one after another. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    initial: StoredLock | undefined,
    private readonly save: (rec: StoredLock | undefined) => Promise<void>,
    private readonly state: StatusState,
    emergencyKey: string | undefined = process.env[EMERGENCY_KEY_ENV],
  ) {
    if (emergencyKey) {
      const salt = randomBytes(SALT_BYTES);
      this.emergency = { salt, hash: sha256(salt, emergencyKey) };
    }
    this.restore(initial);
  }

  /**
   * Take a lock record read from the store (at start; `undefined`: unlocked).
   * Throws when the record is not a valid lock record.
   */
  restore(rec: unknown): void {
    let next: StoredLock | undefined;
    if (rec !== undefined && rec !== null) {
      const parsed = storedLockSchema.safeParse(rec);
      if (!parsed.success) {
        throw new Error(`The stored lock record is invalid: ${parsed.error.message}`);
      }
      if (!parsed.data.environment && !parsed.data.queue) {
        throw new Error(
          "The stored lock record is invalid: it locks neither environment nor queue",
        );
      }
      next = parsed.data;
    }
    this.apply(next);
  }

  get locked(): boolean {
    return this.rec !== undefined;
  }

  get emergencyKeyIsSet(): boolean {
    return this.emergency !== undefined;
  }

  /** The `lock_info` map of the replies (never the key nor its hash). */
  info(): LockInfo {
    const r = this.rec;
    return {
      environment: r?.environment ?? false,
      queue: r?.queue ?? false,
      user: r?.user ?? null,
      time: r?.time ?? null,
      time_str: r ? lockTimeStr(r.time) : "",
      note: r?.note ?? null,
      emergency_lock_key_is_set: this.emergencyKeyIsSet,
    };
  }

  get uid(): string {
    return this.state.marker("lock_info_uid");
  }

  /**
   * The lock check of a method guarded by `kind`: `undefined` to go ahead, else
   * the refusal (without the method's error prefix), as the Python server words it.
   */
  check(kind: LockKind, lockKey: unknown): string | undefined {
    if (lockKey !== undefined && lockKey !== null && typeof lockKey !== "string") {
      return `Lock key must be a non-empty string or None: lock_key = ${pyRepr(lockKey)}`;
    }
    const r = this.rec;
    if (!r || kind === "none") return undefined;
    const guarded = (kind === "environment" && r.environment) || (kind === "queue" && r.queue);
    if (!guarded) return undefined;
    if (typeof lockKey === "string" && this.keyMatches(lockKey)) return undefined;
    return this.invalidKeyMsg();
  }

  /** `lock_info`: succeeds without a key, or with the valid key, or when unlocked. */
  lockInfo(lockKey: string | undefined): LockReply {
    if (lockKey !== undefined && this.rec && !this.keyMatches(lockKey)) {
      throw new LockError(this.invalidKeyMsg(), true);
    }
    return this.reply();
  }

  /** `lock`: set the lock, or change it when locked with the same key. */
  lock(req: LockRequest): Promise<LockReply> {
    return this.serial(async () => {
      const { user, lock_key: key } = req;
      if (user === undefined) {
        throw new LockError("User name is not specified: 'user' is a required parameter");
      }
      if (user === "") {
        throw new LockError(`User name must be a non-empty string: user = ${pyRepr(user)}`);
      }
      if (key === undefined) {
        throw new LockError("Lock key is not specified: 'lock_key' is a required parameter");
      }
      if (key === "") {
        throw new LockError(`Lock key must be a non-empty string: lock_key = ${pyRepr(key)}`);
      }
      if (this.rec && !this.keyMatches(key)) {
        throw new LockError(`RE Manager was locked with a different key: \n${this.describe()}`);
      }
      if (!req.environment && !req.queue) {
        throw new LockError(
          "Invalid option: environment and/or queue must be selected: " +
            `environment=${pyBool(req.environment)} queue=${pyBool(req.queue)}`,
        );
      }
      const time = Date.now() / 1000;
      const salt = randomBytes(SALT_BYTES);
      const next: StoredLock = {
        environment: req.environment,
        queue: req.queue,
        user,
        note: req.note ?? null,
        time,
        time_str: lockTimeStr(time),
        key_hash: sha256(salt, key).toString("hex"),
        key_salt: salt.toString("hex"),
      };
      await this.save(next);
      this.apply(next);
      return this.reply();
    });
  }

  /** `unlock`: with the lock key or the emergency key; unlocked already is a success. */
  unlock(lockKey: string | undefined): Promise<LockReply> {
    return this.serial(async () => {
      if (lockKey === undefined) {
        throw new LockError("Request contains no lock key: 'lock_key' parameter is required");
      }
      if (lockKey === "") {
        throw new LockError(`Lock key must be a non-empty string: lock_key = ${pyRepr(lockKey)}`);
      }
      if (!this.rec) return this.reply();
      if (!this.keyMatches(lockKey) && !this.emergencyMatches(lockKey)) {
        throw new LockError(this.invalidKeyMsg(), true);
      }
      await this.save(undefined);
      this.apply(undefined);
      return this.reply();
    });
  }

  private reply(): LockReply {
    return { lock_info: this.info(), lock_info_uid: this.uid };
  }

  /** Take a new lock state: status `lock` and a new `lock_info_uid`. */
  private apply(next: StoredLock | undefined): void {
    this.rec = next;
    this.state.set({
      lock: { environment: next?.environment ?? false, queue: next?.queue ?? false },
    });
    this.state.bump("lock_info_uid");
  }

  private keyMatches(key: string): boolean {
    const r = this.rec;
    if (!r) return true;
    const expected = Buffer.from(r.key_hash, "hex");
    return timingSafeEqual(sha256(Buffer.from(r.key_salt, "hex"), key), expected);
  }

  private emergencyMatches(key: string): boolean {
    const e = this.emergency;
    return e !== undefined && timingSafeEqual(sha256(e.salt, key), e.hash);
  }

  private invalidKeyMsg(): string {
    return `Invalid lock key: \n${this.describe()}`;
  }

  /** The lock as text for messages (Python's `LockInfo.to_str()`); the key is never shown. */
  private describe(): string {
    const i = this.info();
    return (
      `RE Manager is locked by ${i.user ?? "None"} at ${i.time_str}\n` +
      `Environment is locked: ${pyBool(i.environment)}\n` +
      `Queue is locked:       ${pyBool(i.queue)}\n` +
      `Emergency lock key:    ${i.emergency_lock_key_is_set ? "set" : "not set"}\n` +
      `Note: ${i.note || "---"}`
    );
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const p = this.chain.then(op, op);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
