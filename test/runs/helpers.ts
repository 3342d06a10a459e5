/** Shared steps of the run tests: read a run, its counts checked at every read. */
import { expect } from "vitest";
import type { ReplyOf } from "../../src/protocol/index.js";
import type { RawClient } from "../helpers/manager.js";
import { GUARD_MS, waitUntil } from "../helpers/wait.js";

export type RunInfo = ReplyOf<"run_info">;

/** run_info, checking that waiting + computing + done + failed = total. */
export async function runInfo(c: RawClient, run_uid: string): Promise<RunInfo> {
  const r = (await c.request("run_info", { run_uid })) as unknown as RunInfo;
  expect(r.success, r.msg).toBe(true);
  expect(r.num_waiting + r.num_computing + r.num_done + r.num_failed).toBe(r.num_tasks);
  return r;
}

/** Polls run_info until `pred` holds; returns that read. */
export function waitRun(
  c: RawClient,
  run_uid: string,
  pred: (i: RunInfo) => boolean,
  timeoutMs = GUARD_MS,
): Promise<RunInfo> {
  return waitUntil(async () => {
    const i = await runInfo(c, run_uid);
    return pred(i) ? i : undefined;
  }, timeoutMs);
}

/** Polls run_info until every task of the run has ended. */
export function waitRunEnded(
  c: RawClient,
  run_uid: string,
  timeoutMs = GUARD_MS,
): Promise<RunInfo> {
  return waitRun(c, run_uid, (i) => i.num_done + i.num_failed === i.num_tasks, timeoutMs);
}
