/** Startup code of the subtask tests, and tasks_list paging through a raw client. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import type { RawClient } from "../helpers/manager.js";
import { ROOT, WORKER_API } from "../helpers/paths.js";

export const FAMILY = `
import { existsSync } from "node:fs";
import { context, sleep } from ${JSON.stringify(WORKER_API)};

export function double(x) {
  return 2 * x;
}

export function boom(msg) {
  throw new Error(msg);
}

/** Returns once the file \`marker\` exists (cancelling it ends it). */
export async function gated(marker) {
  while (!existsSync(marker)) await sleep(0.01);
  return "opened";
}

/** Three children: one awaited, one not awaited, one failing (caught). */
export async function family() {
  const ctx = context();
  const awaited = await ctx.subtask("double", [21]);
  const loose = await ctx.subtaskNoWait("double", [5]);
  let failure = null;
  try {
    await ctx.subtask("boom", ["bad child"]);
  } catch (e) {
    failure = { name: e.name, uid: e.taskUid, state: e.state, message: e.message };
  }
  return { awaited, loose, failure };
}

/** A subtask the manager refuses: what the promise rejects with. */
export async function refused(name, options = {}) {
  try {
    await context().subtask(name, [], {}, options);
    return null;
  } catch (e) {
    return { name: e.name, message: e.message, uid: e.taskUid };
  }
}

/** Lets a child's failure through: the parent fails. */
export async function careless() {
  return await context().subtask("boom", ["let through"]);
}

/** Two gated children, one awaited, one not. */
export async function stuck_parent(marker) {
  const ctx = context();
  await ctx.subtaskNoWait("gated", [marker]);
  return await ctx.subtask("gated", [marker]);
}

/** Awaits \`n\` children at once. */
export async function fan(n) {
  const ctx = context();
  return await Promise.all(Array.from({ length: n }, (_, i) => ctx.subtask("double", [i])));
}

/** A plan that submits a subtask and awaits it. */
export async function* plan_with_child(x) {
  const v = await context().subtask("double", [x]);
  context().log.info("child returned " + v);
}
`;

/** The startup module of README's "Subtasks" section, as written there (zqs/worker resolved). */
export function readmeStartup(): { name: string; code: string } {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const m = /```js\n\/\/ startup example: (\S+)\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error("README.md has no '// startup example:' block");
  return {
    name: m[1] as string,
    code: (m[2] as string).replaceAll('from "zqs/worker"', `from ${JSON.stringify(WORKER_API)}`),
  };
}

export interface ListEntry {
  task_uid: string;
  state: string;
  name: string | null;
  created_at: string;
  user: string | null;
  parent: string | null;
  run_uid: string | null;
  worker: string | null;
  children: string[];
  [key: string]: unknown;
}

export async function list(
  c: RawClient,
  params: Record<string, unknown> = {},
): Promise<{ tasks: ListEntry[]; cursor: string | null }> {
  const r = await c.request("tasks_list", params);
  expect(r.success, String(r.msg)).toBe(true);
  return { tasks: r.tasks as ListEntry[], cursor: r.cursor as string | null };
}

/** Every page of a listing; `between` runs after each page (to add tasks meanwhile). */
export async function allPages(
  c: RawClient,
  params: Record<string, unknown>,
  between: () => Promise<void> = async () => {},
): Promise<{ uids: string[]; pages: number }> {
  const uids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await list(c, { ...params, ...(cursor !== null ? { cursor } : {}) });
    pages++;
    uids.push(...page.tasks.map((t) => t.task_uid));
    cursor = page.cursor;
    await between();
  } while (cursor !== null);
  return { uids, pages };
}
