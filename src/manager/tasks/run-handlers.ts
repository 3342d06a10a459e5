/** Runs of many tasks (zqs): run_create, run_info, run_restart, run_delete, runs_list. */
import { pyRepr } from "../../protocol/index.js";
import type { Handlers } from "../rpc/dispatch.js";
import { NOT_OPEN } from "../activity.js";
import { RequestError } from "../errors.js";
import {
  checkCall,
  FORMAT,
  requireFunctionAllowed,
  requireRequester,
} from "../access/requester.js";
import type { RunHandlersContext } from "./context.js";
import type { Run } from "./run-record.js";
import type { FunctionCall } from "./task-record.js";
import { takeRateLimit } from "./rate-limits.js";
import { startAtOf } from "./time-params.js";

/** Tasks one run may have, at most. */
export const MAX_RUN_TASKS = 100_000;

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function runHandlers(m: RunHandlersContext): Handlers {
  const find = (uid: string): Run => {
    const run = m.runs.get(uid);
    if (!run) throw new RequestError(`Run ${pyRepr(uid)} is not found`);
    return run;
  };
  const requireOpen = (): void => m.activity.requireEnvironmentOpen(NOT_OPEN);

  return {
    run_create: async (p) => {
      const { user, group } = requireRequester(m.access, p.user, p.user_group);
      const f = p.function;
      if (f.item_type !== undefined && f.item_type !== "function") {
        throw new RequestError(
          `${FORMAT}'function' must be a function item, got item_type ${pyRepr(f.item_type)}`,
        );
      }
      const { name, args, kwargs } = checkCall(f);
      if ((p.count === undefined) === (p.items === undefined)) {
        throw new RequestError(`${FORMAT}give either 'count' or 'items' (one of them)`);
      }
      const n = p.count ?? p.items?.length ?? 0;
      if (n === 0)
        throw new RequestError(`${FORMAT}'items' is empty: a run needs one task at least`);
      if (n > MAX_RUN_TASKS) {
        throw new RequestError(`${FORMAT}a run has at most ${MAX_RUN_TASKS} tasks, got ${n}`);
      }
      requireFunctionAllowed(m.access, group, name);
      const startAt = startAtOf(p, m.limits.maxDelay, Date.now());
      const full = m.trees.liveRefusal(n);
      if (full !== undefined) throw new RequestError(full);
      const baseArgs = args ?? [];
      const baseKwargs = kwargs ?? {};
      const base: FunctionCall = { name, args: baseArgs, kwargs: baseKwargs };
      let calls: FunctionCall[];
      if (p.items === undefined) {
        calls = new Array<FunctionCall>(n).fill(base);
      } else {
        calls = p.items.map((item, i) => {
          for (const k of Object.keys(item)) {
            if (k !== "args" && k !== "kwargs") {
              throw new RequestError(
                `${FORMAT}items[${i}] has the key ${pyRepr(k)}: an item gives the arguments of one call, 'args' (a list) and/or 'kwargs' (a dictionary)`,
              );
            }
          }
          if (item.args !== undefined && !Array.isArray(item.args)) {
            throw new RequestError(`${FORMAT}items[${i}]: 'args' must be a list`);
          }
          if (item.kwargs !== undefined && !isMap(item.kwargs)) {
            throw new RequestError(`${FORMAT}items[${i}]: 'kwargs' must be a dictionary`);
          }
          return {
            name,
            args: (item.args as unknown[] | undefined) ?? baseArgs,
            kwargs: { ...baseKwargs, ...((item.kwargs as Record<string, unknown>) ?? {}) },
          };
        });
      }
      requireOpen();
      // Its tasks share their function's limit (the last check: taken once the run is accepted).
      takeRateLimit(m.rateLimits, name, p.rate_limit);
      const run = m.runs.create({
        name,
        calls,
        concurrency: p.concurrency,
        tags: p.worker_tags,
        user,
        userGroup: group,
        startAt,
      });
      // Durable with the tasks' accepted marks (the same batch) before the reply.
      try {
        await m.writer.write([m.runs.putOp(run)], { mode: "batched" });
      } catch (err) {
        m.runs.delete(run);
        throw err;
      }
      return { success: true, msg: "", run_uid: run.uid, task_uids: [...run.uids] };
    },

    run_info: ({ run_uid }) => {
      const run = find(run_uid);
      return { success: true, msg: "", ...m.runs.counts(run), task_uids: [...run.uids] };
    },

    run_restart: async ({ run_uid, everything }) => {
      const run = find(run_uid);
      requireOpen();
      if (everything) {
        const left = m.runs.unfinished(run);
        if (left > 0) {
          throw new RequestError(
            `Run ${pyRepr(run_uid)} has ${left} task(s) that have not ended: wait for them (or delete the run) before restarting everything`,
          );
        }
      }
      const adding = everything ? run.uids.length : m.runs.counts(run).num_failed;
      const full = m.trees.liveRefusal(adding);
      if (full !== undefined) throw new RequestError(full);
      const fresh = m.runs.restart(run, everything);
      // The new task UIDs: the tasks run already, the reply waits until the store has them.
      if (fresh.length > 0) await m.writer.write([m.runs.putOp(run)], { mode: "batched" });
      return {
        success: true,
        msg: fresh.length === 0 ? "The run has no failed tasks: nothing was restarted" : "",
        run_uid,
        task_uids: fresh,
      };
    },

    run_delete: async ({ run_uid }) => {
      m.runs.delete(find(run_uid));
      // After any outcomes of the run written before (batches are written in order).
      await m.writer.write([{ op: "run_delete", uid: run_uid }], { mode: "batched" });
      return { success: true, msg: "" };
    },

    runs_list: () => ({
      success: true,
      msg: "",
      runs: m.runs.list().map((run) => ({
        ...m.runs.counts(run),
        name: run.name,
        user: run.user,
        user_group: run.userGroup,
        concurrency: Number.isFinite(run.concurrency) ? run.concurrency : null,
        created_at: new Date(run.createdAt).toISOString(),
      })),
    }),
  };
}
