/**
 * `zqs/client`: the typed client of a zqs (or bluesky-queueserver) manager.
 *
 *  - `REManagerAPI`: every call returns a Promise;
 *  - `REManagerAPISync`: the same calls, blocking (a worker thread does the I/O);
 *  - item builders `BItem`, `BPlan`, `BFunc`, `BInst`;
 *  - errors with a `code`: `RequestTimeoutError`, `RequestFailedError`,
 *    `RequestParameterError`, `WaitTimeoutError`, `WaitCancelError`...
 */
export { REManagerAPI } from "./api.js";
export type { TaskEventsOptions } from "./api.js";
export { REManagerAPISync, SyncMonitor } from "./sync.js";
export type { SyncWaitOptions, SyncTaskWaitOptions } from "./sync.js";
export { BItem, BPlan, BFunc, BInst, ITEM_TYPES } from "./items.js";
export type { ItemDict, ItemType } from "./items.js";
export {
  RequestError,
  RequestTimeoutError,
  RequestFailedError,
  RequestParameterError,
  ClientClosedError,
  WaitError,
  WaitTimeoutError,
  WaitCancelError,
} from "./errors.js";
export type { ErrorCode, WireReply, WireRequest } from "./errors.js";
export { WaitMonitor } from "./wait.js";
export type { WaitOptions, TaskWaitOptions, WaitProgress } from "./wait.js";
export { InfoMonitor } from "./info.js";
export type { ConsolePayload, InfoPayload, TaskEventPayload, WorkerEventPayload } from "./info.js";
export {
  DEFAULT_CONTROL_ADDR,
  DEFAULT_INFO_ADDR,
  DEFAULT_USER,
  DEFAULT_USER_GROUP,
  ENV_CONTROL_ADDR,
  ENV_INFO_ADDR,
  ENV_PUBLIC_KEY,
  resolveClientOptions,
} from "./options.js";
export type { ClientOptions, ResolvedOptions } from "./options.js";
export { IDEMPOTENCY_KEY_MAX } from "./managers.js";
export type { ManagerSwitch } from "./managers.js";
export { API_NAMES, POSITIONAL, CHANGE_MARKERS } from "./surface.js";
export type { ApiArgs, CallOptions, ProtocolMethods, ProtocolMethodsSync } from "./surface.js";
export { generateKeyPair, publicKeyFromPrivate } from "./keys.js";
export { z85Decode, z85Encode } from "../protocol/z85.js";
export type {
  MethodName,
  ParamsIn,
  ReplyOf,
  Status,
  TaskStatus,
  TaskInfo,
  LockInfo,
} from "../protocol/index.js";
