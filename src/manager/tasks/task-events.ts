/**
 * What the task registry tells its subscribers, and a QS_Task event as it is
 * published: `{event, task_uid, name, state, attempt, ...}`, naming the worker
 * (its host and pid) that runs the task and the parent of a subtask.
 */
import { TASK_EVENTS, type TaskEventName } from "../../protocol/task-events.js";
import type { TaskRegistryContext } from "./context.js";
import type { FinalState, TaskRecord } from "./task-record.js";

/** The QS_Task event of each final state. */
export const EVENT_OF_FINAL: Record<FinalState, TaskEventName> = {
  completed: TASK_EVENTS.succeeded,
  failed: TASK_EVENTS.failed,
  cancelled: TASK_EVENTS.revoked,
  timed_out: TASK_EVENTS.timeout,
  expired: TASK_EVENTS.expired,
};

export interface TaskRegistryEvents {
  task: [Record<string, unknown>];
  final: [TaskRecord];
  /** A running task was asked to stop (cancel, timeout): it will end in `stopping.state`. */
  stopping: [TaskRecord];
  /** Results are about to be deleted after their retention (written right after). */
  purging: [];
}

/** The QS_Task event `event` of the record, with `extra` fields. */
export function qsTaskEvent(
  rec: TaskRecord,
  event: TaskEventName,
  workerInfo: TaskRegistryContext["workerInfo"],
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const where = rec.worker !== null ? workerInfo?.(rec.worker) : undefined;
  return {
    event,
    task_uid: rec.uid,
    name: rec.name,
    state: rec.state,
    attempt: rec.attempts,
    ...(where ? { worker: rec.worker, hostname: where.hostname, pid: where.pid } : {}),
    // A subtask's events name its parent.
    ...(rec.parent !== null ? { parent: rec.parent } : {}),
    ...extra,
  };
}

/** Who waits for a task's final state to be visible (TaskRegistry.whenFinal). */
export class FinalWaiters {
  private readonly waiters = new Map<string, (() => void)[]>();

  /** Resolves once `uid`'s final state is visible (`ended`). */
  wait(uid: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.waiters.get(uid);
      if (list) list.push(resolve);
      else this.waiters.set(uid, [resolve]);
    });
  }

  /** `uid`'s final state is visible: its waiters go on. */
  ended(uid: string): void {
    const waiters = this.waiters.get(uid);
    if (waiters) {
      this.waiters.delete(uid);
      for (const w of waiters) w();
    }
  }
}
