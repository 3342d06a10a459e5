/**
 * What the registry's records answer: `task_status` and `task_result` (the
 * Python server's three values: every non-final state is `running`, every
 * final one `completed`), `task_info` (the whole lifecycle record; a purged
 * UID answers `expired` rather than `not_found`) and the counts by state.
 */
import type { TaskInfo, TaskState, TaskStatus } from "../../protocol/index.js";
import { TASK_STATES } from "../../protocol/index.js";
import {
  givenOptions,
  isFinal,
  type CompletedResult,
  type TaskRecord,
  type TaskStats,
} from "./task-record.js";

/** The records the views read. */
export interface TaskRecordsView {
  get(uid: string): TaskRecord | undefined;
  wasPurged(uid: string): boolean;
  childrenOfTask(uid: string): string[];
  retriesOfTask(uid: string): string[];
  all(): Iterable<TaskRecord>;
}

export type TaskResultView =
  | {
      status: "running";
      result: { task_uid: string; time_start: number; run_in_background: boolean };
    }
  | { status: "completed"; result: CompletedResult }
  | { status: "not_found"; result: Record<string, never> };

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

export function taskStatus(v: TaskRecordsView, uid: string): TaskStatus {
  const r = v.get(uid);
  if (!r) return "not_found";
  return isFinal(r.state) ? "completed" : "running";
}

export function taskResult(v: TaskRecordsView, uid: string): TaskResultView {
  const r = v.get(uid);
  if (!r) return { status: "not_found", result: {} };
  if (r.result) return { status: "completed", result: r.result };
  return {
    status: "running",
    result: {
      task_uid: uid,
      time_start: (r.dispatchedAt ?? r.createdAt) / 1000,
      run_in_background: r.background,
    },
  };
}

/** The lifecycle record of `task_info` (expired for a purged UID, not_found if never seen). */
export function taskInfo(v: TaskRecordsView, uid: string, stats: TaskStats): TaskInfo {
  const r = v.get(uid);
  if (!r) {
    const purged = v.wasPurged(uid);
    return {
      task_uid: uid,
      state: purged ? "expired" : "not_found",
      name: null,
      created_at: null,
      started_at: null,
      ended_at: null,
      updated_at: null,
      attempts: 0,
      progress: 0,
      message: purged ? "The task ended and its record was purged after the retention time" : null,
      outputs: {},
      after: [],
      run_uid: null,
      worker: null,
      user: null,
      parent: null,
      not_before: null,
      children: [],
      children_counts: {},
      stats,
    };
  }
  const children = v.childrenOfTask(uid);
  const counts: Record<string, number> = {};
  for (const c of children) {
    const st = v.get(c)?.state;
    if (st !== undefined) counts[st] = (counts[st] ?? 0) + 1;
  }
  return {
    task_uid: uid,
    state: r.state,
    name: r.name === "" ? null : r.name,
    created_at: iso(r.createdAt),
    started_at: iso(r.startedAt),
    ended_at: iso(r.endedAt),
    updated_at: iso(r.updatedAt),
    attempts: r.attempts,
    progress: r.progress,
    message: r.message,
    outputs: r.outputs,
    after: r.after,
    run_uid: r.runUid,
    worker: r.worker,
    user: r.user,
    parent: r.parent,
    not_before: iso(r.notBefore),
    children,
    children_counts: counts,
    stats,
    retry_of: r.retryOf,
    retries: v.retriesOfTask(uid),
    ...(r.call
      ? { args: r.call.args, kwargs: r.call.kwargs, options: givenOptions(r.call.options) }
      : {}),
    ...(r.trace ? { trace: r.trace } : {}),
  };
}

/** Tasks kept now (running and retained results), by lifecycle state. */
export function countsByState(v: TaskRecordsView): Record<TaskState, number> {
  const out = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  for (const r of v.all()) out[r.state] += 1;
  return out;
}
