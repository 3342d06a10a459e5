/**
 * The manager's acknowledgements of the task ends a remote worker sends (wire
 * 3): an agent keeps each end until acknowledged and sends it again after a
 * reconnect. Every end received on a known connection is acknowledged, applied
 * or dropped, once what it changed is durable in the store (`durable`: the
 * writes made so far): the acks of the ends of a turn ride on the
 * `execute_batch` of the tasks dealt to that worker in the turn they become
 * durable, else go as one `ack` at its end (remote-send.ts). The
 * ends applied last (as many as an agent keeps by default) are remembered per
 * worker, so that a copy sent again is known as one and dropped quietly.
 */
import { DEFAULT_KEPT_ENDS_PER_SLOT } from "../../remote-worker/kept-ends.js";

/** A worker as the acks need it. */
export interface AckTarget {
  wire: number;
  slots: number;
}

export class EndAcks<W extends AckTarget> {
  /** Uids received this turn, their writes not yet made durable, by worker. */
  private arrived = new Map<W, string[]>();
  /** Ends applied last, by worker: uid → attempt (oldest first). */
  private readonly applied = new WeakMap<W, Map<string, number | undefined>>();
  private receivedScheduled = false;
  /** Copies of ends applied already, dropped. */
  duplicates = 0;

  constructor(
    /** Acknowledge these ends to `w` (sent at the end of the turn, on its tasks if any). */
    private readonly ack: (w: W, uids: string[]) => void,
    private readonly durable: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** An end from `w` was received (applied or dropped): acknowledged once its writes are durable. */
  received(w: W, uid: string): void {
    if (w.wire < 3) return;
    const list = this.arrived.get(w);
    if (list) list.push(uid);
    else this.arrived.set(w, [uid]);
    if (this.receivedScheduled) return;
    this.receivedScheduled = true;
    // At the end of the turn: the writes the ends of this turn made are queued by then.
    setImmediate(() => {
      this.receivedScheduled = false;
      const turn = this.arrived;
      this.arrived = new Map();
      void this.durable().then(() => {
        for (const [w, uids] of turn) this.ack(w, uids);
      });
    });
  }

  /** The end of this attempt was applied. */
  wasApplied(w: W, uid: string, attempt: number | undefined): void {
    let m = this.applied.get(w);
    if (!m) this.applied.set(w, (m = new Map<string, number | undefined>()));
    m.delete(uid);
    m.set(uid, attempt);
    const max = Math.max(1, w.slots) * DEFAULT_KEPT_ENDS_PER_SLOT;
    for (const k of m.keys()) {
      if (m.size <= max) break;
      m.delete(k);
    }
  }

  /** Whether an end of this attempt was applied lately (a copy sent again). */
  isCopy(w: W, uid: string, attempt: number | undefined): boolean {
    const m = this.applied.get(w);
    if (!m?.has(uid)) return false;
    const was = m.get(uid);
    return attempt === undefined || was === undefined || was === attempt;
  }

  /** The worker is gone: nothing more to acknowledge on its connection. */
  forget(w: W): void {
    this.arrived.delete(w);
  }
}
