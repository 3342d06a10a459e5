/**
 * The registry's counts of its records, kept as they move (never by a scan):
 * the tasks waiting to run (pending or retrying), those not ended, and the
 * background tasks running (the status's `worker_background_tasks`).
 */
import type { TaskState } from "../../protocol/index.js";
import type { TaskRegistryContext } from "./context.js";
import type { TaskRecord } from "./task-record.js";

const isWaiting = (s: TaskState): boolean => s === "pending" || s === "retrying";

export class TaskCounts {
  private waitingNow = 0;
  private activeNow = 0;
  private background = 0;

  constructor(private readonly state: TaskRegistryContext["state"]) {}

  /** Tasks waiting to run (pending or retrying). */
  get waiting(): number {
    return this.waitingNow;
  }

  /** Tasks that have not ended (their final state is not visible yet). */
  get active(): number {
    return this.activeNow;
  }

  /** A record that has not ended joins (accepted, or found running at start). */
  added(rec: TaskRecord): void {
    this.activeNow++;
    this.moved(rec, undefined, rec.state);
  }

  /** The record goes from `prev` (undefined: it just joined) to `state`. */
  moved(rec: TaskRecord, prev: TaskState | undefined, state: TaskState): void {
    const was = prev !== undefined && isWaiting(prev);
    if (was !== isWaiting(state)) this.waitingNow += was ? -1 : 1;
    if (rec.background && (prev === "running") !== (state === "running")) {
      this.background += state === "running" ? 1 : -1;
      this.state.set({ worker_background_tasks: this.background });
    }
  }

  /** A record's final state became visible. */
  ended(): void {
    this.activeNow--;
  }
}
