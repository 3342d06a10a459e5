/**
 * The method table: the one source of truth for the wire protocol. Every
 * method the manager serves is declared here once, with
 *  - its parameters (zod schemas; defaults live here),
 *  - its reply schema (the client's types come from it),
 *  - the lock that guards it, the prefix of its error messages, and the
 *    "empty" data keys its failure replies carry (the vectors show them).
 * The manager validates and dispatches with it, the client builds requests
 * and types replies with it, and the docs list methods from it.
 *
 * One rule holds for every method: an optional parameter sent as `null` is
 * the same as leaving it out (see `nullMeansAbsent`).
 */
import { z } from "zod";
import {
  itemSchema,
  lockInfoSchema,
  mapSchema,
  statusSchema,
  taskInfoSchema,
  taskListEntrySchema,
  taskResultSchema,
  TASK_STATES,
  TASK_STATUSES,
  CANCEL_OUTCOMES,
} from "./schemas.js";
import { isPlainObject, pyRepr, pyTypeName } from "./pyrepr.js";
import { rateProblem } from "./rate-limit.js";

export type LockKind = "none" | "environment" | "queue";
export type Area =
  | "status"
  | "environment"
  | "tasks"
  | "queue"
  | "history"
  | "control"
  | "locks"
  | "permissions"
  | "runs"
  | "workers"
  | "schedules"
  | "manager";

type FailureExtras = Record<string, unknown>;

export type HttpVerb = "GET" | "POST" | "DELETE";
/** `"GET /api/status"`: a verb, one space, a path under /api/. */
export type HttpRoute = `${HttpVerb} /api/${string}`;

export interface MethodDef<
  P extends z.ZodRawShape = z.ZodRawShape,
  R extends z.ZodType = z.ZodType,
> {
  /** One line for docs and `--help`. */
  summary: string;
  /**
   * Its route on the HTTP gateway (`zqs http`), verb and path: the Python
   * client's HTTP flavour uses these for the Python server's methods; the zqs
   * extensions follow the same style. The parameters travel as a JSON body,
   * on GET too.
   */
  http: HttpRoute;
  area: Area;
  params: P;
  reply: R;
  /** Which lock refuses this method without the lock key. */
  lock: LockKind;
  /** Prefix of error messages (`"Error: "`, `"Failed to add an item: "`, ...). */
  errorPrefix: string;
  /** Prefix of a lock refusal where it differs from `errorPrefix` (the Python server's wording). */
  lockErrorPrefix?: string;
  /**
   * Data keys with "empty" values that every failure reply carries. A function
   * receives the request's params when they were readable (validation errors)
   * and `undefined` for envelope, unsupported-parameter and lock errors.
   */
  failure: FailureExtras | ((params: Record<string, unknown> | undefined) => FailureExtras);
  /** `status` and `ping` ignore params entirely, even `null` or bogus keys. */
  ignoreParams?: boolean;
  /** A zqs extension, not a method of the Python server. */
  extension?: boolean;
  /** Its `user` parameter selects (a filter), not who asks: clients do not fill it in. */
  userIsFilter?: boolean;
  /**
   * It changes nothing: a client may send it again (to another manager after a
   * failover) without an idempotency key, and keeps its cached status.
   */
  readOnly?: boolean;
}

function method<P extends z.ZodRawShape, R extends z.ZodType>(
  def: Omit<MethodDef<P, R>, "lock" | "errorPrefix" | "failure"> &
    Partial<Pick<MethodDef<P, R>, "lock" | "errorPrefix" | "failure">>,
): MethodDef<P, R> {
  return { lock: "none", errorPrefix: "Error: ", failure: {}, ...def };
}

// ---- parameter helpers -------------------------------------------------------

const lockKey = z.string().optional();
/** Only workers with every one of these tags take the task (remote workers' --tags). */
const workerTags = z.array(z.string().min(1)).optional();
const workerRowSchema = z.object({
  name: z.string(),
  kind: z.enum(["local", "remote"]),
  hostname: z.string(),
  pid: z.number().int().nullable(),
  slots: z.number(),
  busy: z.number().int(),
  tags: z.array(z.string()),
  state: z.enum(["online", "draining", "lost", "offline"]),
  connected_at: z.string().nullable(),
  last_seen: z.string().nullable(),
  tasks_done: z.number().int(),
  tasks_failed: z.number().int(),
});
const userGroup = z.string().optional();
const user = z.string().optional();
const uid = z.string();
/** `pos`: an index (negative counts from the back) or "front"/"back". */
const pos = z.union([z.number().int(), z.enum(["front", "back"])]);
/** One task's uid (task_result, task_retry), refused in the Python server's words. */
const taskUid = z.string({
  error: (iss) =>
    iss.input === undefined
      ? "Required 'task_uid' parameter is missing in the API call."
      : `'task_uid' must be a string: type(task_uid)=<class '${pyTypeName(iss.input)}'>`,
});
const taskUidOneOrMany = z.union([z.string(), z.array(z.string())], {
  error: (iss) =>
    iss.input === undefined
      ? "Required 'task_uid' parameter is missing in the API call."
      : `'task_uid' must be a string or a list of strings: type(task_uid)=<class '${pyTypeName(iss.input)}'>`,
});

