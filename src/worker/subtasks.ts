/**
 * Subtasks asked for by the running functions and plans of this worker: each
 * request goes to the manager with a fresh `reqId`; its `subtask_reply` (the
 * child's uid, or a refusal) and, when awaited, its `subtask_done` settle the
 * promise user code holds. A parent that awaits lends its slot meanwhile.
 */
import { randomUUID } from "node:crypto";
import type { SubtaskDoneMsg, SubtaskReplyMsg } from "../protocol/ipc.js";
import { SubtaskError, type SubtaskOptions } from "./api.js";
import type { Send } from "./report.js";
import type { SlotLending } from "./slots.js";
import { toWireValue } from "./wire-value.js";

/** What a running task asks of the subtasks (its context's `subtask` and its end). */
export interface SubtaskRequests {
  request(
    parent: string,
    signal: AbortSignal,
    wait: boolean,
    name: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: SubtaskOptions,
  ): Promise<unknown>;
  dropOf(parent: string): void;
}

/** A request waiting for the manager: its reply, and (awaited) the child's outcome. */
interface Pending {
  /** The task or plan that asked. */
  parent: string;
  wait: boolean;
  uid: string | null;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** Gives the lent slot back and stops listening to the parent's signal. */
  done: () => void;
}

function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r);
}

export class Subtasks implements SubtaskRequests {
  private readonly pending = new Map<string, Pending>();
  /** Parent → the reqIds of its requests in `pending` (its end drops them without a search). */
  private readonly ofParent = new Map<string, Set<string>>();

  constructor(
    private readonly send: Send,
    private readonly slots: SlotLending,
    private readonly newReqId: () => string = randomUUID,
  ) {}

  /** Requests not settled yet. */
  get open(): number {
    return this.pending.size;
  }

  /** Ask the manager for a subtask of `parent`; settles as `wait` says (see TaskContext.subtask). */
  request(
    parent: string,
    signal: AbortSignal,
    wait: boolean,
    name: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SubtaskOptions = {},
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new SubtaskError(`The task was stopped: ${stopReason(signal)}`, null, null));
        return;
      }
      // Plain data, as a client would send it (a value that cannot be carried rejects here).
      const wire = {
        args: Array.isArray(args)
          ? args.map((a, i) => toWireValue(a, `subtask argument ${i}`))
          : (args as unknown[]),
        kwargs: (toWireValue(kwargs, "subtask kwargs") ?? {}) as Record<string, unknown>,
        options: (toWireValue(options, "subtask options") ?? {}) as Record<string, unknown>,
      };
      const reqId = this.newReqId();
      let lent = wait && this.slots.lend(parent);
      const onAbort = () => {
        const p = this.take(reqId);
        if (!p) return;
        p.done();
        p.reject(new SubtaskError(`The task was stopped: ${stopReason(signal)}`, p.uid, null));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.add(reqId, {
        parent,
        wait,
        uid: null,
        resolve,
        reject,
        done: () => {
          if (lent) this.slots.reclaim(parent);
          lent = false;
          signal.removeEventListener("abort", onAbort);
        },
      });
      this.send({ type: "subtask", reqId, parent, name, ...wire, wait });
    });
  }

  /**
   * The task or plan `parent` ended: forget its requests still open (a promise it
   * did not await; the manager sends nothing more about them).
   */
  dropOf(parent: string): void {
    const mine = this.ofParent.get(parent);
    if (!mine) return;
    for (const reqId of mine) this.take(reqId)?.done();
  }

  onReply(m: SubtaskReplyMsg): void {
    const p = this.pending.get(m.reqId);
    if (!p) return;
    if (!m.success || m.uid === null) {
      this.take(m.reqId);
      p.done();
      p.reject(new SubtaskError(`The subtask was refused: ${m.msg}`, null, null));
      return;
    }
    p.uid = m.uid;
    if (p.wait) return;
    this.take(m.reqId);
    p.done();
    p.resolve(m.uid);
  }

  onDone(m: SubtaskDoneMsg): void {
    const p = this.pending.get(m.reqId);
    if (!p || p.uid !== m.uid) return;
    this.take(m.reqId);
    p.done();
    if (m.state === "completed") p.resolve(m.return_value);
    else {
      const how = m.state === "failed" ? "failed" : `ended ${m.state}`;
      p.reject(
        new SubtaskError(`Subtask '${m.uid}' ${how}: ${m.msg}`, m.uid, m.state, m.traceback),
      );
    }
  }

  private add(reqId: string, p: Pending): void {
    this.pending.set(reqId, p);
    let mine = this.ofParent.get(p.parent);
    if (!mine) this.ofParent.set(p.parent, (mine = new Set()));
    mine.add(reqId);
  }

  /** The request `reqId` is settled: it leaves `pending`; its entry, if it was there. */
  private take(reqId: string): Pending | undefined {
    const p = this.pending.get(reqId);
    if (!p) return undefined;
    this.pending.delete(reqId);
    const mine = this.ofParent.get(p.parent);
    mine?.delete(reqId);
    if (mine?.size === 0) this.ofParent.delete(p.parent);
    return p;
  }
}
