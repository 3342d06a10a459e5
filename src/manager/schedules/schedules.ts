/**
 * The schedules (`schedule_*`): their records, one timer for the next one due
 * (a min-heap by next fire, so ten thousand schedules cost one timer), their
 * fires and the misfire policy after a restart.
 *
 * A fire is written down before its task is submitted: the schedule's last
 * slot and sequence number advance and the fire's record (with the task uid
 * chosen for it) joins the store's batch; only once that is durable is the
 * task submitted, as the schedule's owner, through the same method and checks
 * as a request (`function_execute` or `queue_item_add`). A crash in between
 * loses that one fire (its record shows no outcome) and never repeats it.
 * The store has one owner at a time (its ownership lease), so no two
 * managers fire one schedule.
 */
import { randomUUID } from "node:crypto";
import type { StoreOp } from "../store/types.js";
import type { SchedulesContext } from "./context.js";
import { DueTimer } from "../due-timer.js";
import {
  fireRow,
  isScheduleRecord,
  scheduleRow,
  timingOf,
  type FireKind,
  type FireRecord,
  type ScheduleRecord,
  type ScheduleState,
} from "./record.js";
import { dueSlots, nextSlot, nextSlots } from "./timing.js";

export interface SchedulesOptions {
  /** Most slots a schedule with `misfire: "all"` fires after a restart (the rest are missed). */
  catchUp: number;
  /** Fires kept per schedule (the newest). */
  firesKept: number;
  /** Next fire times schedule_get shows. */
  nextShown: number;
}

export interface ScheduleCounts {
  active: number;
  paused: number;
  ended: number;
  fires: number;
  fires_failed: number;
  missed: number;
  /** Fires of slots that had passed (kind `misfire`), since the manager started. */
  misfires: number;
}

export class Schedules {
  private readonly byUid = new Map<string, ScheduleRecord>();
  /** The next slot of each active schedule (absent: paused or ended); fires begin at start. */
  private readonly next: DueTimer;
  private closed = false;
  private fired = 0;
  private firesFailed = 0;
  private misfires = 0;
  /** Fires whose task is being submitted (awaited by tests and at close). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly ctx: SchedulesContext,
    private readonly opts: SchedulesOptions,
  ) {
    this.next = new DueTimer(ctx, (uid) => this.onDue(uid), true);
  }

  get size(): number {
    return this.byUid.size;
  }

  /** Take back the stored schedules (before start): the bad ones are reported and left out. */
  restore(stored: readonly { uid: string; schedule: unknown }[]): void {
    for (const { uid, schedule } of stored) {
      if (!isScheduleRecord(schedule) || schedule.uid !== uid) {
        this.ctx.log.error(`The stored schedule ${uid} cannot be read: it is left out`);
        continue;
      }
      this.byUid.set(uid, schedule);
    }
  }

  /**
   * Begin firing: the slots that passed while the manager was down follow
   * each schedule's misfire policy, then the timer is armed.
   */
  start(): void {
    const now = this.ctx.now();
    for (const s of this.byUid.values()) {
      if (s.paused || this.limitReached(s)) continue;
      this.catchUp(s, now);
      this.plan(s);
    }
    this.next.release();
  }

  close(): void {
    this.closed = true;
    this.next.close();
  }

  /** Resolves when every fire begun so far has been submitted and recorded. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  get(uid: string): ScheduleRecord | undefined {
    return this.byUid.get(uid);
  }

  /** Add a new schedule (checked by the caller), durably. */
  async add(s: ScheduleRecord): Promise<void> {
    this.byUid.set(s.uid, s);
    try {
      await this.ctx.write([this.put(s)], "batched");
    } catch (err) {
      this.byUid.delete(s.uid);
      throw err;
    }
    this.plan(s);
  }

  /** Replace a schedule's definition: it fires from now on by the new one (no catch-up). */
  async update(s: ScheduleRecord, change: Partial<ScheduleRecord>): Promise<void> {
    Object.assign(s, change);
    s.after_ms = Math.max(s.after_ms, this.ctx.now());
    await this.ctx.write([this.put(s)], "batched");
    this.plan(s);
  }