// ---- reply helpers -----------------------------------------------------------

/** The user and group a request runs as, as an item carries them. */
export interface AppliedRequester {
  user: string;
  user_group: string;
}

/**
 * An item as a refusal echoes it: a `user` or `user_group` the item itself
 * claims is replaced by the requester applied, or left out while none is
 * (who asks is the request's checked `user`/`user_group`, never the item's
 * claim). An item without such keys comes back as sent.
 */
export function echoedItem(item: unknown, applied?: AppliedRequester): unknown {
  if (!isPlainObject(item) || !(Object.hasOwn(item, "user") || Object.hasOwn(item, "user_group"))) {
    return item;
  }
  const { user: _user, user_group: _group, ...rest } = item;
  return applied ? { ...rest, ...applied } : rest;
}

const ok = z.object({ success: z.boolean(), msg: z.string() });
const withKeys = <S extends z.ZodRawShape>(shape: S) => ok.extend(shape);
const itemsList = z.array(itemSchema);
const nullableUid = z.string().nullable();
/** Cumulative counts per bucket bound, count and sum of seconds (the `metrics` method). */
const histogramSchema = z.object({
  buckets: z.array(z.number().int()),
  count: z.number().int(),
  sum: z.number(),
});
/** A time: seconds since the epoch, or an ISO 8601 text. */
const timeParam = z.union([
  z.number(),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), {
    error: (iss) =>
      `Parameter '${(iss.path ?? []).join(".")}' must be seconds since the epoch or an ISO 8601 time, got ${pyRepr(iss.input)}`,
  }),
]);
const stateCounts = z.record(z.string(), z.number().int());

/** `rate_limit`: at most N starts of the function per period (rate-limit.ts). */
const rateLimitParam = z
  .string()
  .superRefine((t, c) => {
    const why = rateProblem(t);
    if (why !== undefined) c.addIssue({ code: "custom", message: why });
  })
  .optional();

/** The lifecycle options of a function task (function_execute, and a schedule's function). */
const TASK_OPTIONS = {
  timeout: z.number().positive().optional(),
  max_retries: z.number().int().min(0).optional(),
  retry_backoff: z.number().min(0).optional(),
  expires: z.number().positive().optional(),
  priority: z.number().int().optional(),
  worker_tags: workerTags,
  rate_limit: rateLimitParam,
};

/** When a task may start (function_execute, run_create): one of them; bounded by --max-delay. */
const DELAY_OPTIONS = {
  delay: z.number().min(0).optional(),
  not_before: timeParam.optional(),
};

/** What a schedule makes at each fire: a function call with its task options, or a plan. */
export const scheduledFunctionSchema = z.strictObject({
  item_type: z.literal("function"),
  name: z.string().min(1),
  args: z.array(z.unknown()).optional(),
  kwargs: mapSchema.optional(),
  options: z
    .strictObject({ ...TASK_OPTIONS, run_in_background: z.boolean().optional() })
    .optional(),
});

/** The timing and task of a schedule (schedule_create; schedule_update changes any of them). */
const scheduleFields = {
  cron: z.string().min(1).optional(),
  tz: z.string().min(1).optional(),
  every: z.number().positive().optional(),
  start: timeParam.optional(),
  end: timeParam.optional(),
  limit: z.number().int().positive().optional(),
  task: mapSchema.optional(),
  name: z.string().optional(),
  note: z.string().optional(),
};
const MISFIRE = ["skip", "once", "all"] as const;
const scheduleUid = {
  schedule_uid: z.string({
    error: (iss) =>
      iss.input === undefined
        ? "Required 'schedule_uid' parameter is missing in the API call."
        : "'schedule_uid' must be a string",
  }),
};
const scheduleRow = z.record(z.string(), z.unknown());

// ---- the table ---------------------------------------------------------------

