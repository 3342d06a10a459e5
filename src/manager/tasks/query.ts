/**
 * tasks_list and tasks_counts: the tasks the manager knows (waiting, running,
 * and final ones within their retention), read from the registry.
 *
 * tasks_list orders newest first by (created_at, uid). Its cursor is the
 * position of the last entry of a page, (created_at, uid), made opaque; the
 * next page starts strictly after it. Tasks added later are newer than every
 * entry already listed, so they never push an entry into the next page again
 * or make one skipped: paging stays consistent while tasks are added (a task
 * purged meanwhile is simply no longer there).
 */
import type { ParamsOut, TaskListEntry, TaskState } from "../../protocol/index.js";
import { TASK_STATES } from "../../protocol/index.js";
import { RequestError } from "../errors.js";
import type { TaskHandlersContext } from "./context.js";
import type { TaskRecord, TaskStats } from "./task-record.js";

type Registry = Pick<TaskHandlersContext["tasks"], "all" | "info">;

/** Where a page ends: the last entry's created_at (epoch ms) and uid. */
interface Position {
  at: number;
  uid: string;
}

function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.at, p.uid])).toString("base64url");
}

function decodeCursor(cursor: string): Position {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "string") {
      return { at: v[0], uid: v[1] };
    }
  } catch {
    // reported below
  }
  throw new RequestError(
    `Invalid 'cursor': ${JSON.stringify(cursor)} is not a cursor of tasks_list`,
  );
}

/** Epoch ms of a time parameter (seconds since the epoch, or ISO 8601). */
function ms(t: number | string): number {
  return typeof t === "number" ? Math.round(t * 1000) : Date.parse(t);
}

/** Newer first: a later created_at, then (same ms) the greater uid. */
function newerFirst(a: TaskRecord, b: TaskRecord): number {
  return b.createdAt - a.createdAt || (a.uid < b.uid ? 1 : a.uid > b.uid ? -1 : 0);
}

const NO_STATS: TaskStats = { queue_depth: 0, active_workers: 0 };

export function listTasks(
  tasks: Registry,
  p: ParamsOut<"tasks_list">,
): { tasks: TaskListEntry[]; cursor: string | null } {
  const states =
    p.state === undefined
      ? undefined
      : new Set<TaskState>(Array.isArray(p.state) ? p.state : [p.state]);
  const after = p.created_after === undefined ? undefined : ms(p.created_after);
  const before = p.created_before === undefined ? undefined : ms(p.created_before);
  const from = p.cursor === undefined ? undefined : decodeCursor(p.cursor);
  const matched: TaskRecord[] = [];
  for (const r of tasks.all()) {
    if (states && !states.has(r.state)) continue;
    if (p.name !== undefined && r.name !== p.name) continue;
    if (p.user !== undefined && r.user !== p.user) continue;
    if (p.run_uid !== undefined && r.runUid !== p.run_uid) continue;
    if (p.parent !== undefined && r.parent !== p.parent) continue;
    if (p.worker !== undefined && r.worker !== p.worker) continue;
    if (after !== undefined && !(r.createdAt > after)) continue;
    if (before !== undefined && !(r.createdAt < before)) continue;
    if (from && !(r.createdAt < from.at || (r.createdAt === from.at && r.uid < from.uid))) {
      continue;
    }
    matched.push(r);
  }
  matched.sort(newerFirst);
  const page = matched.slice(0, p.limit);
  const last = page[page.length - 1];
  const more = matched.length > page.length && last !== undefined;
  return {
    tasks: page.map((r) => {
      const info = tasks.info(r.uid, NO_STATS);
      const { outputs: _o, stats: _s, args: _a, kwargs: _k, options: _p, ...entry } = info;
      return entry;
    }),
    cursor: more ? encodeCursor({ at: last.createdAt, uid: last.uid }) : null,
  };
}

export function countTasks(tasks: Registry): {
  counts: Record<string, number>;
  by_name: Record<string, Record<string, number>>;
} {
  const counts: Record<string, number> = Object.fromEntries(TASK_STATES.map((s) => [s, 0]));
  const byName = new Map<string, Record<string, number>>();
  for (const r of tasks.all()) {
    counts[r.state] = (counts[r.state] ?? 0) + 1;
    let n = byName.get(r.name);
    if (!n) byName.set(r.name, (n = {}));
    n[r.state] = (n[r.state] ?? 0) + 1;
  }
  // Object.fromEntries keeps a function named `__proto__` an own key.
  return { counts, by_name: Object.fromEntries(byName) };
}
