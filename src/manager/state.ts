/**
 * The manager's status: the 27 keys of the Python server, change markers, and
 * the time of the last change. Every change makes a new `status_uid`, drops the
 * cached reply bytes and tells listeners (the info publisher).
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Status, WireEncoding } from "../protocol/index.js";
import { encode } from "../protocol/index.js";
import { VERSION } from "../version.js";

/** Local time as ISO 8601 without a zone, with microseconds (the server's `time`). */
export function localIsoTime(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`
  );
}

export type Marker =
  | "run_list_uid"
  | "plan_queue_uid"
  | "plan_history_uid"
  | "devices_existing_uid"
  | "plans_existing_uid"
  | "devices_allowed_uid"
  | "plans_allowed_uid"
  | "task_results_uid"
  | "lock_info_uid";

type Mutable = Omit<Status, "msg" | "time" | "status_uid" | Marker>;

/** The fields anyone may set; `manager_state` is the activity owner's (activity.ts). */
export type StatusFields = Omit<Mutable, "manager_state">;

/** How long a status snapshot (and its `time`) is reused when nothing changes, in ms. */
const SNAPSHOT_MS = 100;

export class StatusState extends EventEmitter<{ change: [Status] }> {
  private fields: Mutable = {
    items_in_queue: 0,
    items_in_history: 0,
    running_item_uid: null,
    manager_state: "idle",
    queue_stop_pending: false,
    queue_autostart_enabled: false,
    worker_environment_exists: false,
    worker_environment_state: "closed",
    worker_background_tasks: 0,
    re_state: null,
    ip_kernel_state: null,
    ip_kernel_captured: null,
    pause_pending: false,
    plan_queue_mode: { loop: false, ignore_failures: false },
    lock: { environment: false, queue: false },
  };
  /** A marker changed since it was last read is undefined: its new uid is made when read. */
  private markers: Record<Marker, string | undefined> = {
    run_list_uid: randomUUID(),
    plan_queue_uid: randomUUID(),
    plan_history_uid: randomUUID(),
    devices_existing_uid: randomUUID(),
    plans_existing_uid: randomUUID(),
    devices_allowed_uid: randomUUID(),
    plans_allowed_uid: randomUUID(),
    task_results_uid: randomUUID(),
    lock_info_uid: randomUUID(),
  };
  /** Made when read after a change (a burst of changes makes one uid). */
  private statusUid: string | undefined = randomUUID();
  private snapshot: Status | undefined;
  /** When the snapshot was made: its `time` is renewed after SNAPSHOT_MS even with no change. */
  private snapshotAt = 0;
  private readonly bytes = new Map<WireEncoding, Buffer>();
  private pending = false;
  /** Keys after the Python server's 27 (a manager on a shared store: its role); none by default. */
  private extras: (() => Record<string, unknown>) | undefined;

  get<K extends keyof Mutable>(key: K): Mutable[K] {
    return this.fields[key];
  }

  marker(name: Marker): string {
    return (this.markers[name] ??= randomUUID());
  }

  /** Change fields; a real change makes a new status. */
  set(patch: Partial<StatusFields>): void {
    this.apply(patch);
  }

  /** Only for the activity owner (activity.ts): what the manager is doing, and what goes with it. */
  setManagerState(state: Status["manager_state"], also: Partial<StatusFields>): void {
    this.apply({ ...also, manager_state: state });
  }

  private apply(patch: Partial<Mutable>): void {
    let changed = false;
    for (const [k, v] of Object.entries(patch) as [keyof Mutable, unknown][]) {
      const cur = this.fields[k];
      if (cur === v) continue;
      if (typeof v === "object" && v !== null && JSON.stringify(cur) === JSON.stringify(v))
        continue;
      (this.fields as Record<string, unknown>)[k] = v;
      changed = true;
    }
    if (changed) this.changed();
  }

  /**
   * Keys the status carries after the Python server's 27, read at each new
   * snapshot (call `extrasChanged` when they change).
   */
  setExtras(extras: () => Record<string, unknown>): void {
    this.extras = extras;
    this.changed();
  }

  /** The extras changed: a new status. */
  extrasChanged(): void {
    this.changed();
  }

  /** Give change markers new uids (their lists changed). */
  bump(...names: Marker[]): void {
    for (const n of names) this.markers[n] = undefined;
    if (names.length > 0) this.changed();
  }

  private changed(): void {
    this.statusUid = undefined;
    this.snapshot = undefined;
    this.bytes.clear();
    // Several changes in one turn of the event loop publish one status (none
    // is built when no one listens: the info socket is off).
    if (!this.pending && this.listenerCount("change") > 0) {
      this.pending = true;
      setImmediate(() => {
        this.pending = false;
        this.emit("change", this.status());
      });
    }
  }

  /** The status map, keys in the Python server's order. */
  status(): Status {
    const now = Date.now();
    if (this.snapshot && now - this.snapshotAt < SNAPSHOT_MS) return this.snapshot;
    this.snapshotAt = now;
    this.bytes.clear();
    const f = this.fields;
    const m = (name: Marker): string => this.marker(name);
    this.snapshot = {
      msg: `RE Manager v${VERSION} (zqs)`,
      time: localIsoTime(new Date(now)),
      items_in_queue: f.items_in_queue,
      items_in_history: f.items_in_history,
      running_item_uid: f.running_item_uid,
      manager_state: f.manager_state,
      queue_stop_pending: f.queue_stop_pending,
      queue_autostart_enabled: f.queue_autostart_enabled,
      worker_environment_exists: f.worker_environment_exists,
      worker_environment_state: f.worker_environment_state,
      worker_background_tasks: f.worker_background_tasks,
      re_state: f.re_state,
      ip_kernel_state: f.ip_kernel_state,
      ip_kernel_captured: f.ip_kernel_captured,
      pause_pending: f.pause_pending,
      status_uid: (this.statusUid ??= randomUUID()),
      run_list_uid: m("run_list_uid"),
      plan_queue_uid: m("plan_queue_uid"),
      plan_history_uid: m("plan_history_uid"),
      devices_existing_uid: m("devices_existing_uid"),
      plans_existing_uid: m("plans_existing_uid"),
      devices_allowed_uid: m("devices_allowed_uid"),
      plans_allowed_uid: m("plans_allowed_uid"),
      plan_queue_mode: { ...f.plan_queue_mode },
      task_results_uid: m("task_results_uid"),
      lock_info_uid: m("lock_info_uid"),
      lock: { ...f.lock },
      ...this.extras?.(),
    };
    return this.snapshot;
  }

  /** The encoded status reply, cached until the next change (or the time is renewed). */
  statusBytes(enc: WireEncoding): Buffer {
    this.status(); // renews the snapshot (and drops stale bytes) when it is old
    let b = this.bytes.get(enc);
    if (!b) {
      b = encode(this.status(), enc);
      this.bytes.set(enc, b);
    }
    return b;
  }
}
