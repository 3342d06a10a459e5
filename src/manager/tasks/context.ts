/**
 * What the tasks area (registry, scheduler, runs, subtasks, their handlers)
 * uses, each as an interface: nothing else of the manager, and no class of its
 * own, so that a unit test builds any of them from fakes. The lifecycle's
 * context is in lifecycle-context.ts.
 */
import type { TaskInfo, TaskStatus } from "../../protocol/index.js";
import type { ControlReplyMsg, PlanDoneMsg, ReRunsMsg, ReStateMsg } from "../../protocol/ipc.js";
import type { FunctionAccess } from "../access/types.js";
import type { Activity } from "../activity.js";
import type { StatusState } from "../state.js";
import type { StoreOp, StoreWrites } from "../store/types.js";
import type { SubtaskNotice, TaskMessage, TaskWorkerPool } from "../workers/pool.js";
import type { CancelOutcome, StartAt, TaskLinks, TaskOptions } from "./lifecycle-context.js";
import type { NewRun, Run, RunCounts } from "./run-record.js";
import type { DealJob, FunctionCall, RunPlace, TaskRecord, TaskStats } from "./task-record.js";
import type { AcceptedMark, TaskRecordWrites } from "./task-store.js";
import type { TaskResultView } from "./task-views.js";
import type { RateLimitOptions, RateLimitSetter, RateLimitsContext } from "./rate-limits.js";
import type { TimeLimits } from "./time-params.js";

/** What the registry needs: the status it keeps counts in, the end of a foreground task... */
export interface TaskRegistryContext {
  state: Pick<StatusState, "bump" | "set">;
  activity: Pick<Activity, "endIf">;
  /** The host and pid of a worker (QS_Task events name where a task runs). */
  workerInfo?: (worker: string) => { hostname: string; pid: number | null } | undefined;
  /** Where the records are stored (none: nothing is, and a final state is visible at once). */
  store?: TaskRecordWrites;
}

/** Where function tasks are accepted (TaskLifecycle.submit). */
export interface TaskSubmitter {
  /** `run`: the run it belongs to (`held`: until released); `links`: who asked, its parent. */
  submit(
    uid: string,
    call: FunctionCall,
    background: boolean,
    o: TaskOptions & StartAt,
    run: { place: RunPlace; held: boolean } | undefined,
    links: TaskLinks,
  ): void;
}

/** What the scheduler records of the tasks it deals. */
export interface DealerTasks {
  /** The task has not ended: its attempts so far. */
  active(uid: string): { attempts: number } | undefined;
  dispatched(uid: string, worker: string): void;
  /** Why a waiting task waits (null: clear it). */
  note(uid: string, message: string | null): void;
  mark(uid: string, name: string, at?: number): void;
}

/** What the scheduler uses of the pool. */
export type DealerPool = Pick<
  TaskWorkerPool,
  "slotsPerWorker" | "aheadPerWorker" | "workers" | "workersVersion" | "sendTasks"
>;

/** What the scheduler needs. */
export interface SchedulerContext {
  tasks: DealerTasks;
  pool: DealerPool;
  rateLimits?: RateLimitOptions;
  /** The rate limits' clock (tests give a fake one). */
  clock?: Pick<RateLimitsContext<DealJob>, "now" | "setTimer">;
}

/** What a run registry uses of the tasks area. */
export interface RunRegistryContext {
  /** The records of its tasks (their ends, the purge of results). */
  tasks: {
    get(uid: string): TaskRecord | undefined;
    restoreCutOff(listed: readonly { uid: string; accepted: AcceptedMark }[]): void;
    readonly events: {
      on(event: "final", listener: (r: TaskRecord) => void): unknown;
      on(event: "purging", listener: () => void): unknown;
    };
  };
  /** Where its tasks are submitted, released a few at a time, and cancelled. */
  lifecycle: TaskSubmitter & {
    release(uids: readonly string[]): void;
    cancel(uid: string): unknown;
  };
  /** Where the runs' outcome strings go (writes no reply waits for). */
  writeInBackground(ops: StoreOp[]): void;
}

