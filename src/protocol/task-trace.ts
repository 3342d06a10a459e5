/**
 * Timing marks of each task along its path, for `npm run bench:trace`: off
 * unless the manager runs with ZQS_TRACE_TASKS=1 (its workers inherit it).
 * A mark is epoch milliseconds with sub-millisecond precision
 * (`performance.timeOrigin + performance.now()`), comparable between the
 * processes of one host. `task_info` then carries them as `trace`: the
 * manager's marks by name, the worker's prefixed `worker_`.
 */
export const TRACE_TASKS = process.env.ZQS_TRACE_TASKS === "1";

/** Now, as a trace mark. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Marks by name. */
export type TaskTrace = Record<string, number>;
