/**
 * Deduplication (function_execute's `dedup_key`): which task answers for a
 * key now. A key is held by its task from its acceptance while it is
 * scheduled, pending, running or retrying, and for `dedup_ttl` seconds after
 * its end; another submission with the key meanwhile gets that task's uid
 * (`deduplicated: true`) instead of a new task.
 *
 * Keys are per user and group: one user's key never answers for another's
 * submission (so no one can hold back another's tasks by guessing a key).
 *
 * The registry keeps the index (it sees every task accepted, ended and
 * restored); the key is stored with the task (its accepted mark, its result's
 * info), so that the index is rebuilt at start.
 */
import { DueTimer, type Clock } from "../due-timer.js";

/** The key of the index: the key as given, in the scope of its user and group. */
export function dedupScope(user: string | null, group: string | null, key: string): string {
  return JSON.stringify([group, user, key]);
}

export class DedupIndex {
  /** Scoped key → the uid of the task that holds it. */
  private readonly holder = new Map<string, string>();
  /** Keys held by a task that has ended: until their ttl ends. */
  private readonly expiry: DueTimer;
  /** Submissions answered with an earlier task (for /metrics). */
  deduplicated = 0;

  constructor(private readonly clock: Clock) {
    this.expiry = new DueTimer(clock, (key) => this.holder.delete(key));
  }

  get size(): number {
    return this.holder.size;
  }

  /** The task that holds `key` now, if any (counted as a deduplicated submission). */
  take(key: string): string | undefined {
    const uid = this.holder.get(key);
    if (uid !== undefined) this.deduplicated++;
    return uid;
  }

  /** A task accepted with `key` holds it. */
  claim(key: string, uid: string): void {
    this.holder.set(key, uid);
    this.expiry.delete(key);
  }

  /** The task `uid` ended: it holds its key until `until` (epoch ms). */
  ended(key: string, uid: string, until: number): void {
    if (this.holder.get(key) !== uid) return;
    if (until <= this.clock.now()) {
      this.holder.delete(key);
      this.expiry.delete(key);
    } else this.expiry.set(key, until);
  }

  /** At start: a task restored as ended holds its key until `until`, if that is still to come. */
  restoreEnded(key: string, uid: string, until: number): void {
    if (until <= this.clock.now()) return;
    this.holder.set(key, uid);
    this.expiry.set(key, until);
  }

  close(): void {
    this.expiry.close();
  }
}