/** The bounds of task trees (task-tree.ts), as the handlers and subtasks check them. */
export interface TreeLimits {
  /** Why `adding` more tasks would go beyond --max-live-tasks; undefined when they may. */
  liveRefusal(adding: number): string | undefined;
}

/** What the subtasks area uses. */
export interface SubtasksContext {
  tasks: {
    get(uid: string): TaskRecord | undefined;
    active(uid: string): TaskRecord | undefined;
    childrenOfTask(parent: string): string[];
    readonly events: {
      on(event: "final" | "stopping", listener: (r: TaskRecord) => void): unknown;
    };
  };
  lifecycle: TaskSubmitter & {
    cancel(uid: string): unknown;
    lendSlot(uid: string): void;
    reclaimSlot(uid: string): void;
    unknownDependencies(after: readonly string[]): string[];
  };
  /** Workers' subtask requests come as task messages; notify answers the worker that asked. */
  pool: {
    on(event: "task-message", listener: (worker: string, m: TaskMessage) => void): unknown;
    notify(workerId: string, msg: SubtaskNotice): void;
  };
  access: FunctionAccess;
  trees: {
    /** Take a subtask into its parent's tree (throws when a bound would be passed). */
    admit(child: string, parent: string, parentIsTask: boolean): void;
    leave(uid: string): void;
  };
  /** The user and group of the plan running now, when `uid` is its item uid. */
  planOwner(uid: string): { user: string; group: string } | undefined;
  /** The worker's messages about plans (a plan that was stopped stops its subtasks). */
  plans: {
    on(
      event: "plan-message",
      listener: (msg: ReStateMsg | ReRunsMsg | PlanDoneMsg | ControlReplyMsg) => void,
    ): unknown;
  };
}

/** What the task handlers (function_execute, task_*, tasks_list) use. */
export interface TaskHandlersContext {
  tasks: {
    status(uid: string): TaskStatus;
    result(uid: string): TaskResultView;
    info(uid: string, stats: TaskStats): TaskInfo;
    all(): Iterable<TaskRecord>;
    whenFinal(uid: string): Promise<void>;
    whenAccepted(uid: string): Promise<void>;
    mark(uid: string, name: string, at?: number): void;
    /** The task holding a dedup key of this user and group, if one does. */
    dedupHolder(user: string | null, group: string | null, key: string): string | undefined;
    get(uid: string): TaskRecord | undefined;
  };
  lifecycle: TaskSubmitter & {
    cancel(uid: string): { outcome: CancelOutcome; note?: string };
    stats(): TaskStats;
    unknownDependencies(after: readonly string[]): string[];
  };
  /** --max-live-tasks, checked before a task is accepted. */
  trees: TreeLimits;
  /** task_cancel stops a task's whole tree: how many of its subtasks were cancelled. */
  subtasks: { cancelDescendants(uid: string): number };
  activity: Pick<Activity, "requireEnvironmentOpen" | "requireIdle" | "begin">;
  access: FunctionAccess;
  /** A task's `rate_limit` becomes its function's. */
  rateLimits: RateLimitSetter;
  /** --max-delay, --max-dedup-ttl, --max-dedup-key. */
  limits: TimeLimits;
}

/** What the run handlers (run_*, runs_list) use. */
export interface RunHandlersContext {
  runs: {
    get(uid: string): Run | undefined;
    list(): Run[];
    create(o: NewRun): Run;
    /** The store op writing the run's definition. */
    putOp(run: Run): StoreOp;
    delete(run: Run): void;
    counts(run: Run): RunCounts;
    unfinished(run: Run): number;
    /** Run again the failed indexes (or all): the new task uids. */
    restart(run: Run, everything: boolean): string[];
  };
  activity: Pick<Activity, "requireEnvironmentOpen">;
  access: FunctionAccess;
  /** --max-live-tasks, checked before a run's tasks are accepted. */
  trees: TreeLimits;
  writer: StoreWrites;
  /** A run's `rate_limit` becomes its function's. */
  rateLimits: RateLimitSetter;
  /** --max-delay. */
  limits: Pick<TimeLimits, "maxDelay">;
}
