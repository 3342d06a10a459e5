/**
 * The one owner of `manager_state`: what the manager is doing. Areas begin and
 * end activities by name and ask it whether the manager is idle and whether
 * the environment is open; no other module writes `manager_state`.
 *
 * The refusals keep the Python server's words, which differ by method: the
 * wording is data (BUSY, and the environment messages), the check is one.
 */
import type { ManagerState } from "../protocol/index.js";
import { RequestError } from "./errors.js";
import type { StatusFields, StatusState } from "./state.js";

/** What the manager may be doing besides nothing. */
export type ActivityName = Exclude<ManagerState, "idle" | "initializing">;

/** Status fields that change with an activity (worker_environment_state, re_state...). */
export type ActivityFields = Partial<StatusFields>;

/** The "requires idle" refusal of each method, given the current state. */
export const BUSY = {
  startTask: (s: ManagerState) =>
    `Failed to start the task: RE Manager must be in idle state. Current state: '${s}'`,
  openEnvironment: (s: ManagerState) =>
    `RE Manager is busy: the environment cannot be opened in state '${s}'`,
  closeEnvironment: (s: ManagerState) =>
    `RE Manager must be in idle state to close the environment. Current state: '${s}'`,
  stopSafely: (s: ManagerState) =>
    `Closing RE Manager with 'safe_on' option is not allowed while it is busy (manager state: '${s}'). Use 'safe_off' to stop it anyway.`,
  startQueue: (s: ManagerState) => `RE Manager is busy: current state is '${s}'`,
  executeNow: (s: ManagerState) => `RE Manager must be in idle state. Current state: '${s}'`,
} as const satisfies Record<string, (s: ManagerState) => string>;

/** The "environment is open" refusals (task and script methods; queue methods). */
export const NOT_OPEN = "RE Worker environment is not open";
export const DOES_NOT_EXIST = "RE Worker environment does not exist.";

export class Activity {
  constructor(
    private readonly state: StatusState,
    /** Whether the worker environment is open (asked, never cached). */
    private readonly environmentOpen: () => boolean,
  ) {}

  get current(): ManagerState {
    return this.state.get("manager_state");
  }

  get idle(): boolean {
    return this.current === "idle";
  }

  /** Refuse (with the method's wording, and reply extras) unless the manager is idle. */
  requireIdle(wording: (s: ManagerState) => string, extras?: Record<string, unknown>): void {
    const s = this.current;
    if (s !== "idle") throw new RequestError(wording(s), extras);
  }

  get environmentIsOpen(): boolean {
    return this.environmentOpen();
  }

  /** Refuse with `msg` (NOT_OPEN or DOES_NOT_EXIST) unless the environment is open. */
  requireEnvironmentOpen(msg: string, extras?: Record<string, unknown>, prefixed = true): void {
    if (!this.environmentOpen()) throw new RequestError(msg, extras, prefixed);
  }

  /** Begin an activity (also: the status fields that change with it). */
  begin(name: ActivityName, also: ActivityFields = {}): void {
    this.state.setManagerState(name, also);
  }

  /** Back to idle. */
  end(also: ActivityFields = {}): void {
    this.state.setManagerState("idle", also);
  }

  /** Back to idle if `name` is what the manager is doing (else change nothing). */
  endIf(name: ActivityName, also: ActivityFields = {}): void {
    if (this.current === name) this.end(also);
  }
}

/** The state of a standby manager (--standby), which serves nothing but ping and status. */
export const STANDBY = "standby" satisfies ManagerState;

/** Say in `state` that the manager is on standby (its status while it waits for the store). */
export function markStandby(state: StatusState): void {
  state.setManagerState(STANDBY, {});
}
