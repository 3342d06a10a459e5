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
 *    slot is lent (scheduler.lendSlot): parents that wait never hold the
 *    slots their children need. It takes the slot back when the last one ends.
 *  - A parent that ends cancelled or timed out cancels its unfinished
 *    children. A child's failure fails the parent only if the parent's code
 *    lets the rejection through.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { methods, pyRepr } from "../../protocol/index.js";
import type { SubtaskMsg } from "../../protocol/ipc.js";
import type { AccessControl } from "../access/access.js";
import { checkCall, requireFunctionAllowed } from "../access/requester.js";
import type { SubtaskNotice, TaskWorkerPool } from "../workers/pool.js";
import type { TaskRecord, TaskRegistry } from "./registry.js";
import { isFinal } from "./registry.js";
import type { TaskScheduler } from "./scheduler.js";

/** What the subtasks area uses. */
export interface SubtasksContext {
  tasks: Pick<TaskRegistry, "get" | "events" | "childrenOfTask">;
  scheduler: Pick<
    TaskScheduler,
    "submit" | "cancel" | "lendSlot" | "reclaimSlot" | "unknownDependencies"
  >;
  pool: Pick<TaskWorkerPool, "on" | "notify">;
  access: Pick<AccessControl, "hasGroup" | "functionAllowed">;
  /** The user and group of the plan running now, when `uid` is its item uid. */
  planOwner(uid: string): { user: string; group: string } | undefined;
}

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
  private readonly waitingFor = new Map<string, number>();

  constructor(private readonly m: SubtasksContext) {
    m.pool.on("task-message", (worker, msg) => {
      if (msg.type === "subtask") this.onRequest(worker, msg);
    });
    m.tasks.events.on("final", (r) => this.onFinal(r));
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
    const n = (this.waitingFor.get(req.parent) ?? 0) + 1;
    this.waitingFor.set(req.parent, n);
    if (n === 1) this.m.scheduler.lendSlot(req.parent);
  }

  /** Check the request as function_execute would, with the parent's requester; returns the uid. */
  private submit(req: SubtaskMsg): string {
    const owner = this.owner(req.parent);
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
    const unknown = this.m.scheduler.unknownDependencies(after);
    if (unknown.length > 0) {
      throw new Refused(
        `Unknown task in 'after': ${unknown.map((u) => pyRepr(u)).join(", ")} (never seen, or its result was purged)`,
      );
    }
    const uid = randomUUID();
    this.m.scheduler.submit(
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
  private owner(parent: string): { user: string; group: string } {
    const rec = this.m.tasks.get(parent);
    if (rec) {
      if (isFinal(rec.state)) throw new Refused(`The parent task '${parent}' has ended`);
      if (rec.user === null || rec.group === null) {
        throw new Refused(`The parent task '${parent}' has no user and group to check`);
      }
      return { user: rec.user, group: rec.group };
    }
    const plan = this.m.planOwner(parent);
    if (plan) return plan;
    throw new Refused(`The parent '${parent}' is not a running task or plan`);
  }

  private onFinal(rec: TaskRecord): void {
    // A parent that was stopped stops its children.
    if (rec.state === "cancelled" || rec.state === "timed_out") {
      for (const child of this.m.tasks.childrenOfTask(rec.uid)) {
        const c = this.m.tasks.get(child);
        if (c && !isFinal(c.state)) this.m.scheduler.cancel(child);
      }
    }
    // Nobody waits for a parent's children once it has ended.
    if (this.waitingFor.delete(rec.uid)) {
      for (const [child, a] of this.awaited) if (a.parent === rec.uid) this.awaited.delete(child);
    }
    const a = this.awaited.get(rec.uid);
    if (!a) return;
    this.awaited.delete(rec.uid);
    this.notify(a.worker, doneMsg(a.reqId, rec));
    const n = (this.waitingFor.get(a.parent) ?? 1) - 1;
    if (n > 0) {
      this.waitingFor.set(a.parent, n);
      return;
    }
    this.waitingFor.delete(a.parent);
    this.m.scheduler.reclaimSlot(a.parent);
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
