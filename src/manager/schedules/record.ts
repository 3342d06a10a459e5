/**
 * A schedule as it is kept (in memory and, whole, in the store) and as the
 * schedule methods show it. Times are kept in milliseconds since the epoch
 * and shown in seconds.
 */
import type { Timing } from "./timing.js";

export const MISFIRE_POLICIES = ["skip", "once", "all"] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

/** How a fire came about: its slot on time, a slot missed while the manager was down, schedule_trigger. */
export type FireKind = "scheduled" | "misfire" | "trigger";

/** One fire: written (with the task uid it will use) before its task is submitted. */
export interface FireRecord {
  /** 1, 2, 3... over the schedule's life: no two fires share one. */
  seq: number;
  /** The time slot it stands for (ms); null for a trigger. */
  slot: number | null;
  kind: FireKind;
  /** When it was fired (ms, the manager's clock). */
  time: number;
  /** The uid of the task or queue item it made (or tried to make). */
  task_uid: string;
  /** Whether the task was accepted; null while being submitted (or cut off by a crash). */
  success: boolean | null;
  /** The refusal, when it was refused. */
  msg: string;
}

export interface ScheduleRecord {
  uid: string;
  name: string;
  note: string;
  user: string;
  user_group: string;
  cron?: string | undefined;
  tz?: string | undefined;
  every_ms?: number | undefined;
  start_ms?: number | undefined;
  end_ms?: number | undefined;
  limit?: number | undefined;
  misfire: MisfirePolicy;
  /** `{item_type: "function", name, args, kwargs, options}` or a plan item. */
  task: Record<string, unknown>;
  paused: boolean;
  created_ms: number;
  /** The next slot is looked for after this time (the last slot fired, or the last resume/update). */
  after_ms: number;
  /** The sequence number of the last fire. */
  seq: number;
  /** Fires of slots so far (scheduled and misfires; not triggers): what `limit` counts. */
  slot_fires: number;
  /** Slots not fired: missed while the manager was down (skip), or beyond the catch-up cap. */
  missed: number;
  /** The newest fires, oldest first. */
  fires: FireRecord[];
}

export function timingOf(s: ScheduleRecord): Timing {
  return {
    cron: s.cron,
    tz: s.tz,
    everyMs: s.every_ms,
    startMs: s.start_ms,
    endMs: s.end_ms,
    limit: s.limit,
    createdMs: s.created_ms,
  };
}

/** Whether the stored value is a schedule this version can use. */
export function isScheduleRecord(v: unknown): v is ScheduleRecord {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Partial<ScheduleRecord>;
  return (
    typeof s.uid === "string" &&
    typeof s.user === "string" &&
    typeof s.user_group === "string" &&
    (typeof s.cron === "string" || typeof s.every_ms === "number") &&
    typeof s.task === "object" &&
    s.task !== null &&
    typeof s.after_ms === "number" &&
    typeof s.seq === "number" &&
    Array.isArray(s.fires) &&
    MISFIRE_POLICIES.includes(s.misfire as MisfirePolicy)
  );
}

const sec = (ms: number | undefined | null): number | null =>
  ms === undefined || ms === null ? null : ms / 1000;

export type ScheduleState = "active" | "paused" | "ended";

/** The row of schedule_list (and the head of schedule_get). */
export function scheduleRow(
  s: ScheduleRecord,
  state: ScheduleState,
  next: number | null,
): Record<string, unknown> {
  const last = s.fires[s.fires.length - 1];
  return {
    schedule_uid: s.uid,
    name: s.name,
    note: s.note,
    user: s.user,
    user_group: s.user_group,
    cron: s.cron ?? null,
    tz: s.tz ?? null,
    every: sec(s.every_ms),
    start: sec(s.start_ms),
    end: sec(s.end_ms),
    limit: s.limit ?? null,
    misfire: s.misfire,
    task: s.task,
    state,
    created: sec(s.created_ms),
    next_fire: sec(next),
    fires: s.seq,
    missed: s.missed,
    last_fire: last ? sec(last.time) : null,
  };
}

/** A fire as schedule_get shows it, with the outcome of its task while the manager knows it. */
export function fireRow(f: FireRecord, outcome: string | undefined): Record<string, unknown> {
  return {
    seq: f.seq,
    kind: f.kind,
    slot: sec(f.slot),
    time: sec(f.time),
    task_uid: f.task_uid,
    success: f.success,
    msg: f.msg,
    outcome: outcome ?? null,
  };
}
