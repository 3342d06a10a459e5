/**
 * The workers area's types that the tasks area names too (it may import
 * them: see .dependency-cruiser.cjs): a worker on another host as the tasks
 * that outlive a manager name it; and this host's name.
 */
import os from "node:os";

/** The local host name (a local worker's `hostname` in workers_list). */
export const LOCAL_HOSTNAME = os.hostname();

/**
 * A worker on another host: its name, its agent's instance, its CURVE key.
 * A start mark names the worker it was dealt to by these (tasks/task-store.ts),
 * and a hello's claim of running tasks is checked against them
 * (tasks/adoption.ts).
 */
export interface RemoteIdentity {
  name: string;
  instance: string;
  key: string | undefined;
}
