/** Shared steps of the lifecycle tests: startup functions in a temp dir, task_info, events. */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import type { InfoListener, RawClient } from "../helpers/manager.js";
import { ROOT, waitUntil } from "../helpers/manager.js";

/** The worker API as the worker itself loads it (the same module instance: context() works). */
const WORKER_API = pathToFileURL(path.join(ROOT, "dist/worker/index.js")).href;

/** Functions that exercise every state; written to a fresh temp dir. */
export const STARTUP = `
import { context, sleep } from ${JSON.stringify(WORKER_API)};

/** Sleeps (ends early when its signal aborts), returns the seconds. */
export async function wait(seconds) {
  await sleep(seconds);
  return seconds;
}

/** Fails on its first \`failures\` attempts; reports each attempt it saw as an output. */
export function flaky(failures) {
  const ctx = context();
  ctx.output("attempt_" + ctx.attempt, ctx.attempt);
  if (ctx.attempt <= failures) throw new Error("failure on attempt " + ctx.attempt);
  return { attempt: ctx.attempt };
}

/** Fails after \`seconds\`. */
export async function fail_after(seconds, text) {
  await sleep(seconds);
  throw new Error(text);
}

/** Reports progress, a message and a partial output, then waits. */
export async function report(seconds) {
  const ctx = context();
  ctx.progress(40);
  ctx.message("halfway there");
  ctx.output("partial", [1, 2, 3]);
  await sleep(seconds);
  return "done";
}

/** CPU-bound: never yields after its first tick, so only replacing its process ends it. */
export async function spin() {
  await sleep(0.05);
  for (;;) {
    // busy
  }
}
`;

export function startupDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-lifecycle-"));
  writeFileSync(path.join(dir, "tasks.mjs"), STARTUP);
  return dir;
}

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
  timeoutMs = 10_000,
): Promise<Info> {
  let hit: Info | undefined;
  await waitUntil(
    async () => {
      const i = await info(c, uid);
      if (pred(i)) hit = i;
      return hit !== undefined;
    },
    timeoutMs,
    10,
  );
  return hit as Info;
}

/** Wait until the task reaches a final state; returns its record. */
export function waitFinal(c: RawClient, uid: string, timeoutMs = 10_000): Promise<Info> {
  return waitInfo(c, uid, (i) => FINAL.includes(i.state), timeoutMs);
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

/** The names of one task's events, once the last expected one has arrived. */
export async function eventNames(
  listener: InfoListener,
  uid: string,
  last: string,
): Promise<string[]> {
  await listener.waitFor(
    (m) =>
      m.topic === "QS_Task" &&
      (m.payload.msg as TaskEvent).task_uid === uid &&
      (m.payload.msg as TaskEvent).event === last,
  );
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
