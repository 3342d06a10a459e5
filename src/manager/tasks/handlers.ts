/**
 * function_execute, task_status, task_result (the Python server's), and the
 * zqs lifecycle: task_info, task_cancel, and the options of function_execute
 * (timeout, max_retries, retry_backoff, expires, after, priority) handed to
 * the task lifecycle; task_retry (an ended task's call again, linked to it);
 * tasks_list and tasks_counts (query.ts). A task beyond --max-live-tasks is
 * refused; task_cancel cancels a task's whole tree. A task's rate_limit
 * becomes its function's (rate-limits.ts). `delay`/`not_before` make a task
 * `scheduled` until then (background only); a `dedup_key` held by a task of
 * the same user and group answers with that task (`deduplicated: true`)
 * instead of a new one (dedup.ts).
 */
import { echoedItem, pyRepr } from "../../protocol/index.js";
import type { ParamsOut } from "../../protocol/index.js";
import type { Handlers, RequestContext } from "../rpc/dispatch.js";
import { BUSY, NOT_OPEN } from "../activity.js";
import { newTaskUid } from "../task-uid.js";
import { RequestError } from "../errors.js";
import {
  checkCall,
  requireFunctionAllowed,
  requireItem,
  requireItemType,
  requireRequester,
  refusingWith,
} from "../access/requester.js";
import type { TaskHandlersContext } from "./context.js";
import type { CancelOutcome } from "./lifecycle-context.js";
import { countTasks, listTasks } from "./query.js";
import { takeRateLimit } from "./rate-limits.js";
import { dedupOf, startAtOf } from "./time-params.js";
import { isFinal } from "./task-record.js";

const FUNCTION_ITEM = ["function"];

export function taskHandlers(m: TaskHandlersContext): Handlers {
  return {
    function_execute: (p, ctx) => execute(m, p.item, p, ctx, {}),

    task_retry: async ({ task_uid, user, user_group }, ctx) => {
      const old = m.tasks.get(task_uid);
      const refused = { task_uid: null, retry_of: task_uid };
      if (!old) {
        throw new RequestError(`Task '${task_uid}' is not known (never seen, or purged)`, refused);
      }
      if (!old.call) {
        throw new RequestError(
          `Task '${task_uid}' cannot be retried: its call is not kept (not a function task, or accepted before the manager restarted)`,
          refused,
        );
      }
      if (!isFinal(old.state)) {
        throw new RequestError(
          `Task '${task_uid}' cannot be retried: it has not ended (it is ${old.state})`,
          refused,
        );
      }
      const { options } = old.call;
      const item = {
        item_type: "function",
        name: old.name,
        args: old.call.args,
        kwargs: old.call.kwargs,
      };
      const params = { ...options, user, user_group, run_in_background: old.background };
      try {
        const r = await execute(m, item, params, ctx, { retryOf: task_uid });
        return { success: true, msg: "", task_uid: r.task_uid, retry_of: task_uid };
      } catch (err) {
        // Refused as function_execute would refuse it, with this method's keys.
        if (err instanceof RequestError) throw new RequestError(err.message, refused, err.prefixed);
        throw err;
      }
    },

    task_status: ({ task_uid }) => {
      if (typeof task_uid === "string") {
        return { success: true, msg: "", task_uid, status: m.tasks.status(task_uid) };
      }
      // Keyed by the uids as sent: Object.fromEntries keeps `__proto__` an own key.
      const status = Object.fromEntries(task_uid.map((uid) => [uid, m.tasks.status(uid)]));
      return { success: true, msg: "", task_uid, status };
    },

    task_result: ({ task_uid }) => {
      const r = m.tasks.result(task_uid);
      return { success: true, msg: "", task_uid, status: r.status, result: r.result };
    },

    task_info: ({ task_uid }) => {
      const stats = m.lifecycle.stats();
      if (typeof task_uid === "string") {
        return { success: true, msg: "", task_uid, task_info: m.tasks.info(task_uid, stats) };
      }
      const info = Object.fromEntries(task_uid.map((uid) => [uid, m.tasks.info(uid, stats)]));
      return { success: true, msg: "", task_uid, task_info: info };
    },

    tasks_list: (p) => ({ success: true, msg: "", ...listTasks(m.tasks, p) }),

    tasks_counts: () => ({ success: true, msg: "", ...countTasks(m.tasks) }),

    task_cancel: async ({ task_uid }) => {
      const uids = typeof task_uid === "string" ? [task_uid] : task_uid;
      const result = new Map<string, CancelOutcome>();
      const notes: string[] = [];
      const ended: Promise<void>[] = [];
      for (const uid of uids) {
        // Its whole tree stops with it, also when the task itself has ended.
        const below = m.subtasks.cancelDescendants(uid);
        const r = m.lifecycle.cancel(uid);
        result.set(uid, r.outcome);
        if (r.note) notes.push(r.note);
        if (below > 0) {
          notes.push(`${below} unfinished subtask(s) of task '${uid}' were cancelled with it`);
        }
        // "cancelled" is a final state: reported once durable, as every other.
        if (r.outcome === "cancelled") ended.push(m.tasks.whenFinal(uid));
      }
      await Promise.all(ended);
      const msg = notes.length > 0 ? `${notes.join(". ")}.` : "";
      if (typeof task_uid === "string") {
        return { success: true, msg, task_uid, result: result.get(task_uid) ?? "not_found" };
      }
      return { success: true, msg, task_uid, result: Object.fromEntries(result) };
    },
  };
}

