/**
 * What the task registry tells its subscribers (TaskEvents), and a QS_Task
 * event as it is published: `{event, task_uid, name, state, attempt, ...}`,
 * naming the worker (its host and pid) that runs the task and the parent of a
 * subtask.
 */
import { EventEmitter } from "node:events";
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

/**
 * The registry's events: `task`, every task event (QS_Task: `{event,
 * task_uid, ...}`), built only when someone takes them (the info socket is off
 * by default); `final`, every record that reaches a final state (after it is
 * recorded); `stopping`, `purging` (TaskRegistryEvents).
 */
export class TaskEvents extends EventEmitter<TaskRegistryEvents> {
  constructor(private readonly workerInfo: TaskRegistryContext["workerInfo"]) {
    super();
  }

  /** Someone takes task events: only then are they built. */
  get listened(): boolean {
    return this.listenerCount("task") > 0;
  }

  /** The task event `event` of the record, with `extra` fields (built only when listened). */
  task(rec: TaskRecord, event: TaskEventName, extra: Record<string, unknown> = {}): void {
    if (!this.listened) return;
    this.emit("task", qsTaskEvent(rec, event, this.workerInfo, extra));
  }

  /** The task was accepted (task-sent). */
  sent(rec: TaskRecord): void {
    if (!this.listened) return;
    this.task(rec, "task-sent", {
      background: rec.background,
      after: rec.after,
      priority: rec.priority,
      ...(rec.notBefore !== undefined ? { not_before: rec.notBefore / 1000 } : {}),
    });
  }

  /** Its final state `state` became visible at `now` (`msg`: why it did not complete). */
  ended(rec: TaskRecord, state: FinalState, now: number, msg: string): void {
    if (!this.listened) return;
    const extra: Record<string, unknown> = {
      runtime: rec.startedAt !== undefined ? Math.max(0, now - rec.startedAt) / 1000 : null,
    };
    if (state !== "completed") extra.msg = msg;
    this.task(rec, EVENT_OF_FINAL[state], extra);
  }
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
