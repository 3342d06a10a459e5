/**
 * The plan queue's types, and what the queue's handlers and executor use of
 * it (PlanQueue, plan-queue.ts), as interfaces.
 */
import type { Item } from "../../protocol/index.js";

export type QueueItem = Item & { item_uid: string };
export type Pos = number | "front" | "back";
export interface QueueMode {
  loop: boolean;
  ignore_failures: boolean;
}

/** Where an item goes: a position, or before/after an item. */
export interface Where {
  pos?: Pos | undefined;
  before_uid?: string | undefined;
  after_uid?: string | undefined;
}

/** The state a change works on (a copy of the live one). */
export interface QueueDraft {
  items: QueueItem[];
  running: QueueItem | undefined;
  mode: QueueMode;
  autostart: boolean;
}

/** The history changes of one queue change. */
export interface HistoryEdits {
  push(item: QueueItem): void;
  /** Keep the newest `keep` items. */
  trim(keep: number): void;
  /** The history as it will be after the change. */
  readonly result: QueueItem[];
}

/** The live queue, and the one way to change it (computed on a draft, durable, then live). */
export interface QueueState {
  readonly items: QueueItem[];
  readonly history: QueueItem[];
  readonly running: QueueItem | undefined;
  readonly mode: QueueMode;
  readonly autostart: boolean;
  change<T>(fn: (draft: QueueDraft, history: HistoryEdits) => T): Promise<T>;
}
