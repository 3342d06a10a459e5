/** Shared steps of the environment and task tests. */
import { execFileSync } from "node:child_process";
import { expect } from "vitest";
import type { RawClient } from "../helpers/manager.js";
import { waitUntil } from "../helpers/manager.js";

export const USER = { user: "Golden User", user_group: "primary" };

export async function openEnvironment(c: RawClient): Promise<void> {
  const r = await c.request("environment_open");
  expect(r).toEqual({ success: true, msg: "" });
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.worker_environment_exists === true && s.manager_state === "idle";
  }, 20_000);
}

export function fn(name: string, args: unknown[] = [], kwargs?: Record<string, unknown>) {
  return { item_type: "function", name, args, ...(kwargs ? { kwargs } : {}) };
}

export async function execute(
  c: RawClient,
  item: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const r = await c.request("function_execute", { item, ...USER, ...extra });
  expect(r.success, String(r.msg)).toBe(true);
  return r.task_uid as string;
}

export async function waitCompleted(c: RawClient, uid: string, timeoutMs = 10_000) {
  await waitUntil(
    async () => (await c.request("task_status", { task_uid: uid })).status === "completed",
    timeoutMs,
    5,
  );
  return (await c.request("task_result", { task_uid: uid })).result as Record<string, unknown>;
}

/** Pids of the child processes of a process (the manager's workers). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
