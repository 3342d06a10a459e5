/**
 * Runs the queue: one plan at a time in the worker's run engine, started the
 * moment the previous one ends (an IPC message, no polling). Mirrors the run
 * engine's state into status, forwards pause/resume/stop/abort/halt, and
 * files each ended plan in the history (aborted, halted and failed plans go
 * back to the front of the queue with a new item_uid, as in the Python server).
 */
import type {
  ControlReplyMsg,
  PlanAction,
  PlanDoneMsg,
  PlanResultFields,
  ReRunsMsg,
  ReStateMsg,
  RunListEntry,
} from "../../protocol/ipc.js";
import { BUSY, DOES_NOT_EXIST } from "../activity.js";
import { RequestError } from "../errors.js";
import type { ExecutorContext } from "./context.js";
import { newUid } from "./plan-queue.js";
import type { QueueItem } from "./types.js";

const CONTROL_TIMEOUT_MS = 5000;

function now(): number {
  return Date.now() / 1000;
}

interface Properties {
  time_start?: number;
  immediate_execution?: boolean;
}

export class QueueExecutor {
  /** queue_stop was asked for: stop after the running plan. */
  stopPending = false;
  /** The Bluesky runs the running plan opened (`re_runs`); not the task runs of `m.runs`. */
  planRuns: RunListEntry[] = [];
  metadata: Record<string, unknown> = {};
  private reqId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: { success: boolean; msg: string }) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly m: ExecutorContext) {
    m.env.on("plan-message", (msg) => this.onWorkerMessage(msg));
    m.env.on("lost", (reason) => this.onWorkerLost(reason));
    m.env.on("ready", (metadata) => {
      this.metadata = metadata;
      this.maybeAutostart();
    });
  }

  /** queue_start */
  async start(): Promise<void> {
    this.m.activity.requireEnvironmentOpen(DOES_NOT_EXIST);
    this.m.activity.requireIdle(BUSY.startQueue);
    this.m.activity.begin("starting_queue");
    await this.next();
  }

  /** Start the queue if autostart is on and it can run. */
  maybeAutostart(): void {
    const q = this.m.queue;
    if (!q.autostart || !this.m.activity.environmentIsOpen || q.items.length === 0 || q.running)
      return;
    if (!this.m.activity.idle) return;
    this.start().catch((err: unknown) => this.m.log.error({ err }, "Autostart failed"));
  }

  /** queue_item_execute: run one item now, outside the queue. */
  async executeNow(item: QueueItem): Promise<void> {
    this.m.activity.requireEnvironmentOpen(DOES_NOT_EXIST);
    this.m.activity.requireIdle(BUSY.executeNow);
    const running: QueueItem = {
      ...item,
      properties: { immediate_execution: true, time_start: now() },
    };
    this.m.activity.begin("executing_queue");
    try {
      await this.m.queue.change((d) => {
        d.running = running;
      });
    } catch (err) {
      this.m.activity.end();
      throw err;
    }
    this.run(running);
  }

  /** Take the next item from the front and run it; idle when there is none or a stop is pending. */
  private async next(): Promise<void> {
    if (!this.m.activity.environmentIsOpen || this.stopPending) {
      this.finish();
      return;
    }
    let started: QueueItem | undefined;
    try {
      started = await this.m.queue.change((d) => {
        while (d.items.length > 0) {
          const first = d.items.shift() as QueueItem;
          if (first.item_type === "instruction") {
            if (first.name === "queue_stop") return undefined;
            continue;
          }
          const { result: _previous, properties: _p, ...item } = first;
          d.running = { ...item, properties: { time_start: now() } };
          return d.running;
        }
        return undefined;
      });
    } catch (err) {
      this.m.log.error({ err }, "The queue could not be advanced");
    }
    if (!started) {
      this.finish();
      return;
    }
    this.run(started);
  }

  private run(item: QueueItem): void {
    this.m.activity.begin("executing_queue", { worker_environment_state: "executing_plan" });
    this.m.env.send({
      type: "plan_run",
      id: item.item_uid,
      name: String(item.name),
      args: Array.isArray(item.args) ? (item.args as unknown[]) : [],
      kwargs:
        item.kwargs && typeof item.kwargs === "object"
          ? (item.kwargs as Record<string, unknown>)
          : {},
    });
  }

  private finish(): void {
    this.stopPending = false;
    const patch = { queue_stop_pending: false, pause_pending: false } as const;
    if (this.m.activity.environmentIsOpen) {
      this.m.activity.end({ ...patch, worker_environment_state: "idle" });
    } else {
      this.m.state.set(patch);
    }
  }

  /** queue_stop */
  requestStop(): void {
    const state = this.m.activity.current;
    if (state !== "executing_queue" && state !== "paused" && state !== "starting_queue") {
      throw new RequestError(
        `Failed to pause the queue. Queue is not running. Manager state: MState.${state.toUpperCase()}`,
        undefined,
        false,
      );
    }
    this.stopPending = true;
    this.m.state.set({ queue_stop_pending: true });
  }

  /** queue_stop_cancel */
  cancelStop(): void {
    this.stopPending = false;
    this.m.state.set({ queue_stop_pending: false });
  }

  /** re_pause / re_resume / re_stop / re_abort / re_halt */
  async control(action: PlanAction, option?: string): Promise<void> {
    const state = this.m.activity.current;
    if (action === "pause") {
      if (!this.m.queue.running || state !== "executing_queue") {
        const re = this.m.state.get("re_state") ?? "idle";
        throw new RequestError(
          `Run engine can be paused only in 'running' state. Current state: '${re}'`,
        );
      }
    } else if (state !== "paused") {
      throw new RequestError(`RE Manager is not paused: current state is '${state}'`);
    }
    const reqId = ++this.reqId;
    const reply = await new Promise<{ success: boolean; msg: string }>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        resolve({ success: false, msg: "The worker did not answer the control request in time" });
      }, CONTROL_TIMEOUT_MS);
      this.pending.set(reqId, { resolve, timer });
      if (
        !this.m.env.send({ type: "plan_control", reqId, action, ...(option ? { option } : {}) })
      ) {
        clearTimeout(timer);
        this.pending.delete(reqId);
        resolve({ success: false, msg: "RE Worker environment does not exist." });
      }
    });
    if (!reply.success) throw new RequestError(reply.msg);
  }

  /** Messages of the worker about plans. */
  onWorkerMessage(msg: ReStateMsg | ReRunsMsg | PlanDoneMsg | ControlReplyMsg): void {
    switch (msg.type) {
      case "re_state": {
        const patch = { re_state: msg.state, pause_pending: msg.pausePending };
        const running = this.m.queue.running !== undefined;
        if (running && msg.state === "paused") {
          this.m.activity.begin("paused", { ...patch, worker_environment_state: "idle" });
        } else if (running && msg.state === "running") {
          this.m.activity.begin("executing_queue", {
            ...patch,
            worker_environment_state: "executing_plan",
          });
        } else {
          this.m.state.set(patch);
        }
        break;
      }
      case "re_runs":
        this.planRuns = msg.runs;
        this.m.state.bump("run_list_uid");
        break;
      case "control_reply": {
        const p = this.pending.get(msg.reqId);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(msg.reqId);
          p.resolve({ success: msg.success, msg: msg.msg });
        }
        break;
      }
      case "plan_done":
        this.metadata = msg.metadata;
        void this.planDone(msg.id, msg.result, msg.time_stop);
        break;
    }
  }

  /** The worker is gone (killed, crashed, destroyed): the running plan failed. */
  onWorkerLost(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ success: false, msg: "RE Worker environment does not exist." });
      this.pending.delete(id);
    }
    if (this.planRuns.length > 0) {
      this.planRuns = [];
      this.m.state.bump("run_list_uid");
    }
    const running = this.m.queue.running;
    if (!running) return;
    void this.planDone(
      running.item_uid,
      {
        exit_status: "failed",
        run_uids: [],
        scan_ids: [],
        msg: `Plan failed: ${reason}`,
        traceback: "",
      },
      now(),
    );
  }

  /**
   * At start: the plan the store says was running when the manager stopped
   * goes to the history as "unknown" and back to the front of the queue.
   */
  async recoverInterrupted(): Promise<void> {
    const running = this.m.queue.running;
    if (!running) return;
    this.m.log.warn(
      `Plan '${String(running.name)}' was running when the manager stopped: it is in the history as 'unknown' and back at the front of the queue`,
    );
    await this.planDone(
      running.item_uid,
      {
        exit_status: "unknown",
        run_uids: [],
        scan_ids: [],
        msg: "The manager stopped while the plan was running: its outcome is unknown",
        traceback: "",
      },
      Date.now() / 1000,
    );
  }

  private async planDone(id: string, r: PlanResultFields, timeStop: number): Promise<void> {
    const running = this.m.queue.running;
    if (!running || running.item_uid !== id) return;
    const props = (running.properties ?? {}) as Properties;
    const immediate = props.immediate_execution === true;
    const { properties: _p, ...base } = running;
    const result = {
      exit_status: r.exit_status,
      run_uids: r.run_uids,
      scan_ids: r.scan_ids,
      time_start: props.time_start ?? timeStop,
      time_stop: timeStop,
      msg: r.msg,
      traceback: r.traceback,
    };
    const exit = r.exit_status;
    const failed = exit === "failed";
    const mode = this.m.queue.mode;
    // "unknown" (cut off by a crash) goes back to the queue whatever the mode: it may not have run.
    const requeue =
      !immediate &&
      (exit === "aborted" ||
        exit === "halted" ||
        exit === "unknown" ||
        (failed && !mode.ignore_failures));
    const goOn = !immediate && (exit === "completed" || (failed && mode.ignore_failures));
    try {
      await this.m.queue.change((d, history) => {
        history.push({ ...base, result });
        d.running = undefined;
        if (requeue) {
          d.items.unshift({ ...base, item_uid: newUid(), result });
        } else if (d.mode.loop && !immediate) {
          const { result: _r, ...again } = base;
          d.items.push({ ...again, item_uid: newUid() });
        }
      });
    } catch (err) {
      this.m.log.error({ err }, "The end of a plan could not be saved");
    }
    this.m.log.info(`Plan '${String(base.name)}' ended: ${exit}${r.msg ? ` (${r.msg})` : ""}`);
    if (goOn && this.m.activity.environmentIsOpen) await this.next();
    else this.finish();
  }
}
