/**
 * Rate limits of functions: at most `count` starts of one function in any
 * period, over every worker (local pool, workers on other hosts), decided
 * where tasks are dealt. The scheduler asks `admit` before it deals a task; a
 * task that may not start now is held here, in dealing order (priority, then
 * submission), and handed back (`release`) when it may: a timer set for the
 * moment the oldest start counted leaves the period, or a start heard that
 * frees room. Nothing polls.
 *
 * What counts: a task dealt and not yet heard to start occupies the limit
 * until its start is heard (task_started, or the time_start of its end), then
 * its start time (clamped between its dealing and now) does for one period.
 * So no period holds more than `count` starts by the tasks' own `time_start`,
 * whatever the delays between dealing and starting (a task dealt ahead waits
 * in its worker; a worker lost before a start was heard counts as a start
 * then).
 *
 * The limit belongs to the function: the manager's `--rate-limit NAME=N/PERIOD`
 * fixes it (a task may not set another); otherwise a task's `rate_limit`
 * option sets it when the task is accepted, for every task of the function
 * from then on (the latest wins). At most `max` functions have a limit
 * (`--max-rate-limits`); a new one beyond it takes the place of one set by a
 * task that holds and counts nothing now, or is refused.
 */
import { parseRate, sameRate, type Rate } from "../../protocol/rate-limit.js";
import { RequestError } from "../errors.js";

/** What a held task must tell: its function, and its place in the dealing order. */
export interface LimitedJob {
  uid: string;
  call: { name: string };
  priority: number;
  seq: number;
}

export interface RateLimitOptions {
  /** The manager's limits (`--rate-limit`), by function name. */
  defaults: ReadonlyMap<string, Rate>;
  /** Most functions with a limit at once (`--max-rate-limits`). */
  max: number;
}

export interface RateLimitsContext<J> {
  /** Milliseconds since the epoch (the clock of `time_start`). */
  now(): number;
  setTimer(ms: number, fn: () => void): () => void;
  /** Held tasks that may start now: back to the ready tasks (each keeps its room). */
  release(jobs: J[]): void;
}

