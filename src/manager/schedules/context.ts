/** What the schedules area uses: nothing else of the manager. */
import type { GroupCheck } from "../access/types.js";
import type { StoreOp } from "../store/types.js";
import type { FireRecord, ScheduleRecord } from "./record.js";

/** A request made for a schedule's fire, as its owner: the manager's own checks apply. */
export interface FireRequest {
  /** "function_execute" for a function, "queue_item_add" for a plan. */
  method: "function_execute" | "queue_item_add";
  params: Record<string, unknown>;
  /** The uid the new task or queue item gets (chosen, and written down, before the request). */
  uid: string;
}

export interface SchedulesContext {
  /**
   * Submit a fire's task through the method the schedule names, with that
   * method's checks (params, lock, permissions, limits): its reply.
   */
  submit(req: FireRequest): Promise<{ success: boolean; msg: string }>;
  /**
   * Check a task as its method would, without submitting it: a message when
   * it would be refused (an unknown group, a function or plan not allowed...).
   */
  check(task: Record<string, unknown>, user: string, group: string): Promise<string | undefined>;
  /** Write to the store: `batched` (awaited before a fire is submitted) or `background`. */
  write(ops: StoreOp[], mode: "batched" | "background"): Promise<void>;
  /** The outcome of a task or queue item by uid, while the manager still knows it. */
  outcome(uid: string): string | undefined;
  /** Now, in milliseconds since the epoch (a fake clock in unit tests). */
  now(): number;
  /** A timer (the real one in the manager): returns what cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

/** What the schedule handlers (schedule_*) use. */
export interface ScheduleHandlersContext {
  schedules: {
    readonly size: number;
    get(uid: string): ScheduleRecord | undefined;
    list(): ScheduleRecord[];
    /** Each change is written before it is live. */
    add(s: ScheduleRecord): Promise<void>;
    update(s: ScheduleRecord, change: Partial<ScheduleRecord>): Promise<void>;
    setPaused(s: ScheduleRecord, paused: boolean): Promise<void>;
    delete(s: ScheduleRecord): Promise<void>;
    /** Fire now, outside the timing. */
    trigger(s: ScheduleRecord): Promise<FireRecord>;
    /** A schedule as schedule_list shows it, and as schedule_get does. */
    row(s: ScheduleRecord): Record<string, unknown>;
    details(s: ScheduleRecord): Record<string, unknown>;
  };
  access: GroupCheck;
  /** A message when the task would be refused for this user and group (as its method checks it). */
  check(task: Record<string, unknown>, user: string, group: string): Promise<string | undefined>;
  now(): number;
  limits: {
    /** --max-schedules */
    maxSchedules: number;
    /** --schedule-min-every, in seconds */
    minEvery: number;
  };
}
