/**
 * Tasks through a raw client: open the environment, run a function, wait for
 * its result or its lifecycle record, read its QS_Task events.
 */
import { afterAll, beforeAll, expect } from "vitest";
import {
  RawClient,
  startManager,
  type InfoListener,
  type RunningManager,
  type StartOptions,
} from "./manager.js";
import { ENV_OPEN_MS, GUARD_MS, waitUntil } from "./wait.js";

export const USER = { user: "Golden User", user_group: "primary" };

/**
 * A manager for the tests of a file (or a describe block): started, a raw
 * client on it and its environment open before them, stopped after them.
 * Read `m` and `c` inside the tests (they exist once `beforeAll` has run).
 */
export function useOpenManager(opts: StartOptions = {}): {
  readonly m: RunningManager;
  readonly c: RawClient;
} {
  let m: RunningManager | undefined;
  let c: RawClient | undefined;
  beforeAll(async () => {
    m = await startManager(opts);
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c?.close();
    await m?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("useOpenManager: read m and c inside the tests");
    return v;
  };
  return {
    get m() {
      return started(m);
    },
    get c() {
      return started(c);
    },
  };
}

/** environment_open, then wait until the environment exists and the manager is idle. */
export async function openEnvironment(c: RawClient, timeoutMs = ENV_OPEN_MS): Promise<void> {
  const r = await c.request("environment_open");
  expect(r).toEqual({ success: true, msg: "" });
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.worker_environment_exists === true && s.manager_state === "idle";
  }, timeoutMs);
}

/** A function item. */
export function fn(name: string, args: unknown[] = [], kwargs?: Record<string, unknown>) {
  return { item_type: "function", name, args, ...(kwargs ? { kwargs } : {}) };
}

/** function_execute as USER (plus `extra` params); returns the task UID. */
export async function execute(
  c: RawClient,
  item: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const r = await c.request("function_execute", { item, ...USER, ...extra });
  expect(r.success, String(r.msg)).toBe(true);
  return r.task_uid as string;
}

/** Wait until task_status says completed; returns the task's result. */
export async function waitCompleted(c: RawClient, uid: string, timeoutMs = GUARD_MS) {
  await waitUntil(
    async () => (await c.request("task_status", { task_uid: uid })).status === "completed",
    timeoutMs,
    10,
  );
  return (await c.request("task_result", { task_uid: uid })).result as Record<string, unknown>;
}

/** The lifecycle record of task_info. */
export interface Info {
  task_uid: string;
  state: string;
  name: string | null;
  created_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  updated_at: string | null;
  attempts: number;
  progress: number;
  message: string | null;
  outputs: Record<string, unknown>;
  after: string[];
  run_uid: string | null;
  worker: string | null;
  stats: { queue_depth: number; active_workers: number };
}

export async function info(c: RawClient, uid: string): Promise<Info> {
  const r = await c.request("task_info", { task_uid: uid });
  expect(r.success, String(r.msg)).toBe(true);
  return r.task_info as Info;
}

const FINAL = ["completed", "failed", "cancelled", "timed_out", "expired"];

/** Wait until the task's record satisfies `pred`; returns that record. */
export async function waitInfo(
  c: RawClient,
  uid: string,
  pred: (i: Info) => boolean,
  timeoutMs = GUARD_MS,
): Promise<Info> {
  return waitUntil(
    async () => {
      const i = await info(c, uid);
      return pred(i) ? i : undefined;
    },
    timeoutMs,
    10,
  );
}

/** Wait until the task reaches a final state; returns its record. */
export function waitFinal(c: RawClient, uid: string, timeoutMs = GUARD_MS): Promise<Info> {
  return waitInfo(c, uid, (i) => FINAL.includes(i.state), timeoutMs);
}

/** Milliseconds since the epoch of a task_info time (ISO 8601). */
export function msOf(time: string | null): number {
  if (time === null) throw new Error("no time in the record");
  return Date.parse(time);
}

export interface TaskEvent {
  event: string;
  task_uid: string;
  state: string;
  attempt: number;
  [key: string]: unknown;
}

/** The QS_Task events of one task, in the order they were published. */
export function eventsOf(listener: InfoListener, uid: string): TaskEvent[] {
  return listener.messages
    .filter((m) => m.topic === "QS_Task")
    .map((m) => m.payload.msg as TaskEvent)
    .filter((e) => e.task_uid === uid);
}

/** Wait for one event of a task; returns it. */
export async function waitEvent(
  listener: InfoListener,
  uid: string,
  event: string,
  pred: (e: TaskEvent) => boolean = () => true,
): Promise<TaskEvent> {
  const m = await listener.waitFor((m) => {
    const e = m.payload.msg as TaskEvent;
    return m.topic === "QS_Task" && e.task_uid === uid && e.event === event && pred(e);
  });
  return m.payload.msg as TaskEvent;
}

/** The names of one task's events, once the last expected one has arrived. */
export async function eventNames(
  listener: InfoListener,
  uid: string,
  last: string,
): Promise<string[]> {
  await waitEvent(listener, uid, last);
  return eventsOf(listener, uid).map((e) => e.event);
}

/** Index of an event among all QS_Task events (for ordering across tasks). */
export function eventIndex(listener: InfoListener, uid: string, event: string): number {
  return listener.messages
    .filter((m) => m.topic === "QS_Task")
    .findIndex(
      (m) =>
        (m.payload.msg as TaskEvent).task_uid === uid &&
        (m.payload.msg as TaskEvent).event === event,
    );
}

/**
 * Returns once everything the manager saved before this call is durable (the
 * step before a kill -9 whose restart must find it). Task results are written
 * just after the task ends, with the other quiet writes; run_create and
 * run_delete reply only after their own write, which the store makes after
 * the earlier ones. The throwaway run of `item` (a function the manager has;
 * the environment must be open) leaves no run behind.
 */
export async function durable(
  c: RawClient,
  item: Record<string, unknown> = fn("function_sleep", [0]),
): Promise<void> {
  const r = await c.request("run_create", { ...USER, function: item, count: 1 });
  expect(r.success, String(r.msg)).toBe(true);
  const d = await c.request("run_delete", { run_uid: r.run_uid });
  expect(d.success, String(d.msg)).toBe(true);
}
