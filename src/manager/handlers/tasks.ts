/**
 * function_execute, task_status, task_result (the Python server's), and the
 * zqs lifecycle: task_info, task_cancel, and the options of function_execute
 * (timeout, max_retries, retry_backoff, expires, after, priority) handed to
 * the scheduler.
 */
import { randomUUID } from "node:crypto";
import { pyRepr, pyTuple } from "../../protocol/index.js";
import type { Handlers } from "../rpc/dispatch.js";
import { BUSY, NOT_OPEN } from "../activity.js";
import { RequestError } from "../rpc/dispatch.js";
import type { Manager } from "../manager.js";
import type { CancelOutcome } from "../scheduler.js";

const FORMAT = "Incorrect request format: ";

export function taskHandlers(m: Manager): Handlers {
  return {
    function_execute: (p) => {
      const item = p.item;
      if (item === undefined)
        throw new RequestError(`${FORMAT}request contains no item info`, { item: null });
      if (p.user_group === undefined)
        throw new RequestError(`${FORMAT}user group is not specified`);
      if (p.user === undefined) throw new RequestError(`${FORMAT}user name is not specified`);
      if (!m.permissions.hasGroup(p.user_group)) {
        throw new RequestError(`Unknown user group: ${pyRepr(p.user_group)}`);
      }
      if (!("item_type" in item)) throw new RequestError(`${FORMAT}'item_type' key is not found`);
      if (item.item_type !== "function") {
        throw new RequestError(
          `${FORMAT}unsupported 'item_type' value: ${pyRepr(item.item_type)}, supported item types ${pyTuple(["function"])}`,
        );
      }
      const name = item.name;
      if (typeof name !== "string" || name === "") {
        throw new RequestError(`${FORMAT}function name is not specified or is not a string`);
      }
      if (item.args !== undefined && !Array.isArray(item.args)) {
        throw new RequestError(`${FORMAT}'args' must be a list, got ${pyRepr(item.args)}`);
      }
      if (
        item.kwargs !== undefined &&
        (item.kwargs === null || typeof item.kwargs !== "object" || Array.isArray(item.kwargs))
      ) {
        throw new RequestError(
          `${FORMAT}'kwargs' must be a dictionary, got ${pyRepr(item.kwargs)}`,
        );
      }
      if (!m.permissions.functionAllowed(p.user_group, name)) {
        throw new RequestError(
          `Function ${pyRepr(name)} is not allowed for users from ${pyRepr(p.user_group)} group.`,
        );
      }
      const uid = randomUUID();
      const prepared = { ...item, user: p.user, user_group: p.user_group, item_uid: uid };
      m.activity.requireEnvironmentOpen(NOT_OPEN, { item: prepared });
      if (!p.run_in_background) m.activity.requireIdle(BUSY.startTask, { item: prepared });
      const after = p.after ?? [];
      const unknown = m.scheduler.unknownDependencies(after);
      if (unknown.length > 0) {
        throw new RequestError(
          `Unknown task in 'after': ${unknown.map((u) => pyRepr(u)).join(", ")} (never seen, or its result was purged)`,
          { item: prepared },
        );
      }
      const args = (item.args as unknown[] | undefined) ?? [];
      const kwargs = (item.kwargs as Record<string, unknown> | undefined) ?? {};
      const { item_type: _t, ...rest } = item;
      const replyItem = {
        ...rest,
        name,
        args,
        kwargs,
        user: p.user,
        user_group: p.user_group,
        item_uid: uid,
      };
      // A foreground task holds the manager (executing_task) from now until it ends,
      // also while it waits for its dependencies or a retry.
      if (!p.run_in_background) {
        m.activity.begin("executing_task", { worker_environment_state: "executing_task" });
      }
      m.scheduler.submit(uid, { name, args, kwargs }, p.run_in_background, {
        timeout: p.timeout,
        max_retries: p.max_retries,
        retry_backoff: p.retry_backoff,
        expires: p.expires,
        after,
        priority: p.priority,
      });
      return { success: true, msg: "", item: replyItem, task_uid: uid };
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
      const stats = m.scheduler.stats();
      if (typeof task_uid === "string") {
        return { success: true, msg: "", task_uid, task_info: m.tasks.info(task_uid, stats) };
      }
      const info = Object.fromEntries(task_uid.map((uid) => [uid, m.tasks.info(uid, stats)]));
      return { success: true, msg: "", task_uid, task_info: info };
    },

    task_cancel: ({ task_uid }) => {
      const uids = typeof task_uid === "string" ? [task_uid] : task_uid;
      const result = new Map<string, CancelOutcome>();
      const notes: string[] = [];
      for (const uid of uids) {
        const r = m.scheduler.cancel(uid);
        result.set(uid, r.outcome);
        if (r.note) notes.push(r.note);
      }
      const msg = notes.length > 0 ? `${notes.join(". ")}.` : "";
      if (typeof task_uid === "string") {
        return { success: true, msg, task_uid, result: result.get(task_uid) ?? "not_found" };
      }
      return { success: true, msg, task_uid, result: Object.fromEntries(result) };
    },
  };
}
