/** Shared steps of the run tests: read a run, its counts checked at every read. */
import { expect } from "vitest";
import type { ReplyOf } from "../../src/protocol/index.js";
import { waitUntil, type RawClient } from "../helpers/manager.js";

export type RunInfo = ReplyOf<"run_info">;

/** run_info, checking that waiting + computing + done + failed = total. */
export async function runInfo(c: RawClient, run_uid: string): Promise<RunInfo> {
  const r = (await c.request("run_info", { run_uid })) as unknown as RunInfo;
  expect(r.success, r.msg).toBe(true);
  expect(r.num_waiting + r.num_computing + r.num_done + r.num_failed).toBe(r.num_tasks);
  return r;
}

/** Polls run_info until every task of the run has ended. */
export async function waitRunEnded(
  c: RawClient,
  run_uid: string,
  timeoutMs = 20_000,
): Promise<RunInfo> {
  const r = await waitUntil(async () => {
    const i = await runInfo(c, run_uid);
    return i.num_done + i.num_failed === i.num_tasks ? i : undefined;
  }, timeoutMs);
  return r as RunInfo;
}
