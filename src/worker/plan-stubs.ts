/**
 * Messages a plan yields to the worker's run engine (the bluesky idea: a plan
 * describes, the engine acts). `const v = yield read(det)` gets the reading
 * back. Every yield, with or without a message, is a checkpoint.
 */

export type PlanMessage =
  | { cmd: "open_run"; md?: Record<string, unknown> }
  | { cmd: "close_run"; exitStatus?: string }
  | { cmd: "set"; device: unknown; value: unknown }
  | { cmd: "read"; device: unknown }
  | { cmd: "trigger_and_read"; devices: unknown[] }
  | { cmd: "sleep"; seconds: number }
  | { cmd: "checkpoint" };

/** Open a run (a Bluesky "run"): it gets a run uid and a scan_id. */
export const openRun = (md: Record<string, unknown> = {}): PlanMessage => ({ cmd: "open_run", md });
export const closeRun = (exitStatus = "success"): PlanMessage => ({ cmd: "close_run", exitStatus });
/** Move a movable device to a value (simulated motors move at once). */
export const mv = (device: unknown, value: unknown): PlanMessage => ({ cmd: "set", device, value });
/** Read one readable device; the reading is sent back into the plan. */
export const read = (device: unknown): PlanMessage => ({ cmd: "read", device });
/** Trigger and read several devices; returns name → reading. */
export const triggerAndRead = (devices: unknown[]): PlanMessage => ({
  cmd: "trigger_and_read",
  devices,
});
/** Wait; pause and stop take effect while waiting. */
export const sleep = (seconds: number): PlanMessage => ({ cmd: "sleep", seconds });
export const checkpoint = (): PlanMessage => ({ cmd: "checkpoint" });
