/**
 * When a schedule fires: its time slots from a cron pattern (croner: 5 or 6
 * fields, a time zone) or a fixed period (`every`), bounded by `start`,
 * `end` and `limit`. Pure functions of the times given (milliseconds since
 * the epoch), so the fire and misfire logic is tested with a fake clock.
 */
import { Cron } from "croner";

export interface Timing {
  /** A cron pattern of 5 or 6 fields (seconds first), or a nickname such as `@daily`. */
  cron?: string | undefined;
  /** The pattern's IANA time zone (default: the manager's). */
  tz?: string | undefined;
  /** The period in milliseconds (instead of `cron`). */
  everyMs?: number | undefined;
  /** The first slot is not before this (ms); an `every` schedule counts its periods from it. */
  startMs?: number | undefined;
  /** No slot after this (ms). */
  endMs?: number | undefined;
  /** At most this many scheduled fires. */
  limit?: number | undefined;
  /** When the schedule was made (ms): an `every` schedule without `start` counts from it. */
  createdMs: number;
}

/** A timing that cannot be used: the message names what is wrong. */
export class TimingError extends Error {
  override name = "TimingError";
}

const patterns = new Map<string, Cron>();

/** The croner object of a pattern and zone (cached: one per distinct pattern). */
function cronOf(pattern: string, tz: string | undefined): Cron {
  const key = `${tz ?? ""}\n${pattern}`;
  let c = patterns.get(key);
  if (!c) {
    c = new Cron(pattern, { paused: true, ...(tz === undefined ? {} : { timezone: tz }) });
    if (patterns.size > 10_000) patterns.clear();
    patterns.set(key, c);
  }
  return c;
}

/** Check a cron pattern and time zone; a TimingError naming the problem. */
export function checkCron(pattern: string, tz: string | undefined): void {
  const fields = pattern.trim().split(/\s+/);
  if (!pattern.trim().startsWith("@") && fields.length !== 5 && fields.length !== 6) {
    throw new TimingError(
      `'cron' must have 5 fields (minute hour day month weekday) or 6 (seconds first), not ${fields.length}: '${pattern}'`,
    );
  }
  let c: Cron;
  try {
    c = new Cron(pattern, { paused: true, ...(tz === undefined ? {} : { timezone: tz }) });
  } catch (err) {
    throw new TimingError(`'cron' is not a valid pattern: ${(err as Error).message}`);
  }
  try {
    c.nextRun(new Date());
  } catch (err) {
    throw new TimingError(`'tz' is not a time zone: '${tz}' (${(err as Error).message})`);
  }
}

/**
 * The first slot strictly after `afterMs`, within start and end (not counting
 * the limit), or null when there is none.
 */
export function nextSlot(t: Timing, afterMs: number): number | null {
  let slot: number | null;
  if (t.everyMs !== undefined) {
    const anchor = t.startMs ?? t.createdMs;
    slot =
      afterMs < anchor
        ? anchor
        : anchor + (Math.floor((afterMs - anchor) / t.everyMs) + 1) * t.everyMs;
  } else if (t.cron !== undefined) {
    const from = t.startMs !== undefined && t.startMs - 1 > afterMs ? t.startMs - 1 : afterMs;
    const d = cronOf(t.cron, t.tz).nextRun(new Date(from));
    slot = d === null ? null : d.getTime();
  } else {
    slot = null;
  }
  if (slot === null || (t.endMs !== undefined && slot > t.endMs)) return null;
  return slot;
}

/** Up to `count` slots after `afterMs` (fewer when the schedule ends). */
export function nextSlots(t: Timing, afterMs: number, count: number): number[] {
  const out: number[] = [];
  let at = afterMs;
  while (out.length < count) {
    const s = nextSlot(t, at);
    if (s === null) break;
    out.push(s);
    at = s;
  }
  return out;
}

/**
 * The slots in (afterMs, nowMs]: the newest `keep` of them, and how many
 * there were in all (`total`, counted without listing them for `every`; a
 * cron schedule's count stops at `countCap`).
 */
export function dueSlots(
  t: Timing,
  afterMs: number,
  nowMs: number,
  keep: number,
  countCap = 100_000,
): { slots: number[]; total: number } {
  const end = t.endMs !== undefined ? Math.min(nowMs, t.endMs) : nowMs;
  if (t.everyMs !== undefined) {
    const first = nextSlot(t, afterMs);
    if (first === null || first > end) return { slots: [], total: 0 };
    const total = Math.floor((end - first) / t.everyMs) + 1;
    const slots: number[] = [];
    for (let i = Math.max(0, total - keep); i < total; i++) slots.push(first + i * t.everyMs);
    return { slots, total };
  }
  const slots: number[] = [];
  let total = 0;
  let at = afterMs;
  for (;;) {
    const s = nextSlot(t, at);
    if (s === null || s > end) break;
    total++;
    slots.push(s);
    if (slots.length > keep) slots.shift();
    if (total >= countCap) break;
    at = s;
  }
  return { slots, total };
}
