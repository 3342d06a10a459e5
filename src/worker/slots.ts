/**
 * The worker's slots: function tasks run at once up to its slots
 * (ZQS_WORKER_SLOTS, set in a pool); those dealt ahead beyond them wait here,
 * highest priority first (dealing order among equals), and start the moment a
 * slot frees. Foreground tasks never wait. A task that awaits subtasks lends
 * its slot meanwhile (the manager lends it in its count too), so a parent
 * waiting for its children never keeps them waiting.
 */
import type { ExecuteFunctionMsg } from "../protocol/ipc.js";
import { now, type OutputBytes, type Send } from "./report.js";

/** What subtasks need of the slots: a parent lends its slot while it awaits, and takes it back. */
export interface SlotLending {
  /** `parent` awaits one more subtask: its slot is lent at the first. False if it holds none. */
  lend(parent: string): boolean;
  /** A subtask `parent` awaited settled: at the last, its slot is taken back. */
  reclaim(parent: string): void;
}

export interface SlotsOptions {
  /** Tasks run at once (Infinity: no limit). */
  slots: number;
  send: Send;
  /** Runs a task; settles when it has ended (and reported its end). */
  run: (m: ExecuteFunctionMsg) => Promise<void>;
  outputBytes: OutputBytes;
}

export class Slots implements SlotLending {
  /** Tasks holding a slot now (a lent slot is not held). */
  private taken = 0;
  private readonly waiting: ExecuteFunctionMsg[] = [];
  /** The tasks started here (those whose slot is lent included). */
  private readonly counted = new Set<string>();
  /** Started tasks whose slot is lent while they await subtasks: how many they await. */
  private readonly awaitingChildren = new Map<string, number>();

  constructor(private readonly opts: SlotsOptions) {}

  /** Slots taken now. */
  get busy(): number {
    return this.taken;
  }

  /** The uids of the tasks waiting for a slot, in the order they will start. */
  get waitingIds(): string[] {
    return this.waiting.map((w) => w.id);
  }

  /** A task dealt to this worker: it starts now, or waits for a slot (a background task). */
  admit(m: ExecuteFunctionMsg): void {
    if (m.background && this.taken >= this.opts.slots) {
      const p = m.priority ?? 0;
      let i = this.waiting.length;
      while (i > 0 && ((this.waiting[i - 1] as ExecuteFunctionMsg).priority ?? 0) < p) i--;
      this.waiting.splice(i, 0, m);
      return;
    }
    this.start(m);
  }

  lend(parent: string): boolean {
    if (!this.counted.has(parent)) return false;
    const n = (this.awaitingChildren.get(parent) ?? 0) + 1;
    this.awaitingChildren.set(parent, n);
    if (n === 1) {
      this.taken--;
      this.startWaiting();
    }
    return true;
  }

  /** Taken back even when every slot is in use meanwhile (over the count a while). */
  reclaim(parent: string): void {
    const n = this.awaitingChildren.get(parent);
    if (n === undefined) return;
    if (n > 1) {
      this.awaitingChildren.set(parent, n - 1);
      return;
    }
    this.awaitingChildren.delete(parent);
    this.taken++;
  }

  /**
   * A cancel of a task still waiting for a slot: it leaves the queue unrun,
   * answered by a cancelled `task_done`. False if it is not waiting here.
   */
  cancelWaiting(id: string, reason: string): boolean {
    const i = this.waiting.findIndex((w) => w.id === id);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    const t = now();
    this.opts.send({
      type: "task_done",
      id,
      success: false,
      msg: `The task was cancelled before it started: ${reason}`,
      traceback: "",
      return_value: null,
      time_start: t,
      time_stop: t,
      cancelled: true,
      out: this.opts.outputBytes(),
    });
    return true;
  }

  /** The worker closes: the waiting tasks are dropped (the manager has given them up). */
  dropWaiting(): void {
    this.waiting.length = 0;
  }

  private start(m: ExecuteFunctionMsg): void {
    this.taken++;
    this.counted.add(m.id);
    void this.opts.run(m).finally(() => {
      this.counted.delete(m.id);
      // A task that ends while its slot is lent gave it up already.
      if (!this.awaitingChildren.delete(m.id)) this.taken--;
      this.startWaiting();
    });
  }

  private startWaiting(): void {
    while (this.taken < this.opts.slots && this.waiting.length > 0)
      this.start(this.waiting.shift() as ExecuteFunctionMsg);
  }
}
