/** `zqs/worker`: what startup code imports. */
export {
  context,
  device,
  func,
  plan,
  setRunEngineMetadata,
  sleep,
  SubtaskError,
  type CallableMeta,
  type DeviceMeta,
  type ParameterKind,
  type ParameterMeta,
  type SubtaskOptions,
  type TaskContext,
  type TaskLogger,
} from "./api.js";
export * as stubs from "./plan-stubs.js";
export type { PlanMessage } from "./plan-stubs.js";
