/**
 * Which tasks wait for which (a task's `after` list), for the lifecycle
 * (lifecycle.ts), which decides what follows when a parent ends: a task whose
 * parents all completed may run; one whose parent failed, was cancelled, timed
 * out or expired is cancelled, naming the parent (`dependencyCancel`).
 */
import { ENDED_AS } from "./lifecycle-context.js";
import type { FinalState, TaskRecord } from "./task-record.js";

export class TaskDependencies {
  /** parent uid → uids of the tasks that wait for it. */
  private readonly dependents = new Map<string, Set<string>>();

  /** `child` waits for `parent` to complete. */
  wait(child: string, parent: string): void {
    let set = this.dependents.get(parent);
    if (!set) this.dependents.set(parent, (set = new Set()));
    set.add(child);
  }

  /** `parent` ended: the tasks that waited for it (once). */
  take(parent: string): Set<string> | undefined {
    const children = this.dependents.get(parent);
    this.dependents.delete(parent);
    return children;
  }
}

/**
 * A task is cancelled because `parent` ended without success (`parentCause`:
 * why the parent was cancelled by its own parent, if it was): the cause it
 * keeps for its own dependents, and its message.
 */
export function dependencyCancel(
  parent: TaskRecord,
  parentCause: string | undefined,
): { cause: string; msg: string } {
  const state = parent.state as Exclude<FinalState, "completed">;
  let how = ENDED_AS[state] ?? parent.state;
  if (state === "cancelled" && parentCause) how += ` because ${parentCause}`;
  return {
    cause: `task '${parent.uid}' ${how}`,
    msg: `The task was cancelled: it depends on task '${parent.uid}', which ${how}`,
  };
}
