/**
 * Subtasks: a running function (or plan) submits functions as child tasks
 * through its worker (`context().subtask(...)`, the `subtask` IPC request).
 *
 *  - A request is checked as function_execute checks one, with the parent's
 *    user and group (a plan's: its queue item's): the group may call the
 *    function, the call is well formed, the lifecycle options are valid and
 *    the tasks of `after` are known. The child runs in the background, on any
 *    free slot; its record names its `parent` and the parent's `children`
 *    list it (registry).
 *  - The worker gets the child's uid (`subtask_reply`) and, when it awaits the
 *    child, its outcome once it ends (`subtask_done`).
 *  - Deadlock: while a task has awaited children that have not ended, its
 *    slot is lent (lifecycle.lendSlot): parents that wait never hold the
 *    slots their children need. It takes the slot back when the last one ends.
 *  - Bounds (task-tree.ts): a subtask deeper than --max-subtask-depth, one
 *    that would make its tree hold more than --max-tree-tasks unfinished
 *    tasks, or the manager more than --max-live-tasks, is refused: the
 *    worker's promise rejects with a SubtaskError naming the limit.
 *  - Stopping a task (cancel, timeout) stops its whole tree at once: every
 *    unfinished descendant is cancelled (waiting ones end at once, running
 *    ones have their signal aborted) the moment the stop is asked for, and a
 *    parent being stopped (or ended) takes no new subtask. A plan stopped,
 *    aborted or halted does the same to its subtasks. A child's failure
 *    fails the parent only if the parent's code lets the rejection through;
 *    a parent that fails cancels the children it still awaited (so a bomb
 *    whose requests are refused folds up instead of filling the room its
 *    failures free).
 */
import { z } from "zod";
import { methods, pyRepr } from "../../protocol/index.js";
import type { SubtaskMsg } from "../../protocol/ipc.js";
import { checkCall, requireFunctionAllowed } from "../access/requester.js";
import { newTaskUid } from "../task-uid.js";
import type { SubtaskNotice } from "../workers/pool.js";
import type { SubtasksContext } from "./context.js";
import { isFinal, type TaskRecord } from "./task-record.js";

const fe = methods.function_execute.params;
/** function_execute's lifecycle options, as a subtask takes them. */
const optionsSchema = z.strictObject({
  timeout: fe.timeout,
  max_retries: fe.max_retries,
  retry_backoff: fe.retry_backoff,
  expires: fe.expires,
  after: fe.after,
  priority: fe.priority,
});

/** How a plan ends when it was stopped (its subtasks are cancelled). */
const STOPPED_PLAN = new Set(["stopped", "aborted", "halted"]);

/** A refused request: the message the worker's promise rejects with. */
class Refused extends Error {}

interface Awaited {
  parent: string;
  worker: string;
  reqId: string;
}

export class Subtasks {
  /** Awaited children that have not ended: child uid → who waits. */
  private readonly awaited = new Map<string, Awaited>();
  /** Parent uid → its awaited children that have not ended. */
  private readonly waitingFor = new Map<string, Set<string>>();
  /** Tasks asked to stop whose descendants were cancelled then (see onStopping). */
  private readonly treeStopped = new Set<string>();
  /** A walk of cancelDescendants is under way (the stops it causes need no walk of their own). */
  private walking = false;

  constructor(private readonly m: SubtasksContext) {
    m.pool.on("task-message", (worker, msg) => {
      if (msg.type === "subtask") this.onRequest(worker, msg);
    });
    m.tasks.events.on("final", (r) => this.onFinal(r));
    m.tasks.events.on("stopping", (r) => this.onStopping(r));
    // A plan that was stopped stops its subtasks, as a cancelled task does.
    m.plans.on("plan-message", (msg) => {
      if (msg.type === "plan_done" && STOPPED_PLAN.has(msg.result.exit_status)) {
        this.cancelDescendants(msg.id);
      }
    });
  }

  private onRequest(worker: string, req: SubtaskMsg): void {
    let uid: string;
    try {
      uid = this.submit(req);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.notify(worker, {
        type: "subtask_reply",
        reqId: req.reqId,
        success: false,
        msg,
        uid: null,
      });
      return;
    }
    this.notify(worker, { type: "subtask_reply", reqId: req.reqId, success: true, msg: "", uid });
    if (!req.wait) return;
    const child = this.m.tasks.get(uid);
    // Ended already (a task of `after` had failed): its outcome follows the reply at once.
    if (child && isFinal(child.state)) {
      this.notify(worker, doneMsg(req.reqId, child));
      return;
    }
    this.awaited.set(uid, { parent: req.parent, worker, reqId: req.reqId });
    let mine = this.waitingFor.get(req.parent);
    if (!mine) this.waitingFor.set(req.parent, (mine = new Set()));
    mine.add(uid);
    if (mine.size === 1) this.m.lifecycle.lendSlot(req.parent);
  }