  async setPaused(s: ScheduleRecord, paused: boolean): Promise<void> {
    s.paused = paused;
    // The slots that pass while paused are not fired, and not missed.
    if (!paused) s.after_ms = Math.max(s.after_ms, this.ctx.now());
    await this.ctx.write([this.put(s)], "batched");
    this.plan(s);
  }

  async delete(s: ScheduleRecord): Promise<void> {
    this.byUid.delete(s.uid);
    this.next.delete(s.uid);
    await this.ctx.write([{ op: "schedule_delete", uid: s.uid }], "batched");
  }

  /** schedule_trigger: fire now, outside the slots (not counted by `limit`). */
  async trigger(s: ScheduleRecord): Promise<FireRecord> {
    const rec = this.fire(s, null, "trigger");
    await this.inFlightOf(rec);
    return rec;
  }

  state(s: ScheduleRecord): ScheduleState {
    if (s.paused) return "paused";
    return this.next.dueAt(s.uid) !== undefined ? "active" : "ended";
  }

  row(s: ScheduleRecord): Record<string, unknown> {
    return scheduleRow(s, this.state(s), this.next.dueAt(s.uid) ?? null);
  }

  /** schedule_get: the row, the next fire times and the kept fires with their outcomes. */
  details(s: ScheduleRecord): Record<string, unknown> {
    const next = this.next.dueAt(s.uid);
    const left = s.limit === undefined ? this.opts.nextShown : s.limit - s.slot_fires;
    const upcoming =
      next === undefined
        ? []
        : nextSlots(timingOf(s), next - 1, Math.max(0, Math.min(this.opts.nextShown, left)));
    return {
      ...this.row(s),
      next_fires: upcoming.map((ms) => ms / 1000),
      last_fires: s.fires.map((f) =>
        fireRow(f, f.success === true ? this.ctx.outcome(f.task_uid) : undefined),
      ),
    };
  }

  list(): ScheduleRecord[] {
    return [...this.byUid.values()];
  }

  counts(): ScheduleCounts {
    let active = 0;
    let paused = 0;
    let missed = 0;
    for (const s of this.byUid.values()) {
      if (s.paused) paused++;
      else if (this.next.dueAt(s.uid) !== undefined) active++;
      missed += s.missed;
    }
    return {
      active,
      paused,
      ended: this.byUid.size - active - paused,
      fires: this.fired,
      fires_failed: this.firesFailed,
      missed,
      misfires: this.misfires,
    };
  }

  // ---- firing ----------------------------------------------------------------

  private limitReached(s: ScheduleRecord): boolean {
    return s.limit !== undefined && s.slot_fires >= s.limit;
  }

  /** Work out the schedule's next slot and set it on the timer (or take it off). */
  private plan(s: ScheduleRecord): void {
    const at =
      s.paused || this.limitReached(s) || !this.byUid.has(s.uid)
        ? null
        : nextSlot(timingOf(s), s.after_ms);
    if (at === null) {
      this.next.delete(s.uid);
      return;
    }
    this.next.set(s.uid, at);
  }

  /** A schedule's slot came: fire it, and plan the next. */
  private onDue(uid: string): void {
    const s = this.byUid.get(uid);
    if (!s || this.closed) return;
    this.due(s, this.ctx.now());
    this.plan(s);
  }

  /**
   * A running manager's slots: the newest due slot fires; older ones the
   * timer came too late for (a blocked event loop) are caught up by the
   * misfire policy: `all` fires each, `once` and `skip` count them missed.
   */
  private due(s: ScheduleRecord, now: number): void {
    const keep = s.misfire === "all" ? this.opts.catchUp + 1 : 1;
    const { slots, total } = dueSlots(timingOf(s), s.after_ms, now, keep);
    s.missed += total - slots.length;
    const last = slots.length - 1;
    slots.forEach((slot, i) => {
      if (!this.limitReached(s)) this.fire(s, slot, i === last ? "scheduled" : "misfire");
    });
  }

