/**
 * Who owns a store: the record a manager leaves where its store lives (the
 * LMDB directory's owner.json, the Redis lease key), how to tell whether the
 * manager it names still runs, and the error a second manager gets.
 *
 * A record is checked only on the host that wrote it: its process is gone
 * when it does not run (`processRunning`: a zombie, killed but not yet reaped
 * by its parent, does not run), when the machine has booted since (boot id),
 * or when the pid now belongs to a process started at another time (start
 * time in /proc/<pid>/stat, so that a reused pid does not pass for the owner).
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { StoreError } from "./types.js";

export interface OwnerRecord {
  pid: number;
  host: string;
  /** When the manager took the store (ISO 8601, UTC). */
  since: string;
  /** Unique to this ownership: a record is compared by its token. */
  token: string;
  /** Linux: /proc/sys/kernel/random/boot_id when the record was written. */
  boot?: string;
  /** Linux: the process start time (clock ticks since boot, /proc/<pid>/stat field 22). */
  start?: string;
  /** The manager's id (one per process; a standby names the active manager by it). */
  id?: string;
  /** Where clients reach the manager's control socket (a standby tells its clients). */
  control_address?: string;
}

/** Who a manager is, for its owner record: its id and control address (a Redis store's lease). */
export interface ManagerIdentity {
  id: string;
  controlAddress: string;
}

/** Where and how to log what ownership does (taking over, waiting). */
export interface StoreLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** A store another manager owns; the message names it and what to do. */
export class StoreInUseError extends StoreError {
  override name = "StoreInUseError";
  constructor(
    message: string,
    readonly owner?: OwnerRecord,
  ) {
    super(message);
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Fields 3 on of /proc/<pid>/stat (Linux), or undefined when it cannot be read. */
function procStat(pid: number): string[] | undefined {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count after its end.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The start time of a process (Linux), or undefined when it cannot be read. */
export function processStart(pid: number): string | undefined {
  return procStat(pid)?.[19]; // field 22 of the whole line
}

/**
 * Whether the process `pid` runs. On Linux its state in /proc/<pid>/stat: a
 * zombie (Z: it has exited, its parent has not reaped it yet) or a dead one (X)
 * does not run, though `kill(pid, 0)` still finds it. Elsewhere (or without
 * /proc) `kill(pid, 0)`: it runs unless there is no such process (EPERM: a
 * process of another user has that pid; it exists).
 */
export function processRunning(pid: number): boolean {
  const state = procStat(pid)?.[0];
  if (state !== undefined) return state !== "Z" && state !== "X";
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  return true;
}

const bootId = (): string | undefined => readTrimmed("/proc/sys/kernel/random/boot_id");

/** The record of this process taking a store now. */
export function ownerRecord(identity?: ManagerIdentity): OwnerRecord {
  const rec: OwnerRecord = {
    pid: process.pid,
    host: os.hostname(),
    since: new Date().toISOString(),
    token: randomUUID(),
    ...(identity ? { id: identity.id, control_address: identity.controlAddress } : {}),
  };
  const boot = bootId();
  const start = processStart(process.pid);
  if (boot !== undefined && start !== undefined) Object.assign(rec, { boot, start });
  return rec;
}

/** A record from its JSON text, or undefined when it is not one. */
export function parseOwner(text: string): OwnerRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return undefined;
  if (typeof r.host !== "string" || typeof r.since !== "string") return undefined;
  if (typeof r.token !== "string") return undefined;
  return r as unknown as OwnerRecord;
}

/**
 * "alive": the manager runs on this host; "gone": it was on this host and no
 * longer runs; "elsewhere": on another host, where it cannot be checked.
 */
export function ownerState(o: OwnerRecord): "alive" | "gone" | "elsewhere" {
  if (o.host !== os.hostname()) return "elsewhere";
  if (!processRunning(o.pid)) return "gone";
  if (o.boot !== undefined && o.start !== undefined) {
    const boot = bootId();
    if (boot !== undefined && boot !== o.boot) return "gone";
    const start = processStart(o.pid);
    if (start !== undefined && start !== o.start) return "gone";
  }
  return "alive";
}

/** "the manager pid 1234 on host h since 2026-12-02T03:00:00.000Z" */
export function describeOwner(o: OwnerRecord): string {
  const id =
    o.id === undefined
      ? ""
      : ` (id ${o.id}${o.control_address ? `, control ${o.control_address}` : ""})`;
  return `the manager pid ${o.pid} on host ${o.host} since ${o.since}${id}`;
}
