/**
 * A run as the run registry (runs.ts) keeps it, its counts, and what the
 * store holds of it: its definition (written at create and restart) and its
 * outcome string (written as its tasks end), checked when read back.
 */
import type { StoreOp } from "../store/types.js";
import type { FunctionCall } from "./task-record.js";

export type Outcome = "done" | "failed" | undefined;

export interface Run {
  uid: string;
  name: string;
  user: string;
  userGroup: string;
  createdAt: number;
  /** Tasks handed out at once, at most (Infinity: as many as the workers take). */
  concurrency: number;
  /** Only workers with all these tags take its tasks. */
  tags: string[];
  /** The call of each index. */
  calls: FunctionCall[];
  /** The current task of each index. */
  uids: string[];
  outcome: Outcome[];
  /** Released and not ended, by index. */
  inFlight: boolean[];
  inFlightCount: number;
  /** Indexes waiting to be released, in order (from `head`). */
  queue: number[];
  head: number;
  deleted: boolean;
}

/** A run as run_create asks for it. */
export interface NewRun {
  name: string;
  calls: FunctionCall[];
  /** Tasks handed out at once, at most (undefined: no limit). */
  concurrency: number | undefined;
  tags?: string[] | undefined;
  user: string;
  userGroup: string;
  /** Its tasks are scheduled until then (epoch ms). */
  startAt?: number | undefined;
}

export interface RunCounts {
  run_uid: string;
  num_tasks: number;
  num_waiting: number;
  num_computing: number;
  num_done: number;
  num_failed: number;
  percent_done: number;
}

/** The stored definition of a run (store op run_put). */
export interface RunDefinition {
  name: string;
  user: string;
  userGroup: string;
  createdAt: number;
  /** null: no limit. */
  concurrency: number | null;
  /** worker_tags (absent: none). */
  tags?: string[];
  /** The call of every index, when they are all the same (a `count` run)... */
  call?: FunctionCall;
  /** ...or the call of each index. */
  calls?: FunctionCall[];
  uids: string[];
}

/** A run with nothing ended, released or queued yet (one state per call). */
export function newRun(
  d: Pick<
    Run,
    "uid" | "name" | "user" | "userGroup" | "createdAt" | "concurrency" | "calls" | "uids"
  > &
    Partial<Pick<Run, "tags">>,
): Run {
  const n = d.calls.length;
  return {
    tags: [],
    ...d,
    outcome: new Array<Outcome>(n).fill(undefined),
    inFlight: new Array<boolean>(n).fill(false),
    inFlightCount: 0,
    queue: [],
    head: 0,
    deleted: false,
  };
}

/** The store op writing the run's definition (at create and restart). */
export function runPutOp(run: Run): StoreOp {
  const first = run.calls[0];
  const same = first !== undefined && run.calls.every((c) => c === first);
  const def: RunDefinition = {
    name: run.name,
    user: run.user,
    userGroup: run.userGroup,
    createdAt: run.createdAt,
    concurrency: Number.isFinite(run.concurrency) ? run.concurrency : null,
    ...(run.tags.length > 0 ? { tags: run.tags } : {}),
    ...(same ? { call: first } : { calls: run.calls }),
    uids: run.uids,
  };
  return { op: "run_put", uid: run.uid, run: def };
}

/** The outcome string of a run: "d" done, "f" failed, "-" not ended, by index. */
export function outcomes(run: Run): string {
  let s = "";
  for (const o of run.outcome) s += o === "done" ? "d" : o === "failed" ? "f" : "-";
  return s;
}

function isCall(v: unknown): v is FunctionCall {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Partial<FunctionCall>;
  return (
    typeof c.name === "string" &&
    Array.isArray(c.args) &&
    typeof c.kwargs === "object" &&
    c.kwargs !== null &&
    !Array.isArray(c.kwargs)
  );
}

/** The stored definition, checked; or what is wrong with it. */
export function checkDefinition(v: unknown): RunDefinition | string {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not an object";
  const d = v as Partial<RunDefinition>;
  for (const k of ["name", "user", "userGroup"] as const) {
    if (typeof d[k] !== "string") return `'${k}' is not a string`;
  }
  if (typeof d.createdAt !== "number") return "'createdAt' is not a number";
  if (d.concurrency !== null && (typeof d.concurrency !== "number" || !(d.concurrency > 0))) {
    return "'concurrency' is not a positive number or null";
  }
  if (!Array.isArray(d.uids) || !d.uids.every((u) => typeof u === "string" && u !== "")) {
    return "'uids' is not a list of task uids";
  }
  if (d.calls !== undefined) {
    if (!Array.isArray(d.calls) || d.calls.length !== d.uids.length || !d.calls.every(isCall)) {
      return "'calls' is not one call per task";
    }
  } else if (!isCall(d.call)) return "neither 'call' nor 'calls' is given";
  return d as RunDefinition;
}
