/** Tasks that outlive a manager, as the remote pool tells the tasks area of them. */
import type { RemoteIdentity } from "./types.js";

/**
 * What the remote pool tells the tasks area about tasks that outlive a
 * manager (tasks/lifecycle.ts, registry.ts): which worker it deals each task
 * to (their start marks, one call a deal), a hello's claim of running tasks (`running`),
 * answered with the tasks that worker may take back and their attempts, and
 * whether a task has ended (a copy of its end comes after a restart or takeover).
 */
export interface RemoteTaskMarks {
  /** The tasks of one deal to `worker` (uid and attempt each). */
  dealt(worker: RemoteIdentity, tasks: readonly { id: string; attempt: number }[]): void;
  /** Whether this attempt of the task has ended: an end of it sent again (after a restart or takeover) is a copy. */
  ended(uid: string, attempt: number | undefined): boolean;
  /** `quiet`: a claim ignored is not logged (the caller says what it drops). */
  claim(
    worker: RemoteIdentity,
    uids: readonly string[],
    quiet?: boolean,
  ): { uid: string; attempt: number }[];
}
