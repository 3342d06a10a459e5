/**
 * One worker on another host as the remote pool knows it: its record (what
 * its hello said, its connection, its liveness marks, the tasks assigned to
 * it), made or renewed from a hello, and shown as a row of `workers_list` or
 * the body of a worker event (QS_Task).
 */
import type { HelloMsg } from "../../protocol/worker-wire.js";
import type { ConsoleLimit } from "../console-limit.js";
import type { Visited } from "./liveness.js";
import type { TaskWorker } from "./pool.js";

export type WorkerState = "online" | "draining" | "lost" | "offline";

/** One row of `workers_list`. */
export interface WorkerRow {
  name: string;
  kind: "local" | "remote";
  hostname: string;
  pid: number | null;
  slots: number;
  busy: number;
  tags: string[];
  state: WorkerState;
  connected_at: string | null;
  last_seen: string | null;
  tasks_done: number;
  tasks_failed: number;
}

export interface RemoteWorker extends Visited {
  name: string;
  /** Its agent's instance token (hello). */
  instance: string;
  /** With CURVE: the public key bound to its name. */
  key: string | undefined;
  /** Routing id of its current connection (hex). */
  route: string;
  routeBuf: Buffer;
  hostname: string;
  pid: number;
  slots: number;
  tags: Set<string>;
  version: string;
  /** The version of the wire protocol it speaks (hello's `wire`). */
  wire: number;
  functions: Map<string, string>;
  state: WorkerState;
  connectedAt: number;
  lastSeen: number;
  /** When the manager last sent it anything (a heartbeat is due only after a silence). */
  lastSentAt: number;
  /** The loss time it was last told (its beats keep that pace until it hears another). */
  toldLossMs: number;
  lastHeartbeatEvent: number;
  tasksDone: number;
  tasksFailed: number;
  /** Tasks handed to it and not ended: uid → attempt. */
  assigned: Map<string, number>;
  view: TaskWorker;
  /** The bound on its console output (`--console-rate`). */
  console: ConsoleLimit;
}

/** A worker first heard of by its hello, on connection `key` (hex of `route`). */
export function newRemoteWorker(
  route: Buffer,
  key: string,
  m: HelloMsg,
  curveKey: string | undefined,
  now: number,
  console: ConsoleLimit,
): RemoteWorker {
  return {
    name: m.name,
    instance: m.instance,
    key: curveKey,
    route: key,
    routeBuf: route,
    hostname: m.hostname,
    pid: m.pid,
    slots: m.slots,
    tags: new Set(m.tags),
    version: m.version,
    wire: m.wire ?? 1,
    functions: new Map(Object.entries(m.functions)),
    state: "online",
    connectedAt: now,
    lastSeen: now,
    lastSentAt: now,
    toldLossMs: 0,
    visitAt: now,
    heapIndex: -1,
    lastHeartbeatEvent: now,
    tasksDone: 0,
    tasksFailed: 0,
    assigned: new Map(),
    view: { id: m.name, main: false, remote: true },
    console,
  };
}

/** What its hello says, on connection `key`, is what the worker is now (its view too). */
export function applyHello(
  w: RemoteWorker,
  route: Buffer,
  key: string,
  m: HelloMsg,
  curveKey: string | undefined,
  now: number,
): void {
  w.route = key;
  w.routeBuf = route;
  w.instance = m.instance;
  w.key ??= curveKey;
  w.hostname = m.hostname;
  w.pid = m.pid;
  w.slots = m.slots;
  w.tags = new Set(m.tags);
  w.version = m.version;
  w.wire = m.wire ?? 1;
  w.functions = new Map(Object.entries(m.functions));
  w.lastSeen = now;
  w.state = m.draining ? "draining" : "online";
  const fns = w.functions;
  const tags = w.tags;
  w.view = {
    id: w.name,
    main: false,
    remote: true,
    slots: w.slots,
    // Short tasks are dealt ahead to it: they wait in the agent (highest priority first).
    ahead: true,
    offers: (fn) => fns.has(fn),
    functions: new Set(fns.keys()),
    tags,
  };
}

/**
 * What a worker's row of `workers_list` and the body of its events both show
 * of it, its last sign of life in `time`'s format (the row's ISO text, the
 * event's epoch seconds).
 */
function shown<T>(w: RemoteWorker, time: (ms: number) => T) {
  return {
    hostname: w.hostname,
    pid: w.pid,
    slots: w.slots,
    busy: w.assigned.size,
    tags: [...w.tags],
    state: w.state,
    last_seen: time(w.lastSeen),
  };
}

const isoTime = (ms: number): string => new Date(ms).toISOString();
const epochSeconds = (ms: number): number => ms / 1000;

/** Its row of `workers_list`. */
export function workerRow(w: RemoteWorker): WorkerRow {
  return {
    name: w.name,
    kind: "remote",
    connected_at: isoTime(w.connectedAt),
    ...shown(w, isoTime),
    tasks_done: w.tasksDone,
    tasks_failed: w.tasksFailed,
  };
}

/** The body of a worker event (worker-online, worker-heartbeat, worker-offline). */
export function workerEvent(
  name: string,
  w: RemoteWorker,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return { event: name, worker: w.name, ...shown(w, epochSeconds), ...extra };
}

/** A worker's output as QS_Console shows it: each line after the worker's name. */
export function consoleLines(name: string, raw: string): string {
  const text = raw.endsWith("\n") ? raw : `${raw}\n`;
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => `[${name}] ${l}\n`)
    .join("");
}
