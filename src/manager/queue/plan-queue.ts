/**
 * The plan queue and the history, with the Python server's position rules.
 * The live copy is here; every change is computed on a copy, written to the
 * store, and only then made live, one change at a time (a mutex), so a reply
 * never says success for something the store does not hold.
 */
import { randomUUID } from "node:crypto";
import { RequestError } from "../errors.js";
import type { StatusState } from "../state.js";
import type { StoreOp, StoreSnapshot } from "../store/types.js";
import type {
  HistoryEdits,
  Pos,
  QueueDraft,
  QueueItem,
  QueueMode,
  QueueState,
  Where,
} from "./types.js";

export const DEFAULT_MODE: QueueMode = { loop: false, ignore_failures: false };

export class PlanQueue implements QueueState {
  items: QueueItem[] = [];
  history: QueueItem[] = [];
  running: QueueItem | undefined;
  mode: QueueMode = { ...DEFAULT_MODE };
  autostart = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly state: StatusState,
    private readonly persist: (ops: readonly StoreOp[]) => Promise<void>,
  ) {}

  /** Take the stored queue at start. */
  restore(s: StoreSnapshot): void {
    const d = s.docs;
    if (Array.isArray(d.queue)) this.items = d.queue as QueueItem[];
    this.history = s.history as QueueItem[];
    if (d.running_item && typeof d.running_item === "object") {
      this.running = d.running_item as QueueItem;
    }
    if (d.queue_mode && typeof d.queue_mode === "object") {
      this.mode = { ...DEFAULT_MODE, ...(d.queue_mode as Partial<QueueMode>) };
    }
    this.autostart = d.queue_autostart === true;
    this.publish(true, true);
  }

  /** The user and group of the plan running now, when `uid` is its item uid (its subtasks run as them). */
  ownerOfRunning(uid: string): { user: string; group: string } | undefined {
    const r = this.running;
    if (r?.item_uid !== uid) return undefined;
    const { user, user_group } = r;
    return typeof user === "string" && typeof user_group === "string"
      ? { user, group: user_group }
      : undefined;
  }

  /** Where an item stands, by uid, while the queue knows it (a schedule's fires show it). */
  outcomeOf(uid: string): string | undefined {
    if (this.running?.item_uid === uid) return "running";
    if (this.items.some((i) => i.item_uid === uid)) return "queued";
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i] as { item_uid?: unknown; result?: { exit_status?: unknown } };
      if (h.item_uid === uid) {
        return typeof h.result?.exit_status === "string" ? h.result.exit_status : "completed";
      }
    }
    return undefined;
  }

  /**
   * Run one change: `fn` edits a draft and may add history operations; the
   * store gets the queue documents that changed, then the live copy is replaced.
   */
  change<T>(fn: (draft: QueueDraft, history: HistoryOps) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const draft: QueueDraft = {
        items: [...this.items],
        running: this.running,
        mode: { ...this.mode },
        autostart: this.autostart,
      };
      const hist = new HistoryOps(this.history);
      const out = fn(draft, hist);
      const ops: StoreOp[] = [];
      const itemsChanged = !sameList(draft.items, this.items);
      const queueChanged = itemsChanged || draft.running !== this.running;
      if (itemsChanged) ops.push({ op: "set", key: "queue", value: draft.items });
      if (draft.running !== this.running) {
        ops.push(
          draft.running
            ? { op: "set", key: "running_item", value: draft.running }
            : { op: "delete", key: "running_item" },
        );
      }
      if (
        draft.mode.loop !== this.mode.loop ||
        draft.mode.ignore_failures !== this.mode.ignore_failures
      ) {
        ops.push({ op: "set", key: "queue_mode", value: draft.mode });
      }
      if (draft.autostart !== this.autostart) {
        ops.push({ op: "set", key: "queue_autostart", value: draft.autostart });
      }
      ops.push(...hist.ops);
      try {
        await this.persist(ops);
      } catch (err) {
        throw new RequestError(
          `The change could not be saved: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      this.items = draft.items;
      this.running = draft.running;
      this.mode = draft.mode;
      this.autostart = draft.autostart;
      this.history = hist.result;
      this.publish(queueChanged, hist.ops.length > 0);
      return out;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private publish(queue: boolean, history: boolean): void {
    this.state.set({
      items_in_queue: this.items.length,
      items_in_history: this.history.length,
      running_item_uid: this.running ? this.running.item_uid : null,
      plan_queue_mode: { ...this.mode },
      queue_autostart_enabled: this.autostart,
    });
    if (queue) this.state.bump("plan_queue_uid");
    if (history) this.state.bump("plan_history_uid");
  }
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** History changes of one queue change: the store operations and the resulting list. */
export class HistoryOps implements HistoryEdits {
  readonly ops: StoreOp[] = [];
  result: QueueItem[];
  constructor(current: QueueItem[]) {
    this.result = current;
  }
  push(item: QueueItem): void {
    this.result = [...this.result, item];
    this.ops.push({ op: "history_push", item });
  }
  /** Keep the newest `keep` items. */
  trim(keep: number): void {
    const k = Math.max(0, keep);
    if (k >= this.result.length) return;
    this.result = k === 0 ? [] : this.result.slice(this.result.length - k);
    this.ops.push({ op: "history_trim", keep: k });
  }
}

// ---- positions (the Python server's rules) ---------------------------------------------

export function newUid(): string {
  return randomUUID();
}

export function indexOfUid(items: readonly QueueItem[], uid: string): number {
  return items.findIndex((i) => i.item_uid === uid);
}

export function notInQueue(uid: string): RequestError {
  return new RequestError(`Item with UID '${uid}' is not in the queue.`);
}

/** The index an item is inserted at. */
export function insertIndex(items: readonly QueueItem[], where: Where): number {
  const { pos, before_uid, after_uid } = where;
  const n = [pos, before_uid, after_uid].filter((x) => x !== undefined).length;
  if (n > 1) {
    throw new RequestError(
      "Ambiguous parameters: plan position and UID is specified (only one of 'pos', 'before_uid' and 'after_uid' may be given)",
    );
  }
  if (before_uid !== undefined || after_uid !== undefined) {
    const uid = (before_uid ?? after_uid) as string;
    const i = indexOfUid(items, uid);
    if (i < 0) throw notInQueue(uid);
    return before_uid !== undefined ? i : i + 1;
  }
  const p = pos ?? "back";
  if (p === "back") return items.length;
  if (p === "front") return 0;
  if (p >= items.length) return items.length;
  if (p >= 0) return p;
  return Math.max(0, items.length + p);
}

/** The index of an existing item given by position or uid (default: the last). */
export function existingIndex(
  items: readonly QueueItem[],
  pos: Pos | undefined,
  uid: string | undefined,
): number {
  if (pos !== undefined && uid !== undefined) {
    throw new RequestError("Ambiguous parameters: both position and uid is specified");
  }
  if (uid !== undefined) {
    const i = indexOfUid(items, uid);
    if (i < 0) throw notInQueue(uid);
    return i;
  }
  const p = pos ?? "back";
  const i = p === "back" ? items.length - 1 : p === "front" ? 0 : p < 0 ? items.length + p : p;
  if (items.length === 0 || i < 0 || i >= items.length) {
    throw new RequestError(
      `Index ${pyPos(p)} is out of range (the queue has ${items.length} items)`,
    );
  }
  return i;
}

function pyPos(p: Pos): string {
  return typeof p === "number" ? String(p) : `'${p}'`;
}
