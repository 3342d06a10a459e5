/**
 * The role of a manager that shares a Redis store with others (--standby):
 * active (it holds the store's lease and serves) or standby (it waits for the
 * lease, answering only ping and status), who holds the lease, and how many
 * times this process took the store over. Status, metrics and the standby's
 * refusals read it here.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { ManagerIdentity, OwnerRecord } from "./store/owner.js";
import { STANDBY } from "./activity.js";

export type HaRole = "active" | "standby";

/** A manager as a standby names it (from the lease's owner record). */
export interface ManagerInfo {
  id: string;
  host: string;
  pid: number;
  control_address: string | null;
}

/** The address clients reach a bound control socket at: a wildcard host becomes this host's name. */
export function advertisedAddress(bind: string): string {
  return bind
    .replace(/^tcp:\/\/(\*|0\.0\.0\.0):/, `tcp://${os.hostname()}:`)
    .replace(/^tcp:\/\/\[::\]:/, `tcp://${os.hostname()}:`);
}

export function managerInfo(rec: OwnerRecord): ManagerInfo {
  return {
    id: rec.id ?? `pid ${rec.pid} on ${rec.host}`,
    host: rec.host,
    pid: rec.pid,
    control_address: rec.control_address ?? null,
  };
}

export class HaState {
  readonly identity: ManagerIdentity;
  role: HaRole = "standby";
  /** Who holds the lease (this manager when active); undefined: no one known. */
  holder: ManagerInfo | undefined;
  /** When the holder's lease expires unless renewed (epoch ms), as last seen by a standby. */
  holderUntil: number | undefined;
  /** Times this process took the store over from another manager. */
  takeovers = 0;
  /** Times this process stepped down (lost the store). */
  stepDowns = 0;
  /** When the role last changed (epoch ms) and why. */
  changedAt = Date.now();
  why = "started";

  constructor(controlAddr: string) {
    this.identity = { id: randomUUID(), controlAddress: advertisedAddress(controlAddr) };
  }

  /** This manager, as others name it. */
  get me(): ManagerInfo {
    return {
      id: this.identity.id,
      host: os.hostname(),
      pid: process.pid,
      control_address: this.identity.controlAddress,
    };
  }

  /** `fromAnother`: the store was taken from another manager (a failover). */
  setRole(role: HaRole, why: string, fromAnother = false): void {
    this.role = role;
    this.why = why;
    this.changedAt = Date.now();
    if (role === "active") {
      if (fromAnother) this.takeovers++;
      this.holder = this.me;
      this.holderUntil = undefined;
    } else {
      this.stepDowns++;
    }
  }

  /** The keys a status of a manager on a shared store carries besides the Python server's. */
  statusExtras(): { manager_role: HaRole; active_manager: ManagerInfo | null } {
    return { manager_role: this.role, active_manager: this.holder ?? null };
  }

  /** A standby's answer to everything but ping and status. */
  refusal(): Record<string, unknown> {
    const h = this.holder;
    const where = h
      ? `the active manager is ${h.id} at ${h.control_address ?? `pid ${h.pid} on ${h.host}`}`
      : "no active manager is known yet (the store's lease is free or being taken)";
    return {
      success: false,
      msg: `This manager is on standby; ${where}`,
      manager_state: STANDBY,
      active_manager: h ?? null,
    };
  }

  /** For the `metrics` method (and /metrics). */
  metrics(): {
    role: HaRole;
    takeovers: number;
    step_downs: number;
    lease_holder: ManagerInfo | null;
  } {
    return {
      role: this.role,
      takeovers: this.takeovers,
      step_downs: this.stepDowns,
      lease_holder: this.holder ?? null,
    };
  }
}
