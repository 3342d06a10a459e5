/** What the tasks area (registry, scheduler, runs, their handlers) uses: nothing else of the manager. */
import type { AccessControl } from "../access/access.js";
import type { Activity } from "../activity.js";
import type { StatusState } from "../state.js";
import type { StoreWriter } from "../store/writer.js";
import type { TaskRegistry } from "./registry.js";
import type { RunRegistry } from "./runs.js";
import type { TaskLifecycle } from "./lifecycle.js";
import type { Subtasks } from "./subtasks.js";
import type { TaskTrees } from "./task-tree.js";
import type { RateLimitSetter } from "./rate-limits.js";
import type { TimeLimits } from "./time-params.js";

/** What the registry needs: the status it keeps counts in, and the end of a foreground task. */
export interface TaskRegistryContext {
  state: Pick<StatusState, "bump" | "set">;
  activity: Pick<Activity, "endIf">;
}

/** Who may call what (the requester checks). */
type Access = Pick<AccessControl, "hasGroup" | "functionAllowed">;

/** What the task handlers (function_execute, task_*) use. */
export interface TaskHandlersContext {
  tasks: Pick<
    TaskRegistry,
    | "status"
    | "result"
    | "info"
    | "all"
    | "whenFinal"
    | "whenAccepted"
    | "mark"
    | "dedupHolder"
    | "get"
  >;
  lifecycle: Pick<TaskLifecycle, "submit" | "cancel" | "stats" | "unknownDependencies">;
  /** --max-live-tasks, checked before a task is accepted. */
  trees: Pick<TaskTrees, "liveRefusal">;
  /** task_cancel stops a task's whole tree. */
  subtasks: Pick<Subtasks, "cancelDescendants">;
  activity: Pick<Activity, "requireEnvironmentOpen" | "requireIdle" | "begin">;
  access: Access;
  /** A task's `rate_limit` becomes its function's. */
  rateLimits: RateLimitSetter;
  /** --max-delay, --max-dedup-ttl, --max-dedup-key. */
  limits: TimeLimits;
}

/** What the run handlers (run_*, runs_list) use. */
export interface RunHandlersContext {
  runs: Pick<
    RunRegistry,
    "get" | "create" | "putOp" | "delete" | "counts" | "unfinished" | "restart" | "list"
  >;
  activity: Pick<Activity, "requireEnvironmentOpen">;
  access: Access;
  /** --max-live-tasks, checked before a run's tasks are accepted. */
  trees: Pick<TaskTrees, "liveRefusal">;
  writer: Pick<StoreWriter, "write">;
  /** A run's `rate_limit` becomes its function's. */
  rateLimits: RateLimitSetter;
  /** --max-delay. */
  limits: Pick<TimeLimits, "maxDelay">;
}
