/** `zqs function execute`, `zqs task status|result|wait|info|list|counts|cancel` (area: tasks). */
import type { Command } from "commander";
import type { REManagerAPI } from "../../client/index.js";
import type { ReplyOf, TaskInfo } from "../../protocol/index.js";
import { command, group } from "../command.js";
import { OutcomeError } from "../errors.js";
import { inline, keyValues, out, printJson } from "../output.js";
import {
  integer,
  jsonMap,
  nonNegativeSeconds,
  parseValue,
  positiveInt,
  positiveSeconds,
  rateLimit,
  tagList,
  timeValue,
} from "../parse.js";
import { waitTasks, waitTimeoutOption } from "../waits.js";
import { DELAY_CLI_OPTIONS } from "../delay-options.js";

/** One UID as itself, several as a list (the methods take either). */
const oneOrMany = (uids: string[]): string | string[] =>
  uids.length === 1 && uids[0] !== undefined ? uids[0] : uids;

const uids = { uid: { description: "task UIDs", variadic: true } } as const;

export function registerTasks(program: Command): void {
  command(
    group(program, "function", "run functions of the environment"),
    {
      name: "execute",
      method: "function_execute",
      description:
        "run a function: zqs function execute NAME [args...] (each arg is JSON, or text)",
      arguments: {
        name: { description: "function name" },
        args: { description: "positional arguments", optional: true, variadic: true },
      },
      options: {
        kwargs: { value: "<json>", description: "keyword arguments as a JSON map", parse: jsonMap },
        background: { description: "run beside plans and other tasks", param: "run_in_background" },
        taskTimeout: {
          value: "<seconds>",
          description: "end the task as timed_out after this long running (zqs)",
          parse: positiveSeconds,
          param: "timeout",
        },
        maxRetries: {
          value: "<n>",
          description: "run it again this many times at most if it fails (zqs)",
          parse: integer,
          param: true,
        },
        retryBackoff: {
          value: "<seconds>",
          description: "first wait before a retry, doubled each time (zqs)",
          parse: positiveSeconds,
          param: true,
        },
        expires: {
          value: "<seconds>",
          description: "end it as expired if it has not started by then (zqs)",
          parse: positiveSeconds,
          param: true,
        },
        after: {
          value: "<uids...>",
          description: "start only when these tasks have completed (zqs)",
          param: true,
        },
        priority: {
          value: "<n>",
          description: "among waiting tasks, higher runs first (zqs)",
          parse: integer,
          param: true,
        },
        workerTags: {
          value: "<a,b>",
          description:
            "with --background: only a worker with all these tags takes it (zqs worker --tags)",
          parse: tagList,
          param: "worker_tags",
        },
        rateLimit: {
          value: "<n/period>",
          description:
            "at most N starts of this function per period (5/s, 100/m, 10/2s), over every worker (zqs)",
          parse: rateLimit,
          param: "rate_limit",
        },
        ...DELAY_CLI_OPTIONS,
        dedupKey: {
          value: "<key>",
          description:
            "while a task of yours with this key waits or runs (or --dedup-ttl after its end), answer with it instead of a new one (zqs)",
          param: "dedup_key",
        },
        dedupTtl: {
          value: "<seconds>",
          description: "how long after its end the task still answers for --dedup-key (zqs)",
          parse: nonNegativeSeconds,
          param: "dedup_ttl",
        },
        wait: { description: "wait for the result and print it (exit 1 if the function failed)" },
        waitTimeout: waitTimeoutOption("give up waiting after this long"),
      },
    },
    async ({ api, call, show, g, args, opts }) => {
      const item = {
        item_type: "function",
        name: args.name,
        args: args.args.map(parseValue),
        kwargs: opts.kwargs ?? {},
      };
      const r = await call({ item });
      const uid = String(r.task_uid);
      if (!opts.wait) {
        show(r, () => `task_uid: ${uid}${r.deduplicated === true ? "  (deduplicated)" : ""}`);
        return;
      }
      await waitTasks(api, [uid], opts.waitTimeout);
      await printResults(api, g.json, [uid]);
    },
  );

  const task = group(program, "task", "task status, results, waits and cancellation");
  command(
    task,
    {
      name: "status",
      method: "task_status",
      description: "running / completed / not_found",
      arguments: uids,
    },
    async ({ call, show, args }) => {
      const r = await call({ task_uid: oneOrMany(args.uid) });
      show(r, () =>
        typeof r.status === "string" ? `${args.uid[0]}  ${r.status}` : keyValues(r.status ?? {}),
      );
    },
  );
  command(
    task,
    {
      name: "result",
      method: "task_result",
      description: "the result of a task",
      arguments: { uid: { description: "task UID", param: "task_uid" } },
    },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => keyValues({ status: r.status, ...(r.result ?? {}) }));
    },
  );
  command(
    task,
    {
      name: "wait",
      description: "wait until the tasks complete, then print their results (exit 1 if one failed)",
      arguments: uids,
      options: { waitTimeout: waitTimeoutOption("give up waiting after this long (exit 3)") },
    },
    async ({ api, g, args, opts }) => {
      await waitTasks(api, args.uid, opts.waitTimeout);
      await printResults(api, g.json, args.uid);
    },
  );
  command(
    task,
    {
      name: "info",
      method: "task_info",
      description: "the full lifecycle record of tasks (zqs)",
      arguments: uids,
      options: {
        tree: { description: "with its subtasks, and theirs, as a tree (zqs)" },
      },
    },
    async ({ api, call, show, g, args, opts }) => {
      if (opts.tree) {
        const trees: TaskTree[] = [];
        for (const uid of args.uid) trees.push(await taskTree(api, uid, new Set()));
        if (g.json) printJson(trees.length === 1 ? trees[0] : trees);
        else out(trees.map((t) => treeLines(t, "").join("\n")).join("\n"));
        return;
      }
      const r = await call({ task_uid: oneOrMany(args.uid) });
      show(r, () => JSON.stringify(r.task_info, null, 2));
    },
  );
  command(
    task,
    {
      name: "list",
      method: "tasks_list",
      description: "tasks the manager knows, newest first: zqs task list [--state failed] (zqs)",
      options: {
        state: { value: "<states...>", description: "only tasks in these states", param: true },
        name: { value: "<name>", description: "only tasks of this function", param: true },
        user: { value: "<user>", description: "only tasks of this user", param: true },
        runUid: { value: "<uid>", description: "only tasks of this run", param: true },
        parent: { value: "<uid>", description: "only subtasks of this task or plan", param: true },
        worker: { value: "<id>", description: "only tasks of this worker", param: true },
        createdAfter: {
          value: "<time>",
          description: "created after this time (seconds since the epoch, or ISO 8601)",
          parse: timeValue,
          param: true,
        },
        createdBefore: {
          value: "<time>",
          description: "created before this time (seconds since the epoch, or ISO 8601)",
          parse: timeValue,
          param: true,
        },
        limit: {
          value: "<n>",
          description: "tasks per page (default 100, at most 1000)",
          parse: positiveInt,
          param: true,
        },
        cursor: { value: "<cursor>", description: "the page after this cursor", param: true },
        all: { description: "every page, not only the first" },
      },
    },
    async ({ call, show, g, opts }) => {
      let r = await call();
      if (opts.all) {
        const tasks = [...r.tasks];
        while (r.cursor !== null) {
          r = await call({ cursor: r.cursor });
          tasks.push(...r.tasks);
        }
        r = { ...r, tasks };
      }
      if (g.json) {
        printJson(r);
        return;
      }
      show(r, () =>
        [
          ...r.tasks.map(
            (t) =>
              `${t.task_uid}  ${t.state.padEnd(9)}  ${t.created_at ?? ""}  ${t.name ?? ""}` +
              (t.parent !== null ? `  (parent ${t.parent})` : ""),
          ),
          ...(r.cursor !== null ? [`more: --cursor ${r.cursor}`] : []),
        ].join("\n"),
      );
    },
  );
  command(
    task,
    {
      name: "counts",
      method: "tasks_counts",
      description: "tasks by state, overall and per name (zqs)",
    },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => {
        const lines = [keyValues(r.counts)];
        for (const [name, counts] of Object.entries(r.by_name)) {
          const parts = Object.entries(counts).map(([s, n]) => `${s} ${n}`);
          lines.push(`${name || "(no name)"}: ${parts.join(", ")}`);
        }
        return lines.join("\n");
      });
    },
  );
  command(
    task,
    {
      name: "cancel",
      method: "task_cancel",
      description: "cancel pending or running tasks (zqs)",
      arguments: uids,
    },
    async ({ call, show, args }) => {
      const r = await call({ task_uid: oneOrMany(args.uid) });
      show(r, () =>
        typeof r.result === "string" ? `${args.uid[0]}  ${r.result}` : keyValues(r.result ?? {}),
      );
    },
  );
  command(
    task,
    {
      name: "retry",
      method: "task_retry",
      description: "run an ended task's call again as a new task linked to it (zqs)",
      arguments: { uid: { description: "the task to retry" } },
    },
    async ({ call, show, args }) => {
      const r = await call({ task_uid: args.uid });
      show(r, () => `${r.task_uid ?? ""}  (retry of ${r.retry_of ?? ""})`);
    },
  );
}