export const methods = {
  // status & configuration
  ping: method({
    summary: "Same as status (kept for compatibility).",
    http: "GET /api/ping",
    readOnly: true,
    area: "status",
    params: {},
    reply: statusSchema,
    ignoreParams: true,
  }),
  status: method({
    summary: "The manager's status map (27 keys; *_uid keys change when what they name changes).",
    http: "GET /api/status",
    readOnly: true,
    area: "status",
    params: {},
    reply: statusSchema,
    ignoreParams: true,
  }),
  metrics: method({
    summary:
      "Numbers for monitoring (/metrics): tasks by state, worker slots, request and store-write time histograms, schedules and their fires.",
    http: "GET /api/metrics",
    readOnly: true,
    area: "status",
    params: {},
    reply: withKeys({
      metrics: z.object({
        tasks_by_state: z.record(z.string(), z.number().int()),
        worker_slots: z.object({
          workers: z.number().int(),
          busy: z.number().int(),
          free: z.number().int().nullable(),
        }),
        buckets: z.array(z.number()),
        requests: z.record(z.string(), histogramSchema),
        store_writes: z.record(z.string(), histogramSchema),
        /** Submissions answered with an earlier task's uid (dedup_key), since the start. */
        deduplicated: z.number().int().optional(),
        schedules: z.object({
          active: z.number().int(),
          paused: z.number().int(),
          ended: z.number().int(),
          fires: z.number().int(),
          fires_failed: z.number().int(),
          missed: z.number().int(),
          misfires: z.number().int(),
        }),
        /** Tasks waiting because their function is at its rate limit. */
        rate_limited: z.number().int(),
        /** A manager on a shared store (--standby): its role, takeovers, and who holds the lease. */
        ha: z
          .object({
            role: z.enum(["active", "standby"]),
            takeovers: z.number().int(),
            step_downs: z.number().int(),
            lease_holder: z
              .object({
                id: z.string(),
                host: z.string(),
                pid: z.number().int(),
                control_address: z.string().nullable(),
              })
              .nullable(),
          })
          .optional(),
      }),
    }),
    failure: { metrics: {} },
    extension: true,
  }),
  config_get: method({
    summary: "Manager configuration visible to clients.",
    http: "GET /api/config/get",
    readOnly: true,
    area: "status",
    params: {},
    reply: withKeys({ config: z.record(z.string(), z.unknown()) }),
    failure: { config: {} },
  }),

  // plans, devices, permissions
  plans_allowed: method({
    summary: "Plans the user group may run.",
    http: "GET /api/plans/allowed",
    readOnly: true,
    area: "permissions",
    params: { user_group: userGroup },
    reply: withKeys({
      plans_allowed: z.record(z.string(), z.unknown()),
      plans_allowed_uid: nullableUid,
    }),
    errorPrefix: "",
    failure: { plans_allowed: {}, plans_allowed_uid: null },
  }),
  devices_allowed: method({
    summary: "Devices the user group may use.",
    http: "GET /api/devices/allowed",
    readOnly: true,
    area: "permissions",
    params: { user_group: userGroup },
    reply: withKeys({
      devices_allowed: z.record(z.string(), z.unknown()),
      devices_allowed_uid: nullableUid,
    }),
    errorPrefix: "",
    failure: { devices_allowed: {}, devices_allowed_uid: null },
  }),
  plans_existing: method({
    summary: "Every plan found in the environment's startup code.",
    http: "GET /api/plans/existing",
    readOnly: true,
    area: "permissions",
    params: {},
    reply: withKeys({
      plans_existing: z.record(z.string(), z.unknown()),
      plans_existing_uid: nullableUid,
    }),
    errorPrefix: "",
    failure: { plans_existing: {}, plans_existing_uid: null },
  }),
  devices_existing: method({
    summary: "Every device found in the environment's startup code.",
    http: "GET /api/devices/existing",
    readOnly: true,
    area: "permissions",
    params: {},
    reply: withKeys({
      devices_existing: z.record(z.string(), z.unknown()),
      devices_existing_uid: nullableUid,
    }),
    errorPrefix: "",
    failure: { devices_existing: {}, devices_existing_uid: null },
  }),
  permissions_reload: method({
    summary: "Reload the permissions file (and optionally the plan/device lists).",
    http: "POST /api/permissions/reload",
    area: "permissions",
    params: {
      restore_plans_devices: z.boolean().default(false),
      restore_permissions: z.boolean().default(true),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "queue",
  }),
  permissions_get: method({
    summary: "The user group permissions in force.",
    http: "GET /api/permissions/get",
    readOnly: true,
    area: "permissions",
    params: {},
    reply: withKeys({ user_group_permissions: z.record(z.string(), z.unknown()) }),
    failure: { user_group_permissions: {} },
  }),
  permissions_set: method({
    summary: "Replace the user group permissions.",
    http: "POST /api/permissions/set",
    area: "permissions",
    params: { user_group_permissions: mapSchema, lock_key: lockKey },
    reply: ok,
    lock: "queue",
  }),

  // queue
  queue_get: method({
    summary: "The plan queue and the running item.",
    http: "GET /api/queue/get",
    readOnly: true,
    area: "queue",
    params: {},
    reply: withKeys({
      items: itemsList,
      running_item: itemSchema,
      plan_queue_uid: z.string(),
    }),
    failure: { items: [], running_item: {}, plan_queue_uid: "" },
  }),
  queue_mode_set: method({
    summary: "Set queue mode options (loop, ignore_failures) or 'default'.",
    http: "POST /api/queue/mode/set",
    area: "queue",
    params: {
      mode: z.union([mapSchema, z.literal("default")]).optional(),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "queue",
    errorPrefix: "Failed to set queue mode: ",
  }),
  queue_item_add: method({
    summary: "Add an item (plan or instruction) to the queue.",
    http: "POST /api/queue/item/add",
    area: "queue",
    params: {
      item: itemSchema.optional(),
      pos: pos.optional(),
      before_uid: uid.optional(),
      after_uid: uid.optional(),
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({ qsize: z.number().int().nullable(), item: itemSchema.nullable() }),
    lock: "queue",
    errorPrefix: "Failed to add an item: ",
    failure: (p) => ({ qsize: null, item: p?.item ?? null }),
  }),
  queue_item_add_batch: method({
    summary: "Add several items at once: all or none, with a result per item.",
    http: "POST /api/queue/item/add/batch",
    area: "queue",
    params: {
      items: z.array(itemSchema).optional(),
      pos: pos.optional(),
      before_uid: uid.optional(),
      after_uid: uid.optional(),
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({
      qsize: z.number().int().nullable(),
      items: itemsList,
      results: z.array(ok),
    }),
    lock: "queue",
    errorPrefix: "Failed to add a batch of items: ",
    lockErrorPrefix: "Failed to add an item: ",
    failure: (p) => ({ qsize: null, items: p?.items ?? [], results: [] }),
  }),
  queue_item_update: method({
    summary: "Replace an item in the queue (replace=true gives it a new item_uid).",
    http: "POST /api/queue/item/update",
    area: "queue",
    params: {
      item: itemSchema.optional(),
      replace: z.boolean().optional(),
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({ qsize: z.number().int().nullable(), item: itemSchema.nullable() }),
    lock: "queue",
    errorPrefix: "Failed to update an item: ",
    lockErrorPrefix: "Failed to add an item: ",
    failure: (p) => ({ qsize: null, item: p?.item ?? null }),
  }),
  queue_item_get: method({
    summary: "One queue item, by position or uid (default: the last).",
    http: "GET /api/queue/item/get",
    readOnly: true,
    area: "queue",
    params: { pos: pos.optional(), uid: uid.optional() },
    reply: withKeys({ item: itemSchema }),
    errorPrefix: "Failed to get an item: ",
    failure: { item: {} },
  }),
  queue_item_remove: method({
    summary: "Remove one item, by position or uid (default: the last).",
    http: "POST /api/queue/item/remove",
    area: "queue",
    params: { pos: pos.optional(), uid: uid.optional(), lock_key: lockKey },
    reply: withKeys({ item: itemSchema, qsize: z.number().int().nullable() }),
    lock: "queue",
    errorPrefix: "Failed to remove an item: ",
    failure: { item: {}, qsize: null },
  }),
  queue_item_remove_batch: method({
    summary: "Remove several items by uid.",
    http: "POST /api/queue/item/remove/batch",
    area: "queue",
    params: {
      uids: z.array(z.string()).optional(),
      ignore_missing: z.boolean().default(true),
      lock_key: lockKey,
    },
    reply: withKeys({ items: itemsList, qsize: z.number().int().nullable() }),
    lock: "queue",
    errorPrefix: "Failed to remove a batch of items: ",
    failure: { items: [], qsize: null },
  }),
  queue_item_move: method({
    summary: "Move one item to a new position, or before/after another item.",
    http: "POST /api/queue/item/move",
    area: "queue",
    params: {
      pos: pos.optional(),
      uid: uid.optional(),
      pos_dest: pos.optional(),
      before_uid: uid.optional(),
      after_uid: uid.optional(),
      lock_key: lockKey,
    },
    reply: withKeys({ item: itemSchema, qsize: z.number().int().nullable() }),
    lock: "queue",
    errorPrefix: "Failed to move the item: ",
    failure: { item: {}, qsize: null },
  }),
  queue_item_move_batch: method({
    summary: "Move several items (in the given order, or queue order with reorder=true).",
    http: "POST /api/queue/item/move/batch",
    area: "queue",
    params: {
      uids: z.array(z.string()).optional(),
      pos_dest: z.enum(["front", "back"]).optional(),
      before_uid: uid.optional(),
      after_uid: uid.optional(),
      reorder: z.boolean().default(false),
      lock_key: lockKey,
    },
    reply: withKeys({ items: itemsList, qsize: z.number().int().nullable() }),
    lock: "queue",
    errorPrefix: "Failed to move the batch of items: ",
    failure: { items: [], qsize: null },
  }),
  queue_item_execute: method({
    summary: "Run one item at once, outside the queue.",
    http: "POST /api/queue/item/execute",
    area: "queue",
    params: { item: itemSchema.optional(), user_group: userGroup, user: user, lock_key: lockKey },
    reply: withKeys({ qsize: z.number().int().nullable(), item: itemSchema.nullable() }),
    lock: "environment",
    errorPrefix: "Failed to start execution of the item: ",
    failure: (p) => ({ qsize: null, item: p?.item ?? null }),
  }),
  queue_clear: method({
    summary: "Remove every item from the queue.",
    http: "POST /api/queue/clear",
    area: "queue",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "queue",
  }),
  queue_start: method({
    summary: "Start executing the queue.",
    http: "POST /api/queue/start",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
  }),
  queue_stop: method({
    summary: "Stop the queue after the running item.",
    http: "POST /api/queue/stop",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
  }),
  queue_stop_cancel: method({
    summary: "Cancel a pending queue_stop.",
    http: "POST /api/queue/stop/cancel",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
  }),
  queue_autostart: method({
    summary: "Start the queue whenever items wait (enable=true) or stop doing so.",
    http: "POST /api/queue/autostart",
    area: "control",
    params: {
      enable: z.boolean({
        error: (iss) =>
          iss.input === undefined
            ? "Required 'enable' parameter is missing in 'queue_autostart' API call."
            : "Parameter 'enable' must be a boolean",
      }),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "environment",
  }),

  // history
  history_get: method({
    summary: "The plan history.",
    http: "GET /api/history/get",
    readOnly: true,
    area: "history",
    params: {},
    reply: withKeys({ items: itemsList, plan_history_uid: z.string() }),
    failure: { items: [], plan_history_uid: "" },
  }),
  history_clear: method({
    summary: "Clear the history, keep its last `size` items, or remove one by item_uid.",
    http: "POST /api/history/clear",
    area: "history",
    params: {
      size: z
        .number({
          error: (iss) => `The 'size' parameter must be an integer: size=${pyRepr(iss.input)}`,
        })
        .int()
        .optional(),
      item_uid: uid.optional(),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "queue",
  }),

  // environment
  environment_open: method({
    summary: "Fork the worker and load the startup code (replies at once; watch status).",
    http: "POST /api/environment/open",
    area: "environment",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  environment_close: method({
    summary: "Ask the worker to finish and exit (replies at once).",
    http: "POST /api/environment/close",
    area: "environment",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  environment_destroy: method({
    summary: "Kill the worker, also when it hangs (replies at once).",
    http: "POST /api/environment/destroy",
    area: "environment",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  environment_update: method({
    summary: "Re-read the environment's plans and devices (a task).",
    http: "POST /api/environment/update",
    area: "environment",
    params: { run_in_background: z.boolean().default(false), lock_key: lockKey },
    reply: withKeys({ task_uid: nullableUid }),
    lock: "environment",
    failure: { task_uid: null },
  }),
  script_upload: method({
    summary: "Load a JavaScript/TypeScript module into the environment (a task).",
    http: "POST /api/script/upload",
    area: "environment",
    params: {
      script: z.string({
        error: (iss) =>
          iss.input === undefined
            ? "Required 'script' parameter is is missing in API call." // (sic) the Python server's words
            : "Parameter 'script' must be a string",
      }),
      update_lists: z.boolean().default(true),
      update_re: z.boolean().default(false),
      run_in_background: z.boolean().default(false),
      lock_key: lockKey,
    },
    reply: withKeys({ task_uid: nullableUid }),
    lock: "environment",
    failure: { task_uid: null },
  }),
  kernel_interrupt: method({
    summary: "Interrupt the IPython kernel (not used by zqs: always refused).",
    http: "POST /api/kernel/interrupt",
    area: "environment",
    params: {
      interrupt_task: z.boolean().default(false),
      interrupt_plan: z.boolean().default(false),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "environment",
    errorPrefix: "Failed to interrupt IPython kernel: ",
    lockErrorPrefix: "Error: ",
  }),

  // tasks
  function_execute: method({
    summary: "Run a function of the environment (foreground or background); returns task_uid.",
    http: "POST /api/function/execute",
    area: "tasks",
    params: {
      item: itemSchema.optional(),
      user_group: userGroup,
      user: user,
      run_in_background: z.boolean().default(false),
      lock_key: lockKey,
      ...TASK_OPTIONS,
      after: z.array(z.string()).optional(),
      ...DELAY_OPTIONS,
      /** Another submission with this key (same user and group) while this task lives, or within `dedup_ttl` s after its end, gets its uid. */
      dedup_key: z.string().min(1).optional(),
      dedup_ttl: z.number().min(0).optional(),
    },
    reply: withKeys({
      item: itemSchema.nullable(),
      task_uid: nullableUid,
      /** The task_uid is that of an earlier task with the same `dedup_key`: no new task was made. */
      deduplicated: z.boolean().optional(),
    }),
    lock: "environment",
    failure: (p) => ({ item: echoedItem(p?.item) ?? null, task_uid: null }),
  }),
  task_status: method({
    summary: "running / completed / not_found for one task_uid or a list.",
    http: "GET /api/task/status",
    readOnly: true,
    area: "tasks",
    params: { task_uid: taskUidOneOrMany },
    reply: withKeys({
      task_uid: z.union([z.string(), z.array(z.string())]).nullable(),
      status: z
        .union([z.enum(TASK_STATUSES), z.record(z.string(), z.enum(TASK_STATUSES))])
        .nullable(),
    }),
    failure: (p) => ({ task_uid: p?.task_uid ?? null, status: null }),
  }),
  task_result: method({
    summary: "Status and result of one task.",
    http: "GET /api/task/result",
    readOnly: true,
    area: "tasks",
    params: {
      task_uid: taskUid,
    },
    reply: withKeys({
      task_uid: z.string().nullable(),
      status: z.enum(TASK_STATUSES).nullable(),
      result: taskResultSchema.nullable(),
    }),
    failure: (p) => ({ task_uid: p?.task_uid ?? null, status: null, result: null }),
  }),
  task_info: method({
    summary: "Full lifecycle record(s): state, times, attempts, progress, outputs.",
    http: "GET /api/task/info",
    readOnly: true,
    area: "tasks",
    params: { task_uid: taskUidOneOrMany },
    reply: withKeys({
      task_uid: z.union([z.string(), z.array(z.string())]).nullable(),
      task_info: z.union([taskInfoSchema, z.record(z.string(), taskInfoSchema)]).nullable(),
    }),
    failure: (p) => ({ task_uid: p?.task_uid ?? null, task_info: null }),
    extension: true,
  }),
  tasks_list: method({
    summary: "Tasks the manager knows (waiting, running, ended), newest first, filtered, paged.",
    http: "GET /api/tasks/list",
    readOnly: true,
    area: "tasks",
    params: {
      state: z.union([z.enum(TASK_STATES), z.array(z.enum(TASK_STATES))]).optional(),
      name: z.string().optional(),
      user: z.string().optional(),
      run_uid: z.string().optional(),
      parent: z.string().optional(),
      worker: z.string().optional(),
      created_after: timeParam.optional(),
      created_before: timeParam.optional(),
      limit: z.number().int().min(1).max(1000).default(100),
      cursor: z.string().optional(),
    },
    reply: withKeys({ tasks: z.array(taskListEntrySchema), cursor: z.string().nullable() }),
    failure: { tasks: [], cursor: null },
    extension: true,
    userIsFilter: true,
  }),
  tasks_counts: method({
    summary: "How many tasks the manager knows in each state, overall and per function name.",
    http: "GET /api/tasks/counts",
    readOnly: true,
    area: "tasks",
    params: {},
    reply: withKeys({ counts: stateCounts, by_name: z.record(z.string(), stateCounts) }),
    failure: { counts: {}, by_name: {} },
    extension: true,
  }),
  task_retry: method({
    summary:
      "Run an ended task's call again (its function, arguments and options) as a new task whose task_info names the old one in `retry_of`.",
    http: "POST /api/task/retry",
    area: "tasks",
    params: {
      task_uid: taskUid,
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({ task_uid: nullableUid, retry_of: nullableUid }),
    lock: "environment",
    failure: (p) => ({ task_uid: null, retry_of: p?.task_uid ?? null }),
    extension: true,
  }),
  task_cancel: method({
    summary: "Cancel pending or running task(s).",
    http: "POST /api/task/cancel",
    area: "tasks",
    params: { task_uid: taskUidOneOrMany, lock_key: lockKey },
    reply: withKeys({
      task_uid: z.union([z.string(), z.array(z.string())]).nullable(),
      result: z
        .union([z.enum(CANCEL_OUTCOMES), z.record(z.string(), z.enum(CANCEL_OUTCOMES))])
        .nullable(),
    }),
    lock: "environment",
    failure: (p) => ({ task_uid: p?.task_uid ?? null, result: null }),
    extension: true,
  }),

  // plan control
  re_pause: method({
    summary: "Pause the running plan (deferred: next checkpoint; immediate: now).",
    http: "POST /api/re/pause",
    area: "control",
    params: {
      option: z
        .enum(["deferred", "immediate"], {
          error: (iss) =>
            `Option ${pyRepr(iss.input)} is not supported. Available options: ('deferred', 'immediate')`,
        })
        .default("deferred"),
      lock_key: lockKey,
    },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  re_resume: method({
    summary: "Resume a paused plan.",
    http: "POST /api/re/resume",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  re_stop: method({
    summary: "End a paused plan as stopped (a success; not re-queued).",
    http: "POST /api/re/stop",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  re_abort: method({
    summary: "End a paused plan as aborted (back to the front of the queue).",
    http: "POST /api/re/abort",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  re_halt: method({
    summary: "End a paused plan as halted (back to the front of the queue).",
    http: "POST /api/re/halt",
    area: "control",
    params: { lock_key: lockKey },
    reply: ok,
    lock: "environment",
    errorPrefix: "",
  }),
  re_runs: method({
    summary: "Runs opened by the running plan (active, open or closed).",
    http: "POST /api/re/runs",
    readOnly: true,
    area: "control",
    params: { option: z.enum(["active", "open", "closed"]).default("active") },
    reply: withKeys({
      run_list: z.array(z.record(z.string(), z.unknown())),
      run_list_uid: z.string(),
    }),
    failure: { run_list: [], run_list_uid: "" },
  }),
  re_metadata: method({
    summary: "Metadata of the environment's run engine.",
    http: "GET /api/re/metadata",
    readOnly: true,
    area: "control",
    params: {},
    reply: withKeys({ re_metadata: z.record(z.string(), z.unknown()) }),
    failure: { re_metadata: {} },
  }),

  // locks
  lock: method({
    summary: "Lock the environment and/or the queue with a key.",
    http: "POST /api/lock",
    area: "locks",
    params: {
      lock_key: z.string().optional(),
      environment: z.boolean().default(false),
      queue: z.boolean().default(false),
      user: user,
      note: z.string().nullable().optional(),
    },
    reply: withKeys({
      lock_info: z.union([lockInfoSchema, z.object({})]),
      lock_info_uid: nullableUid,
    }),
    failure: { lock_info: {}, lock_info_uid: null },
  }),
  lock_info: method({
    summary: "The lock state (and whether a given key is valid).",
    http: "GET /api/lock/info",
    readOnly: true,
    area: "locks",
    params: { lock_key: z.string().optional() },
    reply: withKeys({
      lock_info: z.union([lockInfoSchema, z.object({})]),
      lock_info_uid: nullableUid,
    }),
    failure: { lock_info: {}, lock_info_uid: null },
  }),
  unlock: method({
    summary: "Remove the lock (the lock key or the emergency key).",
    http: "POST /api/unlock",
    area: "locks",
    params: { lock_key: z.string().optional() },
    reply: withKeys({
      lock_info: z.union([lockInfoSchema, z.object({})]),
      lock_info_uid: nullableUid,
    }),
    failure: { lock_info: {}, lock_info_uid: null },
  }),

  // runs of many tasks (zqs)
  run_create: method({
    summary: "Create a run of numbered tasks of one function over the worker pool.",
    http: "POST /api/run/create",
    area: "runs",
    params: {
      function: itemSchema,
      count: z.number().int().positive().optional(),
      items: z.array(itemSchema).optional(),
      concurrency: z.number().int().positive().optional(),
      worker_tags: workerTags,
      rate_limit: rateLimitParam,
      ...DELAY_OPTIONS,
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({ run_uid: nullableUid, task_uids: z.array(z.string()) }),
    lock: "environment",
    failure: { run_uid: null, task_uids: [] },
    extension: true,
  }),
  run_info: method({
    summary: "Counts and progress of a run.",
    http: "GET /api/run/info",
    readOnly: true,
    area: "runs",
    params: { run_uid: z.string() },
    reply: withKeys({
      run_uid: nullableUid,
      num_tasks: z.number().int(),
      num_waiting: z.number().int(),
      num_computing: z.number().int(),
      num_done: z.number().int(),
      num_failed: z.number().int(),
      percent_done: z.number(),
      task_uids: z.array(z.string()),
    }),
    failure: (p) => ({
      run_uid: p?.run_uid ?? null,
      num_tasks: 0,
      num_waiting: 0,
      num_computing: 0,
      num_done: 0,
      num_failed: 0,
      percent_done: 0,
      task_uids: [],
    }),
    extension: true,
  }),
  run_restart: method({
    summary: "Re-queue a run's failed tasks (or all with everything=true).",
    http: "POST /api/run/restart",
    area: "runs",
    params: { run_uid: z.string(), everything: z.boolean().default(false), lock_key: lockKey },
    reply: withKeys({ run_uid: nullableUid, task_uids: z.array(z.string()) }),
    lock: "environment",
    failure: { run_uid: null, task_uids: [] },
    extension: true,
  }),
  run_delete: method({
    summary: "Delete a run (cancelling its unfinished tasks).",
    http: "POST /api/run/delete",
    area: "runs",
    params: { run_uid: z.string(), lock_key: lockKey },
    reply: ok,
    lock: "environment",
    extension: true,
  }),
  runs_list: method({
    summary: "All runs with their counts.",
    http: "GET /api/runs/list",
    readOnly: true,
    area: "runs",
    params: {},
    reply: withKeys({ runs: z.array(z.record(z.string(), z.unknown())) }),
    failure: { runs: [] },
    extension: true,
  }),

  // workers (zqs)
  workers_list: method({
    summary: "The workers: local processes and workers on other hosts (zqs worker).",
    area: "workers",
    http: "GET /api/workers/list",
    readOnly: true,
    params: {},
    reply: withKeys({ workers: z.array(workerRowSchema) }),
    failure: { workers: [] },
    extension: true,
  }),

  // schedules (zqs)
  schedule_create: method({
    summary:
      "Make a schedule: a cron pattern (5 or 6 fields, tz) or `every` seconds, and the task (a function or a plan) to make at each fire.",
    http: "POST /api/schedule/create",
    area: "schedules",
    params: {
      ...scheduleFields,
      misfire: z.enum(MISFIRE).default("once"),
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: withKeys({ schedule_uid: nullableUid }),
    lock: "environment",
    failure: { schedule_uid: null },
    extension: true,
  }),
  schedule_list: method({
    summary: "All schedules: state, next fire, number of fires.",
    http: "GET /api/schedule/list",
    readOnly: true,
    area: "schedules",
    params: {},
    reply: withKeys({ schedules: z.array(scheduleRow) }),
    failure: { schedules: [] },
    extension: true,
  }),
  schedule_get: method({
    summary:
      "One schedule: its next fire times and its last fires, with their task uids and outcomes.",
    http: "GET /api/schedule/get",
    readOnly: true,
    area: "schedules",
    params: scheduleUid,
    reply: withKeys({ schedule: scheduleRow }),
    failure: { schedule: {} },
    extension: true,
  }),
  schedule_pause: method({
    summary: "Pause a schedule (the slots that pass meanwhile are not fired).",
    http: "POST /api/schedule/pause",
    area: "schedules",
    params: { ...scheduleUid, lock_key: lockKey },
    reply: ok,
    lock: "environment",
    extension: true,
  }),
  schedule_resume: method({
    summary: "Resume a paused schedule from now on.",
    http: "POST /api/schedule/resume",
    area: "schedules",
    params: { ...scheduleUid, lock_key: lockKey },
    reply: ok,
    lock: "environment",
    extension: true,
  }),
  schedule_update: method({
    summary:
      "Change a schedule's timing, task, misfire policy, name or note (it fires by them from now on).",
    http: "POST /api/schedule/update",
    area: "schedules",
    params: {
      ...scheduleUid,
      ...scheduleFields,
      misfire: z.enum(MISFIRE).optional(),
      user_group: userGroup,
      user: user,
      lock_key: lockKey,
    },
    reply: ok,
    lock: "environment",
    extension: true,
  }),
  schedule_delete: method({
    summary: "Delete a schedule (tasks it made are left as they are).",
    http: "POST /api/schedule/delete",
    area: "schedules",
    params: { ...scheduleUid, lock_key: lockKey },
    reply: ok,
    lock: "environment",
    extension: true,
  }),
  schedule_trigger: method({
    summary: "Fire a schedule now, outside its times (not counted by its limit).",
    http: "POST /api/schedule/trigger",
    area: "schedules",
    params: { ...scheduleUid, lock_key: lockKey },
    reply: withKeys({ task_uid: nullableUid }),
    lock: "environment",
    failure: { task_uid: null },
    extension: true,
  }),

  // manager
  manager_stop: method({
    summary: "Stop the manager (safe_on: refuse while a plan runs; safe_off: stop anyway).",
    http: "POST /api/manager/stop",
    area: "manager",
    params: { option: z.string().default("safe_on") },
    reply: ok,
  }),
  manager_kill: method({
    summary: "Test hook of the Python server: kill the manager process (not honoured by zqs).",
    http: "POST /api/test/manager/kill",
    area: "manager",
    params: {},
    reply: ok,
  }),
  manager_test: method({
    summary: "Test hook of the Python server (not used by zqs: refused).",
    http: "POST /api/test/manager/test",
    area: "manager",
    params: { test_name: z.string().optional() },
    reply: ok,
  }),
} as const satisfies Record<string, MethodDef<z.ZodRawShape, z.ZodType>>;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export const METHOD_NAMES = Object.keys(methods) as MethodName[];

type ParamsShape<M extends MethodName> = Methods[M]["params"];
/** What a caller may send (defaults optional). */
export type ParamsIn<M extends MethodName> = z.input<z.ZodObject<ParamsShape<M>>>;
/** What a handler receives (defaults applied). */
export type ParamsOut<M extends MethodName> = z.output<z.ZodObject<ParamsShape<M>>>;
export type ReplyOf<M extends MethodName> = z.output<Methods[M]["reply"]>;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

const compiled = new Map<MethodName, z.ZodObject>();
/** The params object schema of a method (unknown keys are reported separately). */
export function paramsSchema(name: MethodName): z.ZodObject {
  let s = compiled.get(name);
  if (!s) {
    s = z.object(methods[name].params);
    compiled.set(name, s);
  }
  return s;
}

const nullAsAbsent = new Map<MethodName, ReadonlySet<string>>();
/**
 * The parameters of a method for which `null` means "not given": those whose
 * schema takes absence (optional, or with a default) but not `null` itself.
 * The Python server reads every optional parameter with
 * `request.get(name, default)`, so its clients send `null` for "not given"
 * (`lock_info` with `{"lock_key": null}`); checkParams drops such a `null`
 * before the lock check and validation, in every method alike.
 */
export function nullMeansAbsent(name: MethodName): ReadonlySet<string> {
  let s = nullAsAbsent.get(name);
  if (!s) {
    s = new Set(
      Object.entries(methods[name].params as Record<string, z.ZodType>)
        .filter(
          ([, schema]) => schema.safeParse(undefined).success && !schema.safeParse(null).success,
        )
        .map(([param]) => param),
    );
    nullAsAbsent.set(name, s);
  }
  return s;
}

/** Methods that change nothing (`readOnly` in the table). */
export function isReadOnly(name: MethodName): boolean {
  return methods[name].readOnly === true;
}

export function supportedParams(name: MethodName): string[] {
  return Object.keys(methods[name].params);
}

export function failureExtras(
  name: MethodName,
  params: Record<string, unknown> | undefined,
): FailureExtras {
  const f = methods[name].failure;
  return typeof f === "function" ? f(params) : { ...f };
}
