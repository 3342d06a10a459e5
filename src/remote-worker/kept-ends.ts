/**
 * The task ends a worker agent keeps for a manager that may not have applied
 * them. An end is kept from when it is sent until the manager acknowledges it
 * (a manager that says `acks` in its welcome: wire 3), or, with a manager that
 * does not, until it next shows it knows this connection (any message but
 * `who`). A `who` or a change of manager means the kept ends may not have been
 * applied: they go again after the next welcome. At most `max()` are kept
 * (zqs worker --kept-ends per slot: enough for the ends in flight to a
 * manager that acknowledges them once durable); the oldest go, logged once
 * until the manager is heard to take ends again.
 */
import type { AgentReport, ManagerMessage } from "../protocol/worker-wire.js";

/** The default of ends kept per slot (zqs worker --kept-ends). */
export const DEFAULT_KEPT_ENDS_PER_SLOT = 64;

export type TaskEnd = Extract<AgentReport, { type: "task_done" }>;

/** Ends by task uid, oldest first (a Map keeps the order it was given them in). */
type Ends = Map<string, TaskEnd>;

export class KeptEnds {
  /** Ends sent and not yet acknowledged (or, without acks, not yet confirmed). */
  private unconfirmed: Ends = new Map();
  /** Ends to send again once a manager welcomes this worker. */
  private resend: Ends = new Map();
  /** The manager joined acknowledges ends (its welcome said `acks`). */
  private acking = false;
  /** Ends let go since the last log line about it (logged again after the manager takes ends). */
  private dropped = 0;

  constructor(
    private readonly max: () => number,
    private readonly log: (line: string) => void,
  ) {}

  /** How many ends are kept (sent unacknowledged, or waiting to go again). */
  get size(): number {
    return this.unconfirmed.size + this.resend.size;
  }

  /** Ends sent to the manager joined now: kept until it acknowledges them. */
  sent(ends: readonly TaskEnd[]): void {
    if (ends.length === 0) return;
    for (const e of ends) keep(this.unconfirmed, e);
    this.bound(this.unconfirmed);
  }

  /** A message from the manager joined now. */
  heard(m: ManagerMessage): void {
    if (m.type === "who") return;
    if (m.type === "welcome") {
      this.acking = m.acks === true;
      this.dropped = 0;
    }
    if ((m.type === "ack" || m.type === "execute_batch") && m.acked) this.acked(m.acked);
    // A manager that does not acknowledge: it knows this connection, so it has them.
    if (!this.acking) this.unconfirmed.clear();
  }

  /** The task was dealt again (a new attempt): an earlier end of it must not pass for this one's. */
  dealtAgain(id: string): void {
    this.unconfirmed.delete(id);
    this.resend.delete(id);
  }

  /**
   * The manager may not have applied the ends not acknowledged (it answers
   * `who`, or another one takes over): they go again after the next welcome.
   * Returns how many wait to go.
   */
  again(): number {
    if (this.unconfirmed.size === 0) return 0;
    for (const e of this.unconfirmed.values()) keep(this.resend, e);
    this.unconfirmed.clear();
    this.bound(this.resend);
    return this.resend.size;
  }

  /** A manager welcomed this worker: the ends to send again (they are kept again once sent). */
  takeResend(): TaskEnd[] {
    const ends = [...this.resend.values()];
    this.resend.clear();
    return ends;
  }

  private acked(ids: readonly string[]): void {
    this.dropped = 0;
    for (const id of ids) this.unconfirmed.delete(id);
  }

  private bound(ends: Ends): void {
    const max = this.max();
    if (ends.size <= max) return;
    const gone: string[] = [];
    for (const id of ends.keys()) {
      if (ends.size <= max) break;
      ends.delete(id);
      gone.push(id);
    }
    // One line until the manager takes ends again: not one a task on a busy worker.
    if (this.dropped === 0) {
      this.log(
        `Kept only the last ${max} task ends for a manager that may not have them (--kept-ends per slot); ` +
          `not sent again: ${gone.map((id) => `'${id}'`).join(", ")} (more are not logged until the manager acknowledges ends)`,
      );
    }
    this.dropped += gone.length;
  }
}

/** Keep `e` as the newest of `ends` (an end of the same task kept before goes). */
function keep(ends: Ends, e: TaskEnd): void {
  ends.delete(e.id);
  ends.set(e.id, e);
}
