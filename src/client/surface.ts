/**
 * The client's method surface, generated from the protocol's method table:
 * the camelCase name of each wire method (the Python API's names), the one
 * parameter that may be given positionally, the change marker that lets a
 * list getter skip downloading, and the typed signatures (mapped types over
 * `ParamsIn<M>` / `ReplyOf<M>`). Both the async and the blocking client are
 * built from these tables; nothing here is written per method twice.
 */
import type { MethodName, Methods, ParamsIn, ReplyOf } from "../protocol/index.js";
import { isReadOnly, METHOD_NAMES } from "../protocol/index.js";
import type { Status } from "../protocol/index.js";

/** `config_get` → `configGet` (as a type). */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S;

/**
 * The client name of a wire method: camelCase, with the Python API's names for
 * the queue item methods (`queue_item_add` → `itemAdd`, `queue_item_move_batch`
 * → `itemMoveBatch`).
 */
export type ApiName<M extends MethodName = MethodName> = M extends `queue_item_${infer R}`
  ? `item${Capitalize<CamelCase<R>>}`
  : CamelCase<M>;

export function apiName<M extends MethodName>(method: M): ApiName<M> {
  const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const name = method.startsWith("queue_item_")
    ? camel(`item_${method.slice("queue_item_".length)}`)
    : camel(method);
  return name as ApiName<M>;
}

/** Wire method → client method name, for every method of the table. */
export const API_NAMES = Object.fromEntries(METHOD_NAMES.map((m) => [m, apiName(m)])) as {
  readonly [M in MethodName]: ApiName<M>;
};

export type ApiNames = typeof API_NAMES;

/**
 * The parameter a method takes as its first argument, as the Python API does
 * (`itemAdd(item, {pos})`, `taskStatus(uid)`, `queueAutostart(true)`...).
 * Every required parameter of the table is one of these.
 */
export const POSITIONAL = {
  queue_item_add: "item",
  queue_item_add_batch: "items",
  queue_item_update: "item",
  queue_item_execute: "item",
  queue_item_remove_batch: "uids",
  queue_item_move_batch: "uids",
  queue_mode_set: "mode",
  queue_autostart: "enable",
  function_execute: "item",
  task_status: "task_uid",
  task_result: "task_uid",
  task_info: "task_uid",
  task_cancel: "task_uid",
  task_retry: "task_uid",
  script_upload: "script",
  permissions_set: "user_group_permissions",
  re_pause: "option",
  re_runs: "option",
  lock: "lock_key",
  lock_info: "lock_key",
  unlock: "lock_key",
  run_create: "function",
  run_info: "run_uid",
  run_restart: "run_uid",
  run_delete: "run_uid",
  schedule_get: "schedule_uid",
  schedule_pause: "schedule_uid",
  schedule_resume: "schedule_uid",
  schedule_update: "schedule_uid",
  schedule_delete: "schedule_uid",
  schedule_trigger: "schedule_uid",
  manager_stop: "option",
} as const satisfies Partial<Record<MethodName, string>>;

/** Positional parameters that may be left out (`unlock()`, `rePause()`, `reRuns()`...). */
export const OPTIONAL_POSITIONAL = [
  "lock",
  "lock_info",
  "unlock",
  "re_pause",
  "re_runs",
  "manager_stop",
] as const satisfies readonly (keyof typeof POSITIONAL)[];

/** List getters: downloaded again only when this status marker moved (or with `reload`). */
export const CHANGE_MARKERS = {
  queue_get: "plan_queue_uid",
  history_get: "plan_history_uid",
  plans_allowed: "plans_allowed_uid",
  devices_allowed: "devices_allowed_uid",
  plans_existing: "plans_existing_uid",
  devices_existing: "devices_existing_uid",
  re_runs: "run_list_uid",
  lock_info: "lock_info_uid",
} as const satisfies Partial<Record<MethodName, keyof Status>>;

/** Methods that change nothing (`readOnly` in the method table): calling them keeps the cached status. */
export const READ_ONLY: ReadonlySet<MethodName> = new Set<MethodName>(
  METHOD_NAMES.filter((m) => isReadOnly(m)),
);

/** Per-call options (the last argument of every method). */
export interface CallOptions {
  /** Seconds to wait for this reply (default: the client's `timeoutRecv`). */
  timeout?: number;
  /** List getters and `status`: download again even if nothing changed. */
  reload?: boolean;
  /**
   * Sent as the request's `idempotency_key` (1..128 characters): the manager
   * applies a state-changing request with a key it has seen once. Default: a
   * random key when the client has several managers (option `idempotencyKeys`).
   */
  idempotencyKey?: string;
}

type Positional = typeof POSITIONAL;
type PosKey<M extends MethodName> = M extends keyof Positional ? Positional[M] : never;
type PosValue<M extends MethodName> = ParamsIn<M>[PosKey<M> & keyof ParamsIn<M>];
type Rest<M extends MethodName> = Omit<ParamsIn<M>, PosKey<M>>;
type OptionalPositional = (typeof OPTIONAL_POSITIONAL)[number];

/** The arguments of a client method, from its params schema. */
export type ApiArgs<M extends MethodName> = M extends OptionalPositional
  ? [value?: PosValue<M>, params?: Rest<M>, options?: CallOptions]
  : M extends keyof Positional
    ? [value: PosValue<M>, params?: Rest<M>, options?: CallOptions]
    : keyof Methods[M]["params"] extends never
      ? [options?: CallOptions]
      : [params?: ParamsIn<M>, options?: CallOptions];

/** One method of the async client. */
export type AsyncMethod<M extends MethodName> = (...args: ApiArgs<M>) => Promise<ReplyOf<M>>;
/** One method of the blocking client. */
export type SyncMethod<M extends MethodName> = (...args: ApiArgs<M>) => ReplyOf<M>;

/** Every protocol method as an async client method. */
export type ProtocolMethods = { [M in MethodName as ApiName<M>]: AsyncMethod<M> };
/** Every protocol method as a blocking client method. */
export type ProtocolMethodsSync = { [M in MethodName as ApiName<M>]: SyncMethod<M> };

export function hasParams(method: MethodName, shape: Record<string, unknown>): boolean {
  return method in POSITIONAL || Object.keys(shape).length > 0;
}
