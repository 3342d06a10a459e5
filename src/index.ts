/**
 * zqs: the public surface of the package root — the wire protocol (method
 * table, codecs, envelope and parameter checks, status and event shapes) and
 * the manager. Every export is named here; what the manager and its workers
 * say to each other (`src/protocol/ipc.ts`) is internal and stays out.
 * `test/foundation/exports.test.ts` holds this list against the built package.
 */

// The method table.
export {
  METHOD_NAMES,
  failureExtras,
  isMethodName,
  methods,
  paramsSchema,
  supportedParams,
} from "./protocol/methods.js";
export type {
  Area,
  LockKind,
  MethodDef,
  MethodName,
  Methods,
  ParamsIn,
  ParamsOut,
  ReplyOf,
} from "./protocol/methods.js";

// Encodings.
export { DecodeError, ENCODINGS, decode, detectEncoding, encode } from "./protocol/codec.js";
export type { Encoding, WireEncoding } from "./protocol/codec.js";

// Requests: envelope and parameter checks, failure replies.
export {
  ALLOWED_TOP_LEVEL_KEYS,
  checkEnvelope,
  checkParams,
  lockFailure,
  methodFailure,
  paramIssueMessage,
  unknownMethodReply,
} from "./protocol/request.js";
export type { EnvelopeResult, ParamsResult, Reply } from "./protocol/request.js";

// Shapes: status, items, locks, tasks.
export {
  CANCEL_OUTCOMES,
  MANAGER_STATES,
  RE_STATES,
  STATUS_KEYS,
  TASK_STATES,
  TASK_STATUSES,
  WORKER_ENVIRONMENT_STATES,
  itemSchema,
  lockInfoSchema,
  queueModeSchema,
  statusSchema,
  taskInfoSchema,
  taskResultSchema,
} from "./protocol/schemas.js";
export type {
  Item,
  LockInfo,
  ManagerState,
  QueueMode,
  Status,
  TaskInfo,
  TaskState,
  TaskStatus,
  WorkerEnvironmentState,
} from "./protocol/schemas.js";

// The info socket's topics and payloads.
export {
  TOPIC_CONSOLE,
  TOPIC_INFO,
  TOPIC_TASK,
  consolePayloadSchema,
  infoPayloadSchema,
} from "./protocol/info.js";
export type { ConsolePayload, InfoPayload } from "./protocol/info.js";

// Python-style reprs, as the messages quote values.
export {
  isPlainObject,
  pyClass,
  pyNameOrList,
  pyRepr,
  pyTuple,
  pyTypeName,
} from "./protocol/pyrepr.js";

// The manager.
export { Manager } from "./manager/daemon.js";
export { OPTION_SPECS, defaultOptions, resolveOptions } from "./manager/options.js";
export type { ManagerOptions } from "./manager/options.js";
export { createLogger } from "./manager/log.js";
export { VERSION } from "./version.js";
