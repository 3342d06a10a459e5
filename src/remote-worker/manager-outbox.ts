/**
 * What a worker agent says to its manager, in order, on the connection of the
 * moment. The messages of one turn of the event loop go together at its end:
 * reports in a row (its processes' starts and ends of a burst of short tasks)
 * as one `reports` message, the others (heartbeat, draining, bye) in their
 * place; a hello goes at once, after what was said before it. Messages are
 * written one at a time (zeromq.js takes one send at a time); the task ends a
 * message holds are kept (kept-ends.ts) once the socket has taken it. On a
 * change of manager only the reports stay, to go after the new hello.
 */
import { IpcBatcher } from "../protocol/ipc.js";
import type { AgentMessage, AgentReport } from "../protocol/worker-wire.js";
import { encodeWire, isAgentReport } from "../protocol/worker-wire.js";
import type { KeptEnds, TaskEnd } from "./kept-ends.js";

/** The connection as the outbox needs it (a zeromq.js Dealer). */
export interface OutboxConnection {
  readonly closed: boolean;
  send(body: Buffer): Promise<void>;
}

export interface OutboxContext {
  /** The connection to the manager of the moment (undefined: none yet). */
  connection(): OutboxConnection | undefined;
  /** The ends sent, kept until the manager acknowledges them. */
  kept: Pick<KeptEnds, "sent">;
  /** Each end sent is logged (ZQS_TRACE_TASKS). */
  trace?: (line: string) => void;
}

/** A message written, with what the change of manager and the kept ends need of it. */
interface Written {
  report: boolean;
  body: Buffer;
  ends: TaskEnd[];
}

export class ManagerOutbox {
  /** Messages of this turn, sent together at its end (one write of the batch). */
  private readonly turn = new IpcBatcher<AgentMessage>((batch) =>
    this.writeTurn(Array.isArray(batch) ? batch : [batch]),
  );
  /** Messages written, not yet taken by the socket. */
  private written: Written[] = [];
  private sending = false;
  /** When the socket last took a message (a heartbeat is due only after a silence). */
  lastSentAt = 0;

  constructor(private readonly ctx: OutboxContext) {}

  /** Nothing waits to go (this turn's messages, or those written). */
  get empty(): boolean {
    return this.turn.size === 0 && this.written.length === 0 && !this.sending;
  }

  /** Say `msg`: at the end of this turn with the others; a hello at once, after them. */
  send(msg: AgentMessage): void {
    const c = this.ctx.connection();
    if (!c || c.closed) return;
    if (msg.type === "hello") {
      this.flushPending();
      this.write(msg);
      return;
    }
    this.turn.push(msg);
  }

  /** This turn's messages, written now. */
  flushPending(): void {
    this.turn.flush();
  }

  /** A turn's messages: reports in a row as one message, the others in their place. */
  private writeTurn(batch: readonly AgentMessage[]): void {
    let reports: AgentReport[] = [];
    const writeReports = () => {
      if (reports.length > 1) this.write({ type: "reports", reports });
      else if (reports[0]) this.write(reports[0]);
      reports = [];
    };
    for (const m of batch) {
      if (isAgentReport(m)) {
        reports.push(m);
      } else {
        writeReports();
        this.write(m);
      }
    }
    writeReports();
  }

  /**
   * Another manager from now on (`join` connects to it and says hello): of
   * what was said and not yet taken, only the reports stay, to go after the hello.
   */
  changeManager(join: () => void): void {
    this.flushPending();
    const reports = this.written.filter((m) => m.report);
    this.written = [];
    join();
    this.written.push(...reports);
    this.drain();
  }

  private write(msg: AgentMessage): void {
    const c = this.ctx.connection();
    if (!c || c.closed) return;
    const reports = msg.type === "reports" ? msg.reports : isAgentReport(msg) ? [msg] : [];
    this.written.push({
      report: reports.length > 0,
      body: encodeWire(msg),
      ends: reports.filter((r): r is TaskEnd => r.type === "task_done"),
    });
    this.drain();
  }

  private drain(): void {
    if (!this.sending) void this.flush();
  }

  private async flush(): Promise<void> {
    this.sending = true;
    try {
      let m: Written | undefined;
      while ((m = this.written[0]) !== undefined) {
        const c = this.ctx.connection();
        if (!c || c.closed) break;
        try {
          await c.send(m.body);
          this.lastSentAt = Date.now();
          // One sent to a manager left meanwhile goes again on the new connection (`written`).
          if (c === this.ctx.connection()) this.ctx.kept.sent(m.ends, m.body.length);
          for (const e of m.ends) this.ctx.trace?.(`Sent the end of task '${e.id}'`);
        } catch {
          if (c !== this.ctx.connection()) continue; // the manager changed: on to the new connection
          if (c.closed) break;
        }
        // Unless the manager changed meanwhile (`written` was rebuilt: what was kept goes again).
        if (this.written[0] === m) this.written.shift();
      }
    } finally {
      this.sending = false;
    }
  }
}
