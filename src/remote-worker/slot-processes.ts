/**
 * The slot processes of a `zqs worker` agent: one forked worker process per
 * slot (`WorkerProcess`, started with one slot: one task runs in it at a
 * time), the tasks dealt to the agent that wait for one, and which process
 * holds which task. The agent (agent.ts) keeps the manager side.
 *
 *  - Tasks wait in the agent's queue highest priority first (dealing order
 *    among equals) and are handed out in queue order, round-robin over the
 *    processes that may take more. A process is topped up only when it holds
 *    at most its running task; it may then hold up to `heldFor(mean)` tasks:
 *    several of short calls (its recent calls' mean, call-mean.ts), so that a
 *    batch from the manager goes as one IPC write per process and their ends
 *    come back together; one of longer calls (no task waits in a busy process
 *    while another may free first). A foreground task goes only to an idle
 *    process, and alone.
 *  - A process runs what it holds in the order sent (its slots keep it: one
 *    at a time, by priority, and the agent sends in priority order), so the
 *    running tasks are the first not ended, and any whose `task_started` was
 *    seen (a task awaiting subtasks lends its slot, so two may run).
 *  - A process that exits: its running tasks end failed; those it held that
 *    had not started go back to the queue and run on another process (a task
 *    that kills its process in the turn it starts, before its start was
 *    reported, may so run once more; never more than once more, as it is
 *    then the first a process holds). A new process replaces it.
 *  - A cancel of a task waiting in a process is answered by the process (a
 *    cancelled end, unrun); `replace` kills only a process whose running task
 *    was cancelled.
 *  - Tasks given up (a manager lost, not taken back, or left): those not
 *    started are dropped (cancelled in the process, nothing reported); started
 *    ones finish unreported, or their process is killed (orphan policy abort).
 */
import os from "node:os";
import type { ExecuteFunctionMsg, ManagerToWorker, WorkerToManager } from "../protocol/ipc.js";
import type { AgentReport } from "../protocol/worker-wire.js";
import { CallMean } from "../worker-host/call-mean.js";
import type { WorkerProcessEvents } from "../worker-host/worker-process.js";

/** Calls of this mean or shorter (ms) are short: a process may hold several. */
const SHORT_CALL_MS = 2;
/** A process of short calls holds about this much work (ms), ... */
const HELD_WORK_MS = 8;
/** ... and at most this many tasks. */
const MAX_HELD = 8;

/** How many tasks a process whose recent calls took `meanMs` on average may hold (its running one included). */
export function heldFor(meanMs: number | undefined): number {
  if (meanMs === undefined || meanMs > SHORT_CALL_MS) return 1;
  return Math.max(1, Math.min(MAX_HELD, Math.floor(HELD_WORK_MS / Math.max(meanMs, 0.01))));
}

/** What the agent needs of a worker process (WorkerProcess; a fake in the unit tests). */
export interface SlotProcess {
  readonly pid: number | undefined;
  readonly alive: boolean;
  start(): void;
  send(msg: ManagerToWorker): boolean;
  kill(signal: NodeJS.Signals, reason: string): void;
  on<K extends keyof WorkerProcessEvents>(
    event: K,
    listener: (...args: WorkerProcessEvents[K]) => void,
  ): unknown;
}

/** What the slot processes need of the agent. */
export interface SlotContext {
  /** The agent's name (in the end of a task whose process ended). */
  readonly name: string;
  /** A new worker process (not started), named `id`. */
  fork(id: string): SlotProcess;
  /** Whether tasks may be handed out now (not while the manager is lost or being joined). */
  mayDeal(): boolean;
  /** The agent is leaving: an ended process is not replaced. */
  closing(): boolean;
  /** A report for the manager. */
  report(msg: AgentReport): void;
  /** A task ended or left: the agent may be drained now. */
  changed(): void;
  log(line: string): void;
}

/** A task a process holds. */
interface Held {
  msg: ExecuteFunctionMsg;
  /** Its `task_started` was seen. */
  started: boolean;
  /** Why it was cancelled, once it was. */
  cancelled: string | undefined;
  /** Given up (the manager lost): nothing of it is reported. */
  orphan: boolean;
}

interface Slot {
  proc: SlotProcess;
  ready: boolean;
  /** What it holds, in the order sent (ended ones leave). */
  held: Held[];
  /** Its recent calls' run times. */
  pace: CallMean;
}

export class SlotProcesses {
  private readonly slots: Slot[] = [];
  /** Tasks that wait for a process, highest priority first. */
  private readonly queue: ExecuteFunctionMsg[] = [];
  /** Subtask requests relayed to the manager: the process that asked (its answers go back there). */
  private readonly subtaskAsker = new Map<string, { slot: Slot; wait: boolean }>();
  private seq = 0;

  constructor(private readonly ctx: SlotContext) {}

