/**
 * The workers area's types that the tasks area names too (it may import
 * them: see .dependency-cruiser.cjs): a worker on another host as the tasks
 * that outlive a manager name it.
 */

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
