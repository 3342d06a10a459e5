/** Tasks that outlive a manager, as the remote pool tells the tasks area of them. */
import type { RemoteIdentity } from "./types.js";

/**
 * What the remote pool tells the tasks area about tasks that outlive a
 * manager (tasks/lifecycle.ts, registry.ts): which worker it deals each task
 * to (its start mark), and a hello's claim of running tasks (`running`),
 * answered with the tasks that worker may take back and their attempts.
 */
export interface RemoteTaskMarks {
  dealt(worker: RemoteIdentity, uid: string, attempt: number): void;
  /** `quiet`: a claim ignored is not logged (the caller says what it drops). */
  claim(
    worker: RemoteIdentity,
    uids: readonly string[],
    quiet?: boolean,
  ): { uid: string; attempt: number }[];
}