  /** Check the request as function_execute would, with the parent's requester; returns the uid. */
  private submit(req: SubtaskMsg): string {
    const { owner, isTask } = this.owner(req.parent);
    if (!this.m.access.hasGroup(owner.group)) {
      throw new Refused(`Unknown user group: ${pyRepr(owner.group)}`);
    }
    const { name, args, kwargs } = checkCall(req);
    requireFunctionAllowed(this.m.access, owner.group, name);
    const parsed = optionsSchema.safeParse(req.options ?? {});
    if (!parsed.success) {
      const what = parsed.error.issues
        .map((i) => (i.path.length > 0 ? `'${i.path.join(".")}': ${i.message}` : i.message))
        .join("; ");
      throw new Refused(`Invalid subtask options: ${what}`);
    }
    const o = parsed.data;
    const after = o.after ?? [];
    const unknown = this.m.lifecycle.unknownDependencies(after);
    if (unknown.length > 0) {
      throw new Refused(
        `Unknown task in 'after': ${unknown.map((u) => pyRepr(u)).join(", ")} (never seen, or its result was purged)`,
      );
    }
    const uid = newTaskUid();
    // Entered in its tree before it exists: it may end within submit (a failed `after`).
    this.m.trees.admit(uid, req.parent, isTask);
    this.m.lifecycle.submit(
      uid,
      { name, args: args ?? [], kwargs: kwargs ?? {} },
      true,
      { ...o, after },
      undefined,
      { user: owner.user, group: owner.group, parent: req.parent },
    );
    return uid;
  }

  /** Who the parent runs for: a running task's requester, or the running plan's. */
  private owner(parent: string): { owner: { user: string; group: string }; isTask: boolean } {
    const rec = this.m.tasks.get(parent);
    if (rec) {
      // Ended, or ending (its outcome being saved).
      if (!this.m.tasks.active(parent)) throw new Refused(`The parent task '${parent}' has ended`);
      if (rec.stopping) {
        const how = rec.stopping.state === "timed_out" ? "timed out" : "cancelled";
        throw new Refused(`The parent task '${parent}' was ${how}: it takes no new subtasks`);
      }
      if (rec.user === null || rec.group === null) {
        throw new Refused(`The parent task '${parent}' has no user and group to check`);
      }
      return { owner: { user: rec.user, group: rec.group }, isTask: true };
    }
    const plan = this.m.planOwner(parent);
    if (plan) return { owner: plan, isTask: false };
    throw new Refused(`The parent '${parent}' is not a running task or plan`);
  }

  /** A running task was asked to stop (cancel, timeout): its whole tree stops with it, now. */
  private onStopping(rec: TaskRecord): void {
    this.treeStopped.add(rec.uid);
    // Reached by a walk already: that walk goes on into its descendants.
    if (!this.walking) this.cancelDescendants(rec.uid);
  }

  private onFinal(rec: TaskRecord): void {
    this.m.trees.leave(rec.uid);
    // A task stopped before it ran (or while it waited to retry) stops its tree now.
    const stopped = rec.state === "cancelled" || rec.state === "timed_out";
    if (!this.treeStopped.delete(rec.uid) && stopped) this.cancelDescendants(rec.uid);
    // Nobody waits for a parent's children once it has ended; a parent that failed
    // cancels those it still awaited (their outcome was for a computation that is over).
    const mine = this.waitingFor.get(rec.uid);
    if (mine) {
      this.waitingFor.delete(rec.uid);
      for (const child of mine) {
        this.awaited.delete(child);
        if (rec.state === "failed" && this.m.tasks.active(child)) this.m.lifecycle.cancel(child);
      }
    }
    const a = this.awaited.get(rec.uid);
    if (!a) return;
    this.awaited.delete(rec.uid);
    this.notify(a.worker, doneMsg(a.reqId, rec));
    const siblings = this.waitingFor.get(a.parent);
    siblings?.delete(rec.uid);
    if (siblings && siblings.size > 0) return;
    this.waitingFor.delete(a.parent);
    this.m.lifecycle.reclaimSlot(a.parent);
  }

  /**
   * Cancel every unfinished descendant of `uid` (a task, or a plan item that
   * was stopped, aborted or halted), in one walk of its tree: waiting ones
   * end at once, running ones have their signal aborted. Returns how many
   * were cancelled (those already being stopped are not counted again).
   */
  cancelDescendants(uid: string): number {
    const outer = !this.walking;
    this.walking = true;
    let n = 0;
    try {
      const stack = [uid];
      for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
        for (const child of this.m.tasks.childrenOfTask(p)) {
          stack.push(child);
          const c = this.m.tasks.active(child);
          if (!c || c.stopping) continue;
          this.m.lifecycle.cancel(child);
          n++;
        }
      }
    } finally {
      if (outer) this.walking = false;
    }
    return n;
  }

  private notify(worker: string, msg: SubtaskNotice): void {
    this.m.pool.notify(worker, msg);
  }
}

function doneMsg(reqId: string, rec: TaskRecord): SubtaskNotice {
  const r = rec.result;
  return {
    type: "subtask_done",
    reqId,
    uid: rec.uid,
    state: rec.state,
    msg: r?.msg ?? "",
    traceback: r?.traceback ?? "",
    return_value: r?.return_value ?? null,
  };
}