  /** Start `n` processes; resolves with the functions of the first once all are ready. */
  async start(n: number): Promise<Record<string, string>> {
    const loaded = await Promise.all(Array.from({ length: n }, () => this.startOne()));
    return loaded[0] ?? {};
  }

  /** Tasks dealt to the agent: into the queue by priority, then out to the processes. */
  add(tasks: readonly ExecuteFunctionMsg[]): void {
    for (const t of tasks) {
      const p = t.priority ?? 0;
      let i = this.queue.length;
      while (i > 0 && ((this.queue[i - 1] as ExecuteFunctionMsg).priority ?? 0) < p) i--;
      this.queue.splice(i, 0, t);
    }
    this.deal();
  }

  /** Hand queued tasks to the processes that may take more (when the agent may deal). */
  deal(): void {
    if (this.queue.length === 0 || !this.ctx.mayDeal()) return;
    // Topped up only when holding at most the running task.
    const open = this.slots.filter((s) => s.ready && s.proc.alive && s.held.length <= 1);
    let progressed = true;
    while (progressed && this.queue.length > 0) {
      progressed = false;
      for (const s of open) {
        const t = this.queue[0];
        if (t === undefined) break;
        if (!this.mayTake(s, t)) continue;
        this.queue.shift();
        s.held.push({ msg: t, started: false, cancelled: undefined, orphan: false });
        s.proc.send(t);
        progressed = true;
      }
    }
  }

  private mayTake(s: Slot, t: ExecuteFunctionMsg): boolean {
    if (!t.background) return s.held.length === 0;
    return s.held.length < heldFor(s.pace.ms) && s.held.every((h) => h.msg.background);
  }

  /** The tasks the processes run for a manager (started, not given up). */
  running(): string[] {
    const ids: string[] = [];
    for (const s of this.slots) {
      s.held.forEach((h, i) => {
        if (!h.orphan && isRunning(h, i)) ids.push(h.msg.id);
      });
    }
    return ids;
  }

  /** Tasks not ended for a manager: queued, held (the given-up ones too with `orphans`). */
  busy(orphans = false): number {
    let n = this.queue.length;
    for (const s of this.slots) for (const h of s.held) if (orphans || !h.orphan) n++;
    return n;
  }

  /** A cancel: a queued task ends unrun here; a held one is cancelled by its process. */
  cancel(id: string, reason: string): void {
    const qi = this.queue.findIndex((t) => t.id === id);
    if (qi >= 0) {
      const [t] = this.queue.splice(qi, 1);
      if (t) this.endUnrun(t, reason);
      this.ctx.changed();
      return;
    }
    for (const s of this.slots) {
      const h = s.held.find((x) => x.msg.id === id);
      if (!h) continue;
      h.cancelled = reason;
      s.proc.send({ type: "cancel", id, reason });
      return;
    }
  }

  /** Kill the processes whose running task was cancelled (and has not stopped). */
  replace(why: string): void {
    for (const s of this.slots) {
      if (!s.held.some((h, i) => isRunning(h, i) && h.cancelled !== undefined)) continue;
      this.ctx.log(`Replacing the worker process ${s.proc.pid ?? "?"} ${why}`);
      s.proc.kill("SIGKILL", `the worker process was replaced ${why}`);
    }
  }

  /** An answer of the manager to a subtask request: to the process that asked. */
  subtaskAnswer(m: Extract<ManagerToWorker, { type: "subtask_reply" | "subtask_done" }>): void {
    const asker = this.subtaskAsker.get(m.reqId);
    if (!asker) return;
    if (m.type === "subtask_done" || !asker.wait || !m.success) this.subtaskAsker.delete(m.reqId);
    if (asker.slot.proc.alive) asker.slot.proc.send(m);
  }

  /**
   * The manager gave the tasks not started up (it is lost, or another takes
   * over): the queue is dropped, and those held unstarted are cancelled in
   * their process, unreported.
   */
  dropNotStarted(why: string): void {
    this.queue.length = 0;
    for (const s of this.slots) {
      s.held.forEach((h, i) => {
        if (h.orphan || isRunning(h, i)) return;
        h.orphan = true;
        s.proc.send({ type: "cancel", id: h.msg.id, reason: why });
      });
    }
  }

  /** No manager has the tasks any more: the not started are dropped, the running finish unreported or are killed (`abort`). */
  orphanAll(why: string, abort: boolean): void {
    this.dropNotStarted(why);
    for (const s of this.slots) {
      let kill = false;
      s.held.forEach((h, i) => {
        if (h.orphan || !isRunning(h, i)) return;
        h.orphan = true;
        if (abort) {
          this.ctx.log(`Abandoning task '${h.msg.id}': ${why}`);
          kill = true;
        } else {
          this.ctx.log(`Task '${h.msg.id}' finishes unreported: ${why}`);
        }
      });
      if (kill) s.proc.kill("SIGKILL", `the task was abandoned: ${why}`);
    }
  }

