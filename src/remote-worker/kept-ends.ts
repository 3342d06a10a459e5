/**
 * The task ends a worker agent keeps for a manager that may not have applied
 * them. An end is kept from when it is sent until the manager acknowledges it
 * (a manager that says `acks` in its welcome: wire 3), or, with a manager that
 * does not, until it next shows it knows this connection (any message but
 * `who`). A `who` or a change of manager means the kept ends may not have been
 * applied: they go again after the next welcome. At most `max()` are kept
 * (zqs worker --kept-ends per slot: enough for the ends in flight to a
 * manager that acknowledges them once durable), holding at most `maxBytes()`
 * of encoded messages together (--kept-ends-bytes: each end holds its result;
 * the newest end is kept whatever its size); the oldest go, logged once
 * until the manager is heard to take ends again. An acknowledgement may come
 * before its end is recorded as sent (the socket took the message, and the
 * manager answered, before the agent's send resolved): it is held, and the
 * end is not kept when it is.
 */
import type { AgentReport, ManagerMessage } from "../protocol/worker-wire.js";

/** The default of ends kept per slot (zqs worker --kept-ends). */
export const DEFAULT_KEPT_ENDS_PER_SLOT = 64;
/** The default of bytes the kept ends may hold together (zqs worker --kept-ends-bytes). */
export const DEFAULT_KEPT_END_BYTES = 64 * 1024 * 1024;

export type TaskEnd = Extract<AgentReport, { type: "task_done" }>;

/** An end kept, and its share of the bytes of the message it went in. */
interface Kept {
  end: TaskEnd;
  bytes: number;
}

/** Ends by task uid, oldest first (a Map keeps the order it was given them in). */
type Ends = Map<string, Kept>;

export class KeptEnds {
  /** Ends sent and not yet acknowledged (or, without acks, not yet confirmed). */
  private unconfirmed: Ends = new Map();
  /** Ends to send again once a manager welcomes this worker. */
  private resend: Ends = new Map();
  /** The manager joined acknowledges ends (its welcome said `acks`). */
  private acking = false;
  /** Ends let go since the last log line about it (logged again after the manager takes ends). */
  private dropped = 0;
  /** Bytes the kept ends hold (both maps). */
  private bytes = 0;
  /** Ends acknowledged before they were recorded as sent (at most `max()`, the newest). */
  private readonly ackedEarly = new Set<string>();

  constructor(
    private readonly max: () => number,
    private readonly log: (line: string) => void,
    private readonly maxBytes: () => number = () => DEFAULT_KEPT_END_BYTES,
  ) {}

  /** How many ends are kept (sent unacknowledged, or waiting to go again). */
  get size(): number {
    return this.unconfirmed.size + this.resend.size;
  }

  /** Bytes the kept ends hold (their shares of the messages they went in). */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * Ends sent to the manager joined now, in one message of `bodyBytes`
   * (each end counts for an equal share of it): kept until it acknowledges them.
   */
  sent(ends: readonly TaskEnd[], bodyBytes = 0): void {
    if (ends.length === 0) return;
    const share = bodyBytes / ends.length;
    for (const end of ends) {
      if (!this.ackedEarly.delete(end.id)) this.keep(this.unconfirmed, { end, bytes: share });
    }
    this.bound();
  }

  /** A message from the manager joined now. */
  heard(m: ManagerMessage): void {
    if (m.type === "who") return;
    if (m.type === "welcome") {
      this.acking = m.acks === true;
      this.dropped = 0;
      this.ackedEarly.clear();
    }
    if ((m.type === "ack" || m.type === "execute_batch") && m.acked) this.acked(m.acked);
    // A manager that does not acknowledge: it knows this connection, so it has them.
    if (!this.acking) this.clear(this.unconfirmed);
  }

  /** The task was dealt again (a new attempt): an earlier end of it must not pass for this one's. */
  dealtAgain(id: string): void {
    this.drop(this.unconfirmed, id);
    this.drop(this.resend, id);
    this.ackedEarly.delete(id);
  }

  /**
   * The manager may not have applied the ends not acknowledged (it answers
   * `who`, or another one takes over): they go again after the next welcome.
   * Returns how many wait to go.
   */
  again(): number {
    if (this.unconfirmed.size === 0) return 0;
    for (const k of this.unconfirmed.values()) this.keep(this.resend, k);
    this.clear(this.unconfirmed);
    this.bound();
    return this.resend.size;
  }

  /** A manager welcomed this worker: the ends to send again (they are kept again once sent). */
  takeResend(): TaskEnd[] {
    const ends = [...this.resend.values()].map((k) => k.end);
    this.clear(this.resend);
    return ends;
  }

  private acked(ids: readonly string[]): void {
    this.dropped = 0;
    for (const id of ids) {
      if (this.unconfirmed.has(id)) this.drop(this.unconfirmed, id);
      else if (!this.resend.has(id)) this.ackedEarly.add(id);
    }
    const max = this.max();
    for (const id of this.ackedEarly) {
      if (this.ackedEarly.size <= max) break;
      this.ackedEarly.delete(id);
    }
  }

  /** Keep `k` as the newest of `ends` (an end of the same task kept before goes). */
  private keep(ends: Ends, k: Kept): void {
    this.drop(ends, k.end.id);
    ends.set(k.end.id, k);
    this.bytes += k.bytes;
  }

  private drop(ends: Ends, id: string): void {
    const k = ends.get(id);
    if (!k) return;
    ends.delete(id);
    this.bytes -= k.bytes;
  }

  private clear(ends: Ends): void {
    for (const k of ends.values()) this.bytes -= k.bytes;
    ends.clear();
  }

  /** The oldest go past the count or the bytes, those to send again first (never the newest). */
  private bound(): void {
    const max = this.max();
    const maxBytes = this.maxBytes();
    const over = () => this.size > max || (this.bytes > maxBytes && this.size > 1);
    if (!over()) return;
    const gone: string[] = [];
    for (const ends of [this.resend, this.unconfirmed]) {
      for (const id of ends.keys()) {
        if (!over()) break;
        this.drop(ends, id);
        gone.push(id);
      }
    }
    // One line until the manager takes ends again: not one a task on a busy worker.
    if (this.dropped === 0) {
      this.log(
        `Kept only the last ${this.size} task ends for a manager that may not have them ` +
          `(at most ${max}: --kept-ends per slot; at most ${maxBytes} bytes: --kept-ends-bytes); ` +
          `not sent again: ${gone.map((id) => `'${id}'`).join(", ")} (more are not logged until the manager acknowledges ends)`,
      );
    }
    this.dropped += gone.length;
  }
}
