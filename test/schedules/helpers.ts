/** Reading schedules and their fires from a real manager. */
import { expect } from "vitest";
import type { RawClient } from "../helpers/manager.js";
import { USER } from "../helpers/tasks.js";

export interface Fire {
  seq: number;
  kind: "scheduled" | "misfire" | "trigger";
  slot: number | null;
  time: number;
  task_uid: string;
  success: boolean | null;
  msg: string;
  outcome: string | null;
}

export interface Schedule extends Record<string, unknown> {
  schedule_uid: string;
  state: string;
  missed: number;
  next_fires: number[];
  last_fires: Fire[];
}

/** A plan the example permissions let the primary group add to the queue. */
export const COUNT_PLAN = {
  item_type: "plan",
  name: "count",
  args: [["det1"]],
  kwargs: { num: 1 },
};

export async function create(c: RawClient, params: Record<string, unknown>): Promise<string> {
  const r = await c.request("schedule_create", { ...USER, ...params });
  expect(r.success, String(r.msg)).toBe(true);
  return r.schedule_uid as string;
}

export async function getSchedule(c: RawClient, uid: string): Promise<Schedule> {
  const r = await c.request("schedule_get", { schedule_uid: uid });
  expect(r.success, String(r.msg)).toBe(true);
  return r.schedule as Schedule;
}

/** Consecutive fires (by seq) of the given kind: their slots, in order. */
export function slotsOf(fires: Fire[], kind: Fire["kind"]): number[] {
  return fires.filter((f) => f.kind === kind).map((f) => f.slot as number);
}