  killAll(reason: string): void {
    for (const s of this.slots) s.proc.kill("SIGKILL", reason);
  }

  // ---- one process ----------------------------------------------------------------

  /** Fork one process; resolves with its functions once it is ready. */
  private startOne(): Promise<Record<string, string>> {
    const proc = this.ctx.fork(`${this.ctx.name}/${++this.seq}`);
    const slot: Slot = { proc, ready: false, held: [], pace: new CallMean() };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      proc.on("output", (text) => this.ctx.report({ type: "output", text }));
      proc.on("message", (m) => {
        if (m.type === "ready") {
          slot.ready = true;
          resolve(m.function_hashes ?? {});
          this.deal();
        } else if (m.type === "load_failed") {
          proc.kill("SIGKILL", m.msg);
          reject(new Error(`${m.msg}\n${m.traceback}`));
        } else {
          this.fromProcess(slot, m);
        }
      });
      proc.on("exit", (e) => {
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
        for (const [reqId, asker] of this.subtaskAsker) {
          if (asker.slot === slot) this.subtaskAsker.delete(reqId);
        }
        if (!slot.ready) {
          reject(
            new Error(`a worker process exited while loading (${e.reason ?? e.signal ?? e.code})`),
          );
          return;
        }
        const how = e.reason ?? (e.signal ? `signal ${e.signal}` : `exit code ${String(e.code)}`);
        this.exited(slot, how);
        if (this.ctx.closing()) return;
        this.startOne().catch((err: unknown) =>
          this.ctx.log(`A new worker process failed to start: ${(err as Error).message}`),
        );
        this.deal();
        this.ctx.changed();
      });
      proc.start();
    });
  }

  /** What an ended process held: its running tasks fail, the unstarted go back to the queue. */
  private exited(slot: Slot, how: string): void {
    const back: ExecuteFunctionMsg[] = [];
    slot.held.forEach((h, i) => {
      if (h.orphan) return;
      if (isRunning(h, i)) {
        const now = Date.now() / 1000;
        this.ctx.report({
          type: "task_done",
          id: h.msg.id,
          success: false,
          msg: `The worker process of '${this.ctx.name}' on ${os.hostname()} ended (${how}) while the task was running`,
          traceback: "",
          return_value: null,
          time_start: now,
          time_stop: now,
          attempt: h.msg.attempt,
        });
      } else if (h.cancelled !== undefined) {
        this.endUnrun(h.msg, h.cancelled);
      } else {
        back.push(h.msg);
      }
    });
    slot.held = [];
    if (back.length === 0) return;
    this.ctx.log(
      `${back.length} task(s) waiting in the ended worker process go to another one (not started)`,
    );
    // Back ahead of the queued tasks of their priority (they were dealt before them), in their order.
    for (const t of back.reverse()) {
      const p = t.priority ?? 0;
      let i = 0;
      while (i < this.queue.length && ((this.queue[i] as ExecuteFunctionMsg).priority ?? 0) > p)
        i++;
      this.queue.splice(i, 0, t);
    }
  }

  private fromProcess(slot: Slot, m: WorkerToManager): void {
    if (m.type === "subtask") {
      const parent = slot.held.find((h) => h.msg.id === m.parent);
      if (!parent || parent.orphan) return;
      this.subtaskAsker.set(m.reqId, { slot, wait: m.wait });
      this.ctx.report(m);
      return;
    }
    if (m.type !== "task_started" && m.type !== "task_progress" && m.type !== "task_done") return;
    const i = slot.held.findIndex((h) => h.msg.id === m.id);
    const h = slot.held[i];
    if (h === undefined) return;
    if (m.type === "task_started") h.started = true;
    if (m.type !== "task_done") {
      if (!h.orphan) this.ctx.report(m);
      return;
    }
    slot.held.splice(i, 1);
    if (!m.cancelled) slot.pace.ended(m.call_ms ?? (m.time_stop - m.time_start) * 1000);
    if (!h.orphan) {
      const { content: _c, ...done } = m;
      this.ctx.report({ ...done, attempt: h.msg.attempt });
    }
    this.deal();
    this.ctx.changed();
  }

  /** A task that never ran ends cancelled. */
  private endUnrun(t: ExecuteFunctionMsg, reason: string): void {
    const now = Date.now() / 1000;
    this.ctx.report({
      type: "task_done",
      id: t.id,
      success: false,
      msg: reason,
      traceback: "",
      return_value: null,
      time_start: now,
      time_stop: now,
      cancelled: true,
      attempt: t.attempt,
    });
  }
}

/** The held task at `index` runs: it is the first not ended, or its start was seen. */
function isRunning(h: Held, index: number): boolean {
  return index === 0 || h.started;
}