/** The clock of the manager (tests give the scheduler a fake one). */
export const SYSTEM_CLOCK: Pick<RateLimitsContext<unknown>, "now" | "setTimer"> = {
  now: Date.now,
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** A dealt task's start not heard yet: when it was dealt. Reserved (released, not dealt): -1. */
const RESERVED = -1;

interface Limit<J> {
  name: string;
  rate: Rate;
  /** Fixed by the manager's --rate-limit. */
  fromManager: boolean;
  /** Tasks whose start is not known yet, and released ones not dealt yet: uid → dealt at (ms) or RESERVED. */
  pending: Map<string, number>;
  /** Known starts (ms), ascending, from `head` on. */
  starts: number[];
  head: number;
  /** Tasks waiting for room, in dealing order. */
  held: J[];
  cancelTimer: (() => void) | undefined;
  timerAt: number;
}

/** Before `b` in dealing order: higher priority first, then submission. */
function before(a: LimitedJob, b: LimitedJob): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

export class RateLimits<J extends LimitedJob> {
  private readonly limits = new Map<string, Limit<J>>();
  /** Uid → the limit its pending entry is in. */
  private readonly byUid = new Map<string, Limit<J>>();
  private heldCount = 0;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly ctx: RateLimitsContext<J>,
  ) {
    for (const [name, rate] of opts.defaults) this.limits.set(name, newLimit(name, rate, true));
  }

  /** Any function has a limit (else the scheduler asks nothing). */
  get active(): boolean {
    return this.limits.size > 0;
  }

  /** Tasks held now (`/metrics`). */
  get held(): number {
    return this.heldCount;
  }

  /** The limit of a function (undefined: none). */
  rateOf(name: string): Rate | undefined {
    return this.limits.get(name)?.rate;
  }

  /** Why a task's `rate_limit` for `name` cannot be taken (undefined: it can). */
  refusal(name: string, rate: Rate): string | undefined {
    const e = this.limits.get(name);
    if (e?.fromManager && !sameRate(e.rate, rate)) {
      return `The function '${name}' has the manager's rate limit ${e.rate.text} (--rate-limit): a task may not set another ('${rate.text}')`;
    }
    if (!e && this.limits.size >= this.opts.max && this.idle() === undefined) {
      return `Too many rate limits: ${this.limits.size} functions have one, the limit is ${this.opts.max} (--max-rate-limits)`;
    }
    return undefined;
  }

  /** A task's `rate_limit` (checked by `refusal`): the function's limit from now on. */
  set(name: string, rate: Rate): void {
    let e = this.limits.get(name);
    if (e?.fromManager) return;
    if (!e) {
      if (this.limits.size >= this.opts.max) {
        const out = this.idle();
        if (out === undefined) return;
        this.limits.delete(out.name);
      }
      this.limits.set(name, (e = newLimit(name, rate, false)));
      return;
    }
    if (sameRate(e.rate, rate)) return;
    e.rate = rate;
    this.review(e);
  }

  /**
   * May the task start now? undefined: yes, and its start is counted; else
   * why not (it is held, and released when it may).
   */
  admit(job: J): string | undefined {
    const e = this.limits.get(job.call.name);
    if (!e) return undefined;
    const was = e.pending.get(job.uid);
    if (was === RESERVED) {
      e.pending.set(job.uid, this.ctx.now());
      return undefined;
    }
    // Those held before whose time came are released first: they take the room before this one.
    if (e.held.length > 0) this.review(e);
    if (was === undefined && e.held.length === 0 && this.used(e) < e.rate.count) {
      e.pending.set(job.uid, this.ctx.now());
      this.byUid.set(job.uid, e);
      return undefined;
    }
    this.hold(e, job);
    return `Waiting: the function '${e.name}' is at its rate limit of ${e.rate.text}${e.fromManager ? " (--rate-limit)" : ""}; the task starts in its turn`;
  }

  /** The task was heard to start at `timeSec` (seconds since the epoch). */
  started(uid: string, timeSec: number): void {
    const e = this.byUid.get(uid);
    const dealt = e?.pending.get(uid);
    if (!e || dealt === undefined || dealt === RESERVED) return;
    const now = this.ctx.now();
    this.resolve(e, uid, Math.min(now, Math.max(dealt, timeSec * 1000)));
  }

  /**
   * The task no longer waits for a start (it ended, its worker was lost, it
   * was cancelled): a dealt task whose start was not heard counts as started
   * now; a released one never dealt leaves its room.
   */
  gone(uid: string): void {
    const e = this.byUid.get(uid);
    if (!e) return;
    const dealt = e.pending.get(uid);
    if (dealt === RESERVED) {
      e.pending.delete(uid);
      this.byUid.delete(uid);
      this.review(e);
    } else if (dealt !== undefined) this.resolve(e, uid, this.ctx.now());
  }

  /** A held task ended (cancelled, expired) before its turn. */
  drop(job: J): void {
    const e = this.limits.get(job.call.name);
    if (!e) return;
    const at = this.place(e.held, job);
    const i = e.held[at] === job ? at : e.held.indexOf(job);
    if (i < 0) return;
    e.held.splice(i, 1);
    this.heldCount--;
    if (e.held.length === 0) this.disarm(e);
  }

  close(): void {
    for (const e of this.limits.values()) this.disarm(e);
  }

  // ---- inside ------------------------------------------------------------------

  /** Starts counted now: those not heard yet, and those heard within the period. */
  private used(e: Limit<J>): number {
    const from = this.ctx.now() - e.rate.periodMs;
    while (e.head < e.starts.length && (e.starts[e.head] as number) <= from) e.head++;
    if (e.head > 1024 && e.head * 2 > e.starts.length) {
      e.starts = e.starts.slice(e.head);
      e.head = 0;
    }
    return e.pending.size + e.starts.length - e.head;
  }

  private resolve(e: Limit<J>, uid: string, at: number): void {
    e.pending.delete(uid);
    this.byUid.delete(uid);
    // Mostly in order: looked for from the end.
    let i = e.starts.length;
    while (i > e.head && (e.starts[i - 1] as number) > at) i--;
    e.starts.splice(i, 0, at);
    this.review(e);
  }

  /** Held: there is no room now (see admit), so `review` only sets the timer. */
  private hold(e: Limit<J>, job: J): void {
    e.held.splice(this.place(e.held, job), 0, job);
    this.heldCount++;
    this.review(e);
  }

  /** Where `job` goes in `held` (binary search by dealing order). */
  private place(held: J[], job: J): number {
    let lo = 0;
    let hi = held.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(held[mid] as J, job)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Release what may start now; for the rest, a timer for when the next may. */
  private review(e: Limit<J>): void {
    if (e.held.length === 0) return;
    const room = e.rate.count - this.used(e);
    if (room > 0) {
      const go = e.held.splice(0, room);
      this.heldCount -= go.length;
      for (const j of go) {
        e.pending.set(j.uid, RESERVED);
        this.byUid.set(j.uid, e);
      }
      this.ctx.release(go);
    }
    if (e.held.length === 0) {
      this.disarm(e);
      return;
    }
    // Room comes when enough known starts leave the period; starts not heard yet wait for their report.
    const keep = e.rate.count - e.pending.size - 1;
    if (keep < 0) {
      this.disarm(e);
      return;
    }
    const known = e.starts.length - e.head;
    const at = (e.starts[e.head + known - keep - 1] as number) + e.rate.periodMs;
    if (e.cancelTimer && e.timerAt === at) return;
    this.disarm(e);
    e.timerAt = at;
    e.cancelTimer = this.ctx.setTimer(Math.max(0, at - this.ctx.now()), () => {
      e.cancelTimer = undefined;
      this.review(e);
    });
  }

  private disarm(e: Limit<J>): void {
    e.cancelTimer?.();
    e.cancelTimer = undefined;
  }

  /** A limit set by a task that holds and counts nothing now (its place may be taken). */
  private idle(): Limit<J> | undefined {
    for (const e of this.limits.values()) {
      if (!e.fromManager && e.held.length === 0 && this.used(e) === 0) return e;
    }
    return undefined;
  }
}

function newLimit<J>(name: string, rate: Rate, fromManager: boolean): Limit<J> {
  return {
    name,
    rate,
    fromManager,
    pending: new Map(),
    starts: [],
    head: 0,
    held: [],
    cancelTimer: undefined,
    timerAt: 0,
  };
}

/** What the handlers use: a task's `rate_limit` checked and taken. */
export type RateLimitSetter = Pick<RateLimits<LimitedJob>, "refusal" | "set">;

/**
 * A task's `rate_limit` (text checked by the method table) for function
 * `name`: taken as the function's limit, or refused (RequestError, nothing
 * changed) — call it last before the task is accepted.
 */
export function takeRateLimit(
  limits: RateLimitSetter,
  name: string,
  text: string | undefined,
  extras?: Record<string, unknown>,
): void {
  if (text === undefined) return;
  const rate = parseRate(text);
  const why = limits.refusal(name, rate);
  if (why !== undefined) throw new RequestError(why, extras);
  limits.set(name, rate);
}