type TaskResult = ReplyOf<"task_result">;

/** A task with its subtasks, and theirs. */
interface TaskTree {
  task_uid: string;
  state: string;
  name: string | null;
  subtasks: TaskTree[];
}

async function taskTree(api: REManagerAPI, uid: string, seen: Set<string>): Promise<TaskTree> {
  seen.add(uid);
  // One uid asked: the record itself.
  const i = (await api.taskInfo(uid)).task_info as TaskInfo | null;
  const subtasks: TaskTree[] = [];
  for (const c of i?.children ?? []) if (!seen.has(c)) subtasks.push(await taskTree(api, c, seen));
  return { task_uid: uid, state: i?.state ?? "not_found", name: i?.name ?? null, subtasks };
}

function treeLines(t: TaskTree, indent: string): string[] {
  const lines = [`${indent}${t.task_uid}  ${t.state}  ${t.name ?? ""}`.trimEnd()];
  for (const s of t.subtasks) lines.push(...treeLines(s, `${indent}  `));
  return lines;
}

/** The outcome of a task that has ended (its result has `success`). */
function outcome(r: TaskResult) {
  return r.result && "success" in r.result ? r.result : undefined;
}

/** Print task results; exit code 1 when one of them failed. */
async function printResults(api: REManagerAPI, json: boolean, uids: string[]): Promise<void> {
  const results: TaskResult[] = [];
  for (const uid of uids) results.push(await api.taskResult(uid));
  const failed = results.filter((r) => outcome(r)?.success === false);
  const missing = results.filter((r) => r.status === "not_found");
  if (json) printJson(uids.length === 1 ? results[0] : results);
  else {
    for (const r of results) {
      if (r.status === "not_found") {
        out(`${inline(r.task_uid)}  not_found`);
        continue;
      }
      const o = outcome(r);
      const head = `${inline(r.task_uid)}  ${o?.success === false ? "failed" : r.status === "completed" ? "succeeded" : inline(r.status)}`;
      const body =
        o?.success === false
          ? `  ${inline(o.msg)}`
          : `  return_value: ${JSON.stringify(o?.return_value ?? null)}`;
      out(`${head}\n${body}`);
    }
  }
  if (missing.length > 0 && failed.length === 0) {
    throw new OutcomeError(
      `${missing.length === 1 ? `task ${inline(missing[0]?.task_uid)} was` : `${missing.length} tasks were`} not found (unknown, or its result expired)`,
    );
  }
  const first = failed[0];
  if (first) {
    throw new OutcomeError(
      failed.length === 1
        ? `task ${inline(first.task_uid)} failed: ${inline(outcome(first)?.msg)}`
        : `${failed.length} tasks failed`,
    );
  }
}
