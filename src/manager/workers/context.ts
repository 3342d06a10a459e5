/** What the workers area (the pools, workers_list) uses: nothing else of the manager. */
import type { ManagerToWorker } from "../../protocol/ipc.js";
import type { TaskRecord } from "../tasks/task-record.js";
import type { TaskMessage, TaskWorker } from "./pool.js";
import type { WorkerRow } from "./remote-worker.js";

/** The worker processes of this host, as the environment controller keeps them. */
export interface LocalEnvironment {
  /** Changes whenever `taskWorkers()` may answer otherwise. */
  readonly taskWorkersVersion: number;
  /** The main worker's id, while there is one. */
  readonly workerId: string | undefined;
  /** The workers that may take tasks now. */
  taskWorkers(): TaskWorker[];
  /** The pid of a worker process, while it is alive. */
  pidOf(id: string): number | undefined;
  /** Send to this worker (the main one when it is not found). */
  sendTo(workerId: string | null | undefined, msg: ManagerToWorker): boolean;
  /** Send to this worker only (false when it is gone). */
  sendToOnly(workerId: string, msg: ManagerToWorker): boolean;
  /** End a worker the hard way and start another. */
  replace(why: string, workerId?: string | null): void;
  on(event: "task-message", listener: (id: string, m: TaskMessage) => void): unknown;
  on(event: "pool-worker-lost", listener: (id: string, msg: string) => void): unknown;
  on(event: "pool-worker-joined" | "ready", listener: () => void): unknown;
  on(event: "worker-gone", listener: (reopening: boolean, why: string) => void): unknown;
}

/** What `workers_list` uses. */
export interface WorkerHandlersContext {
  /** Every local worker process alive (main first). */
  env: { localWorkers(): { id: string; pid: number | undefined }[] };
  /** The tasks running now, and each task's end (the local workers' counts). */
  tasks: {
    activeRecords(): TaskRecord[];
    readonly events: { on(event: "final", listener: (r: TaskRecord) => void): unknown };
  };
  /** The rows of the workers on other hosts (when the socket is on). */
  remote: { rows(): WorkerRow[] } | undefined;
  /** Background slots of one local worker process (Infinity: every task). */
  localSlots: number;
}
