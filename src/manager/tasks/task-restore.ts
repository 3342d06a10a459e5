/**
 * The task records rebuilt at start from what task-store.ts stored: final
 * results still within their retention, delayed tasks to submit again, tasks
 * that ran when the manager stopped (held: a worker on another host may take
 * them back, or their options retry them), and the failed results of tasks the
 * stop cut off.
 */
import type { StoreOp, StoredResult, StoredStart } from "../store/types.js";
import type { CompletedResult, KeptCall, TaskRecord } from "./task-record.js";
import { TaskStore, type AcceptedMark, type StartMark, type StoredInfo } from "./task-store.js";

/** The uid suffix of a start mark kept among the results (before its own keyspace). */
const LEGACY_START_SUFFIX = "#start";

/** A stored mark of a task that ran when the manager stopped, found at start. */
export interface HeldTask {
  uid: string;
  accepted: AcceptedMark & { call: KeptCall };
  start: StartMark | undefined;
}

/** A record rebuilt from the store, kept until `at` (epoch ms). */
export interface Restored {
  rec: TaskRecord;
  at: number;
}

/** A delayed task found `scheduled` at start: submitted again as it was. */
export type ResumedTask = { uid: string; accepted: AcceptedMark & { call: KeptCall; at: number } };

/**
 * What the stored results at start stand for: records still within their
 * retention (bounded by the retention in force now), uids whose retention
 * ended (deleted), delayed tasks still `scheduled` (`resume`: submitted
 * again, their marks kept), function tasks accepted and not ended when the
 * manager stopped that may go on (`held`: with their call, and their start
 * mark when one was dealt to a worker on another host, which may take it
 * back; or retried, their options allowing), and the other tasks accepted and
 * not ended (failed results saying so, final at once and kept for the
 * retention from now). `ops`: what to write for them.
 */
export function restoreResults(
  stored: readonly StoredResult[],
  startMarks: readonly StoredStart[],
  retentionSec: number,
  now: number,
): {
  kept: Restored[];
  gone: string[];
  ops: StoreOp[];
  resume: ResumedTask[];
  held: HeldTask[];
} {
  const resume: ResumedTask[] = [];
  const held: HeldTask[] = [];
  const kept: Restored[] = [];
  const gone: string[] = [];
  const ops: StoreOp[] = [];
  const cut: StoreOp[] = [];
  const starts = new Map<string, StartMark>();
  for (const s of startMarks) starts.set(s.uid, s.mark as StartMark);
  for (const s of stored) {
    // A start mark as a store of an earlier version kept it (a result `<uid>#start`).
    if (!s.uid.endsWith(LEGACY_START_SUFFIX)) continue;
    starts.set(s.uid.slice(0, -LEGACY_START_SUFFIX.length), s.result as StartMark);
    ops.push({ op: "result_delete", uid: s.uid });
  }
  for (const s of [...stored].sort((a, b) => a.expiresAt - b.expiresAt)) {
    if (s.uid.endsWith(LEGACY_START_SUFFIX)) continue;
    const accepted = (s.result as { accepted?: AcceptedMark }).accepted;
    const call = accepted?.call;
    if (accepted && call && accepted.at !== undefined) {
      resume.push({ uid: s.uid, accepted: { ...accepted, call, at: accepted.at } });
      continue;
    }
    const start = starts.get(s.uid);
    // Held: one a worker on another host may take back, or one its options retry.
    if (
      accepted &&
      call &&
      (start || ((call.options.max_retries as number | undefined) ?? 0) > 0)
    ) {
      held.push({ uid: s.uid, accepted: { ...accepted, call }, start });
      starts.delete(s.uid);
      continue;
    }
    if (accepted) {
      const c = cutOff(s.uid, accepted, retentionSec, now);
      kept.push(c);
      cut.push(c.op);
      continue;
    }
    // The retention in force now bounds restored results too: the purge FIFO stays in order
    // (a longer retention of the manager before would put late expiries ahead of new ones).
    const at = Math.min(s.expiresAt * 1000, now + retentionSec * 1000);
    if (at <= now) {
      ops.push({ op: "result_delete", uid: s.uid });
      gone.push(s.uid);
      continue;
    }
    const { info = {}, ...result } = s.result as CompletedResult & { info?: StoredInfo };
    kept.push({ rec: restoredRecord(s.uid, result, info), at });
  }
  // Start marks of tasks no longer held (they ended as a crash came): stale.
  for (const uid of starts.keys()) ops.push(TaskStore.startGone(uid));
  return { kept, gone, ops: [...ops, ...cut], resume, held };
}

/** Why a task that ran when the manager stopped ended (or was retried). */
export const CUT_OFF_MSG = "The manager stopped before the task ended: its outcome is unknown";

/** The failed result of a task the stop cut off (kept for the retention from now); its store op. */
export function cutOff(
  uid: string,
  accepted: AcceptedMark,
  retentionSec: number,
  now: number,
): Restored & { op: StoreOp } {
  const result: CompletedResult = {
    task_uid: uid,
    success: false,
    msg: CUT_OFF_MSG,
    traceback: "",
    return_value: null,
    time_start: accepted.createdAt / 1000,
    time_stop: now / 1000,
  };
  const info: StoredInfo = {
    name: accepted.name,
    kind: accepted.kind,
    background: accepted.background,
    createdAt: accepted.createdAt,
    state: "failed",
    ...(accepted.user != null ? { user: accepted.user, group: accepted.group ?? null } : {}),
    ...(accepted.parent != null ? { parent: accepted.parent } : {}),
    ...(accepted.dedup ? { dedup: accepted.dedup } : {}),
  };
  const at = now + retentionSec * 1000;
  return {
    rec: restoredRecord(uid, result, info),
    at,
    op: { op: "result_put", uid, result: { ...result, info }, expiresAt: at / 1000 },
  };
}

/** The record a stored result stands for, with its stored lifecycle fields. */
function restoredRecord(uid: string, result: CompletedResult, info: StoredInfo): TaskRecord {
  const start = Math.round(result.time_start * 1000);
  const stop = Math.round(result.time_stop * 1000);
  const attempts = info.attempts ?? 1;
  return {
    uid,
    name: info.name ?? "",
    kind: info.kind ?? "function",
    background: info.background ?? true,
    state: info.state ?? (result.success ? "completed" : "failed"),
    createdAt: info.createdAt ?? start,
    dispatchedAt: attempts > 0 ? start : undefined,
    startedAt: attempts > 0 ? start : undefined,
    endedAt: stop,
    updatedAt: stop,
    attempts,
    progress: info.progress ?? (result.success ? 100 : 0),
    message: info.message !== undefined ? info.message : result.success ? null : result.msg,
    outputs: info.outputs ?? {},
    after: info.after ?? [],
    priority: info.priority ?? 0,
    runUid: info.runUid ?? null,
    worker: info.worker ?? null,
    ending: false,
    user: info.user ?? null,
    group: info.group ?? null,
    parent: info.parent ?? null,
    retryOf: info.retryOf ?? null,
    stopping: undefined,
    result,
    heardStart: attempts > 0,
    notBefore: info.notBefore,
    delayed: undefined,
    dedup: info.dedup,
  };
}
