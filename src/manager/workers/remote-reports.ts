/**
 * What a worker on another host reports once its connection is known:
 * heartbeats (a worker-heartbeat event at most every HEARTBEAT_EVENT_MS), its
 * output (bounded by its ConsoleLimit), draining, bye, and its task messages,
 * applied only for a task assigned to it now (uid and attempt): a result that
 * comes after the task was given up, or names another attempt, is logged and
 * dropped; a copy of an end applied already (sent again after a reconnect, or
 * to a manager restarted or taking over after it was applied) is
 * dropped quietly. Every end is acknowledged (remote-acks.ts). Tasks it ran for a
 * manager before (listed by its hello, or an end its hello could not list
 * yet) are claimed from the tasks area (task-marks.ts) and assigned to it
 * again.
 */
import type { Logger } from "pino";
import type { AgentMessage, AgentReport } from "../../protocol/worker-wire.js";
import type { TaskMessage } from "./pool.js";
import type { EndAcks } from "./remote-acks.js";
import type { RemoteWorker } from "./remote-worker.js";
import type { RemoteTaskMarks } from "./task-marks.js";

/** worker-heartbeat events are published at most this often per worker. */
const HEARTBEAT_EVENT_MS = 10_000;

/** What the reports need of the remote pool. */
export interface ReportsContext {
  log: Pick<Logger, "info" | "warn" | "debug">;
  /** The acknowledgements of task ends. */
  acks: EndAcks<RemoteWorker>;
  /** Start marks of the tasks dealt, and claims of running tasks after a restart or takeover. */
  marks: RemoteTaskMarks | undefined;
  /** Publish a worker event (QS_Task). */
  event(name: string, w: RemoteWorker): void;
  /** The workers taking tasks changed (one is draining). */
  changed(): void;
  /** The worker said bye. */
  left(w: RemoteWorker, msg: string): void;
  /** A task message from the worker running the task (TaskWorkerPool's `task-message`). */
  task(worker: string, m: TaskMessage): void;
}

export class RemoteReports {
  constructor(private readonly ctx: ReportsContext) {}

  /** A message of the worker `w`, from its current connection. */
  report(w: RemoteWorker, m: AgentMessage): void {
    switch (m.type) {
      case "hello":
        return;
      case "heartbeat":
        if (Date.now() - w.lastHeartbeatEvent >= HEARTBEAT_EVENT_MS) {
          w.lastHeartbeatEvent = Date.now();
          this.ctx.event("worker-heartbeat", w);
        }
        return;
      case "output":
        w.console.write(m.text);
        return;
      case "reports":
        for (const r of m.reports) this.report(w, r);
        return;
      case "draining":
        if (w.state === "online") {
          w.state = "draining";
          this.ctx.changed();
          this.ctx.log.info(
            `Worker '${w.name}' on ${w.hostname} is draining: it takes no new task`,
          );
        }
        return;
      case "bye":
        this.ctx.left(w, `The worker '${w.name}' on ${w.hostname} left (${m.msg})`);
        return;
      case "task_started":
      case "task_progress":
      case "task_done":
      case "subtask":
        this.onTaskMessage(w, m);
        return;
    }
  }

  /**
   * Its hello lists tasks it still runs (a restart or takeover of the
   * manager): those it may take back are assigned to it again (their reports
   * applied from now on); the tasks area ignores and logs the rest.
   */
  takeBack(w: RemoteWorker, running: readonly string[]): void {
    const marks = this.ctx.marks;
    if (!marks) return;
    const claimed = running.filter((uid) => !w.assigned.has(uid));
    if (claimed.length === 0) return;
    for (const { uid, attempt } of marks.claim(w, claimed)) w.assigned.set(uid, attempt);
  }

  private onTaskMessage(
    w: RemoteWorker,
    m: Extract<AgentReport, { type: TaskMessage["type"] }>,
  ): void {
    if (m.type === "task_done") {
      this.onEnd(w, m);
      return;
    }
    // A subtask is asked for by a task that runs there now.
    if (!w.assigned.has(m.type === "subtask" ? m.parent : m.id)) return;
    this.ctx.task(w.name, m);
  }

  /** A task's end: applied once, for the attempt assigned to the worker now; acknowledged. */
  private onEnd(w: RemoteWorker, m: Extract<AgentReport, { type: "task_done" }>): void {
    this.ctx.acks.received(w, m.id);
    // The attempt it was dealt as (absent: an agent of wire 2, taken as today).
    const attempt = m.attempt;
    if (!w.assigned.has(m.id) && this.ctx.acks.isCopy(w, m.id, attempt)) {
      this.ctx.acks.duplicates++;
      this.ctx.log.debug(
        `Dropped a copy of the end of task '${m.id}' from worker '${w.name}': applied already (${this.ctx.acks.duplicates} copies so far)`,
      );
      return;
    }
    // The end of a task it ran for the manager before, ended before its hello could list
    // it: taken back if its start mark names this worker.
    if (this.ctx.marks && !w.assigned.has(m.id)) {
      for (const t of this.ctx.marks.claim(w, [m.id], true)) w.assigned.set(t.uid, t.attempt);
    }
    const current = w.assigned.get(m.id);
    if (current === undefined && this.ctx.marks?.ended(m.id, attempt)) {
      // Sent again to a manager that restarted or took over after the end was applied.
      this.ctx.acks.duplicates++;
      this.ctx.log.debug(
        `Dropped a copy of the end of task '${m.id}' from worker '${w.name}': the task has ended already (${this.ctx.acks.duplicates} copies so far)`,
      );
      return;
    }
    if (current === undefined) {
      this.ctx.log.warn(
        `Dropped the result of task '${m.id}' from worker '${w.name}': the task is not assigned to it (it was given up)`,
      );
      return;
    }
    if (attempt !== undefined && attempt !== current) {
      this.ctx.log.warn(
        `Dropped the result of attempt ${attempt} of task '${m.id}' from worker '${w.name}': it runs attempt ${current} now`,
      );
      return;
    }
    w.assigned.delete(m.id);
    this.ctx.acks.wasApplied(w, m.id, attempt);
    if (m.success) w.tasksDone++;
    else w.tasksFailed++;
    this.ctx.task(w.name, m);
  }
}
