/**
 * Plans: one at a time in the worker's run engine (made at the first use,
 * once the startup code has set its metadata), its state and runs reported
 * as they change, and the control of the running plan (pause, resume, stop,
 * abort, halt) answered by a `control_reply`.
 */
import type { PlanControlMsg, PlanRunMsg } from "../protocol/ipc.js";
import { VERSION } from "../version.js";
import { runEngineMetadata, taskStorage, type TaskContext } from "./api.js";
import { LazyAbort } from "./lazy-abort.js";
import { errorText, now, type OutputBytes, type Send } from "./report.js";
import { failedResult, RunEngine, type PlanResult } from "./run-engine.js";

/** The plans plans run (the environment's). */
export interface PlanBinder {
  bindPlan(
    name: string,
    args?: readonly unknown[],
    kwargs?: Readonly<Record<string, unknown>>,
  ): { plan: (...a: never[]) => unknown; args: unknown[] };
}

export interface PlansOptions {
  send: Send;
  plans: PlanBinder;
  /** A plan's context (subtasks, logs), as a task's. */
  context: (id: string, ac: LazyAbort) => TaskContext;
  /** The plan ended: its open subtask requests are forgotten (nothing awaits them now). */
  dropSubtasksOf: (id: string) => void;
  outputBytes: OutputBytes;
  /** The engine's log lines. */
  printLine: (line: string) => void;
}

export class Plans {
  private engineMade: RunEngine | undefined;

  constructor(private readonly opts: PlansOptions) {}

  /** The run engine's metadata (re_metadata). */
  get metadata(): Record<string, unknown> {
    return this.engine.metadata;
  }

  async run(m: PlanRunMsg): Promise<void> {
    const time_start = now();
    let result: PlanResult;
    // Its signal aborts when the plan ends.
    const ac = new LazyAbort();
    try {
      const { plan, args } = this.opts.plans.bindPlan(m.name, m.args, m.kwargs);
      const ctx = this.opts.context(m.id, ac);
      result = await taskStorage.run(ctx, () => this.engine.run(plan, args));
    } catch (err) {
      result = failedResult(err);
    } finally {
      this.opts.dropSubtasksOf(m.id);
      ac.abort(new Error("The plan ended"));
    }
    this.opts.send({
      type: "plan_done",
      id: m.id,
      out: this.opts.outputBytes(),
      result,
      time_start,
      time_stop: now(),
      metadata: this.engine.metadata,
    });
  }

  control(m: PlanControlMsg): void {
    try {
      const engine = this.engine;
      switch (m.action) {
        case "pause":
          engine.requestPause(m.option as "deferred" | "immediate");
          break;
        case "resume":
          engine.resume();
          break;
        case "stop":
          engine.stop();
          break;
        case "abort":
          engine.abort();
          break;
        case "halt":
          engine.halt();
          break;
      }
      this.opts.send({ type: "control_reply", reqId: m.reqId, success: true, msg: "" });
    } catch (err) {
      this.opts.send({
        type: "control_reply",
        reqId: m.reqId,
        success: false,
        msg: errorText(err).msg,
      });
    }
  }

  private get engine(): RunEngine {
    return (this.engineMade ??= new RunEngine({
      metadata: { ...runEngineMetadata, versions: { zqs: VERSION, node: process.versions.node } },
      onStateChange: (state, { pausePending }) =>
        this.opts.send({ type: "re_state", state, pausePending }),
      onRunsChange: (runs) => this.opts.send({ type: "re_runs", runs }),
      onLog: (line) => this.opts.printLine(line),
    }));
  }
}
