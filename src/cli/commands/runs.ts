/** `zqs run create|info|wait|restart|delete|list`: runs of many tasks (area: runs). */
import type { Command } from "commander";
import { command, group } from "../command.js";
import { OutcomeError, UsageError } from "../errors.js";
import { inline } from "../output.js";
import { jsonListOfMaps, jsonMap, parseValue, positiveInt, rateLimit, tagList } from "../parse.js";
import type { RunInfo } from "../waits.js";
import { DELAY_CLI_OPTIONS } from "../delay-options.js";
import { runSummary, waitRun, waitTimeoutOption } from "../waits.js";

const runUid = { run_uid: { description: "run UID", param: true } } as const;

function failedTasks(info: RunInfo): void {
  if (info.num_failed > 0)
    throw new OutcomeError(`${info.num_failed} of ${info.num_tasks} tasks failed`);
}

export function registerRuns(program: Command): void {
  const run = group(program, "run", "runs of many tasks of one function (zqs)");
  command(
    run,
    {
      name: "create",
      method: "run_create",
      description:
        "run a function many times over the worker pool: zqs run create NAME [args...] --count N | --items JSON",
      arguments: {
        name: { description: "function name" },
        args: { description: "positional arguments of every call", optional: true, variadic: true },
      },
      options: {
        kwargs: {
          value: "<json>",
          description: "keyword arguments of every call, as a JSON map",
          parse: jsonMap,
        },
        count: {
          value: "<n>",
          description: "this many tasks, all with the same arguments",
          parse: positiveInt,
          param: true,
        },
        items: {
          value: "<json>",
          description:
            'one task per element, each {"args": [...], "kwargs": {...}} (args replace, kwargs add to the above)',
          parse: jsonListOfMaps,
          param: true,
        },
        concurrency: {
          value: "<n>",
          description: "tasks computing at once, at most (default: as the workers take)",
          parse: positiveInt,
          param: true,
        },
        ...DELAY_CLI_OPTIONS,
        workerTags: {
          value: "<a,b>",
          description: "only workers with all these tags take its tasks (zqs worker --tags)",
          parse: tagList,
          param: "worker_tags",
        },
        rateLimit: {
          value: "<n/period>",
          description:
            "at most N starts of this function per period (5/s, 100/m, 10/2s), over every worker",
          parse: rateLimit,
          param: "rate_limit",
        },
        wait: {
          description:
            "wait until every task has ended, with a progress bar (exit 1 if one failed)",
        },
        waitTimeout: waitTimeoutOption("give up waiting after this long (exit 3)"),
      },
    },
    async ({ api, call, show, args, opts }) => {
      if ((opts.count === undefined) === (opts.items === undefined))
        throw new UsageError("give either --count or --items");
      const fn = {
        item_type: "function",
        name: args.name,
        args: args.args.map(parseValue),
        kwargs: opts.kwargs ?? {},
      };
      const r = await call({ function: fn });
      const uid = String(r.run_uid);
      if (!opts.wait) {
        show(r, () => `run_uid: ${uid} (${r.task_uids.length} tasks)`);
        return;
      }
      const info = await waitRun(api, uid, opts.waitTimeout);
      show(info, () => runSummary(info));
      failedTasks(info);
    },
  );
  command(run, { name: "info", method: "run_info", arguments: runUid }, async ({ call, show }) => {
    const r = await call();
    show(r, () => runSummary(r));
  });
  command(
    run,
    {
      name: "wait",
      description: "wait until every task of a run has ended, with a progress bar",
      arguments: { run_uid: { description: "run UID" } },
      options: { waitTimeout: waitTimeoutOption("give up waiting after this long (exit 3)") },
    },
    async ({ api, show, args, opts }) => {
      const info = await waitRun(api, args.run_uid, opts.waitTimeout);
      show(info, () => runSummary(info));
      failedTasks(info);
    },
  );
  command(
    run,
    {
      name: "restart",
      method: "run_restart",
      description: "re-run the failed tasks of a run (--everything: all of them)",
      arguments: runUid,
      options: {
        everything: { description: "re-run every task, not only the failed ones", param: true },
      },
    },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => r.msg || `restarted ${r.task_uids.length} task(s)`);
    },
  );
  command(
    run,
    {
      name: "delete",
      method: "run_delete",
      description: "cancel what is left of a run and forget it",
      arguments: runUid,
    },
    async ({ call, show, args }) => {
      show(await call(), () => `deleted run ${args.run_uid}`);
    },
  );
  command(run, { name: "list", method: "runs_list" }, async ({ call, show }) => {
    const r = await call();
    show(r, () =>
      r.runs.length === 0
        ? "no runs"
        : r.runs
            .map(
              (x) =>
                `${inline(x.run_uid)}  ${inline(x.name)}  ${inline(x.num_done)}/${inline(x.num_tasks)} done, ${inline(x.num_failed)} failed, ${inline(x.num_computing)} computing`,
            )
            .join("\n"),
    );
  });
}