  /** At start: every slot that passed while the manager was down is a misfire. */
  private catchUp(s: ScheduleRecord, now: number): void {
    const keep = s.misfire === "all" ? this.opts.catchUp : s.misfire === "once" ? 1 : 0;
    const { slots, total } = dueSlots(timingOf(s), s.after_ms, now, keep);
    if (total === 0) return;
    let fired = 0;
    for (const slot of slots) {
      if (this.limitReached(s)) break;
      this.fire(s, slot, "misfire");
      fired++;
    }
    s.missed += total - fired;
    if (fired === 0) {
      // Skipped: the next slot is looked for from now on.
      s.after_ms = Math.max(s.after_ms, now);
      void this.write([this.put(s)], "background");
    }
    this.ctx.log.info(
      `Schedule ${s.uid}: ${total} fire(s) missed while the manager was down; ${fired} fired now (misfire: ${s.misfire})`,
    );
  }

  /**
   * One fire: advance the schedule and write the fire down (synchronously in
   * memory; durably before the task is submitted), then submit its task.
   */
  private fire(s: ScheduleRecord, slot: number | null, kind: FireKind): FireRecord {
    const rec: FireRecord = {
      seq: s.seq + 1,
      slot,
      kind,
      time: this.ctx.now(),
      task_uid: randomUUID(),
      success: null,
      msg: "",
    };
    s.seq = rec.seq;
    if (slot !== null) {
      s.after_ms = Math.max(s.after_ms, slot);
      s.slot_fires++;
    }
    s.fires.push(rec);
    if (s.fires.length > this.opts.firesKept)
      s.fires.splice(0, s.fires.length - this.opts.firesKept);
    this.fired++;
    if (kind === "misfire") this.misfires++;
    const done = this.submit(s, rec).finally(() => {
      this.inFlight.delete(done);
      this.pending.delete(rec);
    });
    this.inFlight.add(done);
    this.pending.set(rec, done);
    return rec;
  }

  private readonly pending = new Map<FireRecord, Promise<void>>();

  private inFlightOf(rec: FireRecord): Promise<void> {
    return this.pending.get(rec) ?? Promise.resolve();
  }

  private async submit(s: ScheduleRecord, rec: FireRecord): Promise<void> {
    try {
      await this.ctx.write([this.put(s)], "batched");
    } catch (err) {
      this.failed(rec, `not submitted: the fire could not be written to the store: ${String(err)}`);
      return;
    }
    let reply: { success: boolean; msg: string };
    try {
      reply = await this.ctx.submit(
        s.task.item_type === "function"
          ? { method: "function_execute", params: functionParams(s), uid: rec.task_uid }
          : {
              method: "queue_item_add",
              params: { item: s.task, user: s.user, user_group: s.user_group },
              uid: rec.task_uid,
            },
      );
    } catch (err) {
      reply = { success: false, msg: err instanceof Error ? err.message : String(err) };
    }
    rec.success = reply.success;
    if (!reply.success) this.failed(rec, reply.msg);
    // Only while the schedule lives: a late write must not bring back a deleted one.
    if (this.byUid.get(s.uid) === s) void this.write([this.put(s)], "background");
  }

  private failed(rec: FireRecord, msg: string): void {
    rec.success = false;
    rec.msg = msg;
    this.firesFailed++;
  }

  private async write(ops: StoreOp[], mode: "batched" | "background"): Promise<void> {
    try {
      await this.ctx.write(ops, mode);
    } catch (err) {
      this.ctx.log.warn(`Writing a schedule failed: ${String(err)}`);
    }
  }

  /** The schedule as it is now (copied: a later change is a later write). */
  private put(s: ScheduleRecord): StoreOp {
    return {
      op: "schedule_put",
      uid: s.uid,
      schedule: { ...s, fires: s.fires.map((f) => ({ ...f })) },
    };
  }
}

/** The params of function_execute for a fire: the task's call and options, as its owner, in the background. */
function functionParams(s: ScheduleRecord): Record<string, unknown> {
  const { item_type, name, args, kwargs, options } = s.task as {
    item_type: string;
    name: string;
    args?: unknown[];
    kwargs?: Record<string, unknown>;
    options?: Record<string, unknown>;
  };
  return {
    run_in_background: true,
    ...options,
    item: { item_type, name, args: args ?? [], kwargs: kwargs ?? {} },
    user: s.user,
    user_group: s.user_group,
  };
}