type ExecuteParams = Omit<ParamsOut<"function_execute">, "item">;

/*
 * The objects below are a copy by object rest (`const { ...o } = item`), then
 * fields set one by one: the same keys in the same order as
 * `{ ...item, user, ... }`, an item's `__proto__` key an own key as there.
 * V8 (Node 20) takes microseconds to add fields to a spread's copy
 * (`{ ...item, a }`, or `{ ...item }` then `o.a =`: 11-13 us each, measured
 * alone on a JSON-parsed item) and a fraction of one to add them to a rest copy
 * (0.9 us), twice per accepted task.
 */

/** Set the requester and the uid on an item (keys already there keep their place). */
function withRequester(
  o: Record<string, unknown>,
  user: string,
  group: string,
  uid: string,
): Record<string, unknown> {
  o.user = user;
  o.user_group = group;
  o.item_uid = uid;
  return o;
}

/** The item as the reply echoes it: as sent without `item_type`, the call as taken, who and the uid. */
function replyItemOf(
  rest: Record<string, unknown>,
  call: { name: string; args: unknown[]; kwargs: Record<string, unknown> },
  user: string,
  group: string,
  uid: string,
): Record<string, unknown> {
  const { ...o } = rest;
  o.name = call.name;
  o.args = call.args;
  o.kwargs = call.kwargs;
  return withRequester(o, user, group, uid);
}

/**
 * Accept a function call as a task (function_execute; task_retry with the
 * old task's call, linked to it).
 */
async function execute(
  m: TaskHandlersContext,
  rawItem: unknown,
  p: ExecuteParams,
  ctx: RequestContext,
  links: { retryOf?: string },
) {
  const item = requireItem(rawItem as ParamsOut<"function_execute">["item"], { item: null });
  const { user, group } = requireRequester(m.access, p.user, p.user_group);
  // A refusal from here on echoes the item with the user and group applied.
  const refused = { item: echoedItem(item, { user, user_group: group }) };
  const { name, args, kwargs } = refusingWith(refused, () => {
    requireItemType(item, FUNCTION_ITEM);
    const c = checkCall(item);
    requireFunctionAllowed(m.access, group, c.name);
    return c;
  });
  const startAt = startAtOf(p, m.limits.maxDelay, Date.now(), refused);
  if (startAt !== undefined && !p.run_in_background) {
    throw new RequestError(
      "A delayed task ('delay', 'not_before') runs in the background: set 'run_in_background' (zqs function execute --background)",
      refused,
    );
  }
  const dedup = dedupOf(p, m.limits, refused);
  const { item_type: _t, ...rest } = item;
  const call = { name, args: args ?? [], kwargs: kwargs ?? {} };
  const holder = dedup && m.tasks.dedupHolder(user, group, dedup.key);
  if (holder !== undefined) {
    await m.tasks.whenAccepted(holder);
    return {
      success: true,
      msg: `Deduplicated: task '${holder}' holds the dedup key ${pyRepr(dedup?.key)}`,
      item: replyItemOf(rest, call, user, group, holder),
      task_uid: holder,
      deduplicated: true,
    };
  }
  const uid = ctx.chosenUid ?? newTaskUid();
  const { ...prepared }: Record<string, unknown> = item;
  withRequester(prepared, user, group, uid);
  if (!p.run_in_background && (p.worker_tags?.length ?? 0) > 0) {
    // A foreground task runs in the manager's main worker, which has no tags.
    throw new RequestError(
      "'worker_tags' applies to background tasks only: a foreground task runs in the manager's main worker (set 'run_in_background')",
      { item: prepared },
    );
  }
  m.activity.requireEnvironmentOpen(NOT_OPEN, { item: prepared });
  if (!p.run_in_background) m.activity.requireIdle(BUSY.startTask, { item: prepared });
  const after = p.after ?? [];
  const unknown = m.lifecycle.unknownDependencies(after);
  if (unknown.length > 0) {
    throw new RequestError(
      `Unknown task in 'after': ${unknown.map((u) => pyRepr(u)).join(", ")} (never seen, or its result was purged)`,
      { item: prepared },
    );
  }
  const full = m.trees.liveRefusal(1);
  if (full !== undefined) throw new RequestError(full, { item: prepared });
  const replyItem = replyItemOf(rest, call, user, group, uid);
  // Last of the checks: a task's rate_limit becomes its function's once accepted.
  takeRateLimit(m.rateLimits, name, p.rate_limit, { item: prepared });
  // A foreground task holds the manager (executing_task) from now until it ends,
  // also while it waits for its dependencies or a retry.
  if (!p.run_in_background) {
    m.activity.begin("executing_task", { worker_environment_state: "executing_task" });
  }
  m.lifecycle.submit(
    uid,
    call,
    p.run_in_background,
    {
      timeout: p.timeout,
      max_retries: p.max_retries,
      retry_backoff: p.retry_backoff,
      expires: p.expires,
      after,
      priority: p.priority,
      worker_tags: p.worker_tags,
      startAt,
    },
    undefined,
    {
      user,
      group,
      ...(dedup ? { dedup } : {}),
      ...(links.retryOf !== undefined ? { retryOf: links.retryOf } : {}),
    },
  );
  if (ctx.receivedAt !== undefined) m.tasks.mark(uid, "request_in", ctx.receivedAt);
  // Acknowledged only once durable: a crash after this reply cannot lose the task.
  await m.tasks.whenAccepted(uid);
  m.tasks.mark(uid, "replied");
  return { success: true, msg: "", item: replyItem, task_uid: uid };
}
