/**
 * Waiting with progress (on stderr, see progress.ts): for tasks, for a run's
 * tasks, for the queue, for the environment to open or close.
 */
import type { REManagerAPI } from "../client/index.js";
import { WaitMonitor, WaitTimeoutError } from "../client/index.js";
import type { ReplyOf, Status } from "../protocol/index.js";
import { OutcomeError } from "./errors.js";
import { inline } from "./output.js";
import type { OptionSpec } from "./spec.js";
import { positiveSeconds } from "./parse.js";
import { createProgress } from "./progress.js";

/** `--wait-timeout <seconds>`: seconds, or no limit. */
export function waitTimeoutOption(description: string) {
  return {
    value: "<seconds>",
    description,
    parse: positiveSeconds,
    default: Infinity,
  } as const satisfies OptionSpec<number>;
}

export async function waitTasks(api: REManagerAPI, uids: string[], timeout: number): Promise<void> {
  const monitor = new WaitMonitor();
  const progress = createProgress({
    label: uids.length === 1 ? "task" : "tasks",
    total: uids.length,
  });
  monitor.onProgress((p) =>
    progress.update(p.done ?? 0, p.done === p.total ? "completed" : "waiting"),
  );
  try {
    await api.waitForCompletedTask(uids, { timeout, monitor, all: true });
    progress.stop("completed");
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

export type RunInfo = ReplyOf<"run_info">;

export function runSummary(r: RunInfo): string {
  return (
    `run_uid: ${inline(r.run_uid)}\n` +
    `${r.num_tasks} tasks: ${r.num_done} done, ${r.num_failed} failed, ${r.num_computing} computing, ${r.num_waiting} waiting (${r.percent_done}%)`
  );
}

/** Poll run_info until every task has ended, with a progress bar of the ended tasks. */
export async function waitRun(api: REManagerAPI, uid: string, timeout: number): Promise<RunInfo> {
  const first = await api.runInfo(uid);
  const progress = createProgress({ label: "run", total: first.num_tasks });
  const end = Date.now() + timeout * 1000;
  let r = first;
  try {
    for (;;) {
      const ended = r.num_done + r.num_failed;
      progress.update(
        ended,
        `${r.num_computing} computing, ${r.num_failed} failed, ${r.percent_done}%`,
      );
      if (ended === r.num_tasks) break;
      if (Date.now() > end)
        throw new WaitTimeoutError(`run ${uid} did not end within ${timeout} s`);
      await new Promise((res) => setTimeout(res, 100));
      r = await api.runInfo(uid);
    }
    progress.stop(r.num_failed > 0 ? `${r.num_failed} failed` : "completed");
    return r;
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

/**
 * A condition for "the operation we just asked for is over": the manager is
 * idle (or paused) and `done(status)` holds, or it is idle after having been
 * busy (the operation ended otherwise), or it never left idle within 2 s (the
 * operation did not start). The caller then checks the status it got.
 */
function settled(done: (s: Status) => boolean): (s: Status) => boolean {
  const t0 = Date.now();
  let sawBusy = false;
  return (s) => {
    const idle = s.manager_state === "idle" || s.manager_state === "paused";
    if (!idle) {
      sawBusy = true;
      return false;
    }
    return done(s) || sawBusy || Date.now() - t0 > 2000;
  };
}

export async function waitQueue(
  api: REManagerAPI,
  timeout: number,
  initial: Status,
): Promise<Status> {
  const total = Math.max(1, initial.items_in_queue);
  const monitor = new WaitMonitor();
  const progress = createProgress({ label: "queue", total });
  monitor.onProgress((p) => {
    const s = p.status;
    if (s)
      progress.update(
        Math.max(0, total - s.items_in_queue),
        `${s.manager_state}, ${s.items_in_queue} left`,
      );
  });
  try {
    const s = await api.waitForCondition(
      settled((st) => st.items_in_queue === 0 && st.running_item_uid === null),
      { timeout, monitor },
    );
    progress.stop(`${s.items_in_queue} left`);
    return s;
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

/** Until the environment exists (`want`) or not; an outcome error if it ended otherwise. */
export async function waitEnvironment(
  api: REManagerAPI,
  timeout: number,
  want: boolean,
): Promise<Status> {
  const s = await api.waitForCondition(
    settled((st) => st.worker_environment_exists === want),
    { timeout },
  );
  if (s.worker_environment_exists !== want) {
    throw new OutcomeError(
      want
        ? "the environment failed to open (see the manager's console)"
        : "the environment still exists",
    );
  }
  return s;
}
