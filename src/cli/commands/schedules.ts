/** `zqs schedule create|list|get|pause|resume|update|delete|trigger`: schedules (area: schedules). */
import type { Command } from "commander";
import { command, group } from "../command.js";
import { UsageError } from "../errors.js";
import { inline } from "../output.js";
import { jsonMap, parseValue, positiveInt, positiveSeconds } from "../parse.js";

const scheduleUid = { schedule_uid: { description: "schedule UID", param: true } } as const;

/** A time given on the command line: seconds since the epoch, or an ISO 8601 time as written. */
function time(text: string): number | string {
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

function jsonList(text: string, flag: string): unknown[] {
  const v = parseValue(text);
  if (!Array.isArray(v)) throw new UsageError(`${flag} must be a JSON list, got '${text}'`);
  return v;
}

/** The options that set a schedule's timing (create and update). */
const TIMING = {
  cron: {
    value: "<pattern>",
    description: "a cron pattern, 5 fields (minute hour day month weekday) or 6 (seconds first)",
    param: true,
  },
  tz: {
    value: "<zone>",
    description: "the pattern's IANA time zone (default: the manager's)",
    param: true,
  },
  every: {
    value: "<seconds>",
    description: "fire every this many seconds (instead of --cron)",
    parse: positiveSeconds,
    param: true,
  },
  start: {
    value: "<time>",
    description: "not before this time (epoch seconds or ISO 8601)",
    parse: time,
    param: true,
  },
  end: { value: "<time>", description: "not after this time", parse: time, param: true },
  limit: {
    value: "<n>",
    description: "fire at most this many times",
    parse: positiveInt,
    param: true,
  },
  misfire: {
    value: "<policy>",
    description: "fires missed while the manager was down: skip, once (default) or all",
    choices: ["skip", "once", "all"],
    param: true,
  },
  kwargs: {
    value: "<json>",
    description: "keyword arguments of the function or plan, as a JSON map",
    parse: jsonMap,
  },
  options: {
    value: "<json>",
    description: 'task options of function_execute, e.g. {"timeout": 30, "priority": 1}',
    parse: jsonMap,
  },
  plan: { description: "NAME is a plan to add to the queue at each fire (default: a function)" },
  note: { value: "<text>", description: "a note kept with the schedule", param: true },
} as const;

interface TaskOpts {
  kwargs?: Record<string, unknown> | undefined;
  options?: Record<string, unknown> | undefined;
  plan: boolean;
}

function taskOf(name: string, args: string[], opts: TaskOpts): Record<string, unknown> {
  const call = { name, args: args.map(parseValue), kwargs: opts.kwargs ?? {} };
  if (opts.plan) return { item_type: "plan", ...call };
  return { item_type: "function", ...call, ...(opts.options ? { options: opts.options } : {}) };
}

function rowLine(r: Record<string, unknown>): string {
  const when = r.cron !== null ? `cron ${inline(r.cron)}` : `every ${inline(r.every)} s`;
  const next =
    typeof r.next_fire === "number" ? new Date(r.next_fire * 1000).toISOString() : "none";
  return `${inline(r.schedule_uid)}  ${inline(r.name)}  ${when}  ${inline(r.state)}  next: ${next}  fires: ${inline(r.fires)}`;
}

export function registerSchedules(program: Command): void {
  const schedule = group(program, "schedule", "tasks and plans made on a schedule (zqs)");
  command(
    schedule,
    {
      name: "create",
      method: "schedule_create",
      description:
        "make a schedule: zqs schedule create NAME [args...] --every S | --cron PATTERN [--plan]",
      arguments: {
        name: { description: "function (or, with --plan, plan) name" },
        args: { description: "positional arguments of each call", optional: true, variadic: true },
      },
      options: TIMING,
    },
    async ({ call, show, args, opts }) => {
      const r = await call({ task: taskOf(args.name, args.args, opts), name: args.name });
      show(r, () => `schedule_uid: ${String(r.schedule_uid)}`);
    },
  );
  command(schedule, { name: "list", method: "schedule_list" }, async ({ call, show }) => {
    const r = await call();
    show(r, () =>
      r.schedules.length === 0 ? "no schedules" : r.schedules.map(rowLine).join("\n"),
    );
  });
  command(
    schedule,
    { name: "get", method: "schedule_get", arguments: scheduleUid },
    async ({ call, show }) => {
      const r = await call();
      const s = r.schedule;
      show(r, () => {
        const next = (s.next_fires as number[]).map((t) => new Date(t * 1000).toISOString());
        const fires = (s.last_fires as Record<string, unknown>[]).map(
          (f) =>
            `  #${inline(f.seq)} ${inline(f.kind)} at ${new Date(Number(f.time) * 1000).toISOString()}  task ${inline(f.task_uid)}  ${f.success === false ? `refused: ${inline(f.msg)}` : inline(f.outcome ?? "submitted")}`,
        );
        return [
          rowLine(s),
          `next fires: ${next.join(", ") || "none"}`,
          "last fires:",
          ...fires,
        ].join("\n");
      });
    },
  );
  for (const [name, method, done] of [
    ["pause", "schedule_pause", "paused"],
    ["resume", "schedule_resume", "resumed"],
    ["delete", "schedule_delete", "deleted"],
  ] as const) {
    command(schedule, { name, method, arguments: scheduleUid }, async ({ call, show, args }) => {
      show(await call(), () => `${done} schedule ${args.schedule_uid}`);
    });
  }
  command(
    schedule,
    { name: "trigger", method: "schedule_trigger", arguments: scheduleUid },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => `task_uid: ${String(r.task_uid)}`);
    },
  );
  command(
    schedule,
    {
      name: "update",
      method: "schedule_update",
      description:
        "change a schedule: its timing, misfire policy, note, or (with --task-name) its task",
      arguments: scheduleUid,
      options: {
        ...TIMING,
        taskName: {
          value: "<name>",
          description: "a new task: this function (or, with --plan, plan)",
        },
        args: {
          value: "<json>",
          description: "the new task's positional arguments, as a JSON list",
          parse: jsonList,
        },
      },
    },
    async ({ call, show, args, opts }) => {
      const extra: Record<string, unknown> = {};
      if (opts.taskName !== undefined) {
        extra.task = { ...taskOf(opts.taskName, [], opts), args: opts.args ?? [] };
      }
      show(await call(extra), () => `updated schedule ${args.schedule_uid}`);
    },
  );
}
