/**
 * schedule_create, schedule_list, schedule_get, schedule_pause,
 * schedule_resume, schedule_update, schedule_delete, schedule_trigger. A
 * schedule runs as the user and group that made it (or last changed it); its
 * task is checked here as its method would check it, and again at each fire.
 */
import { randomUUID } from "node:crypto";
import { pyRepr, scheduledFunctionSchema } from "../../protocol/index.js";
import type { ParamsOut } from "../../protocol/index.js";
import { FORMAT, requireRequester } from "../access/requester.js";
import type { Handlers } from "../rpc/dispatch.js";
import { RequestError } from "../errors.js";
import type { ScheduleRecord } from "./record.js";
import type { ScheduleHandlersContext } from "./context.js";
import { checkCron, nextSlot, TimingError } from "./timing.js";

type Fields = Partial<
  Pick<ParamsOut<"schedule_create">, "cron" | "tz" | "every" | "start" | "end" | "limit">
>;

function ms(t: number | string): number {
  return typeof t === "number" ? Math.round(t * 1000) : Date.parse(t);
}

const refuse = (msg: string): never => {
  throw new RequestError(msg);
};

/** The timing fields of a record from the request's (checked). */
function timing(
  f: Fields,
  now: number,
  minEvery: number,
): Pick<ScheduleRecord, "cron" | "tz" | "every_ms" | "start_ms" | "end_ms" | "limit"> {
  if (f.cron !== undefined && f.every !== undefined) {
    refuse(`${FORMAT}give either 'cron' or 'every', not both`);
  }
  if (f.cron === undefined && f.every === undefined) {
    refuse(`${FORMAT}a schedule needs 'cron' (a pattern) or 'every' (seconds)`);
  }
  if (f.tz !== undefined && f.cron === undefined) {
    refuse(`${FORMAT}'tz' is the time zone of a 'cron' pattern; an 'every' schedule takes none`);
  }
  if (f.every !== undefined && f.every < minEvery) {
    refuse(`'every' is ${f.every} s: the shortest period is ${minEvery} s (--schedule-min-every)`);
  }
  if (f.cron !== undefined) {
    try {
      checkCron(f.cron, f.tz);
    } catch (err) {
      if (err instanceof TimingError) refuse(err.message);
      throw err;
    }
  }
  const start = f.start === undefined ? undefined : ms(f.start);
  const end = f.end === undefined ? undefined : ms(f.end);
  if (start !== undefined && end !== undefined && end < start) {
    refuse(`'end' (${pyRepr(f.end)}) is before 'start' (${pyRepr(f.start)})`);
  }
  if (end !== undefined && end <= now) refuse(`'end' (${pyRepr(f.end)}) has already passed`);
  return {
    cron: f.cron,
    tz: f.tz,
    every_ms: f.every === undefined ? undefined : Math.round(f.every * 1000),
    start_ms: start,
    end_ms: end,
    limit: f.limit,
  };
}

/** The task's shape (a function with its options, or a plan). */
function taskShape(task: Record<string, unknown> | undefined): Record<string, unknown> {
  if (task === undefined) {
    return refuse(
      `${FORMAT}'task' is missing: a function {"item_type": "function", "name", "args", "kwargs", "options"} or a plan item`,
    );
  }
  if (task.item_type === "function") {
    const r = scheduledFunctionSchema.safeParse(task);
    if (!r.success) {
      const issue = r.error.issues[0];
      const where = issue && issue.path.length > 0 ? `'task.${issue.path.join(".")}': ` : "";
      return refuse(`${FORMAT}${where}${issue?.message ?? "not a function task"}`);
    }
    return task;
  }
  if (task.item_type === "plan") return task;
  return refuse(
    `${FORMAT}'task' must have item_type 'function' or 'plan', not ${pyRepr(task.item_type)}`,
  );
}

export function scheduleHandlers(m: ScheduleHandlersContext): Handlers {
  const find = (uid: string): ScheduleRecord =>
    m.schedules.get(uid) ?? refuse(`Schedule ${pyRepr(uid)} is not found`);
  const checked = async (task: Record<string, unknown>, user: string, group: string) => {
    const problem = await m.check(task, user, group);
    if (problem !== undefined) refuse(`The schedule's task would be refused: ${problem}`);
  };

  return {
    schedule_create: async (p) => {
      const { user, group } = requireRequester(m.access, p.user, p.user_group);
      const { maxSchedules, minEvery } = m.limits;
      if (m.schedules.size >= maxSchedules) {
        refuse(`Too many schedules: the limit is ${maxSchedules} (--max-schedules)`);
      }
      const now = m.now();
      const t = timing(p, now, minEvery);
      const task = taskShape(p.task);
      await checked(task, user, group);
      const s: ScheduleRecord = {
        uid: randomUUID(),
        name: p.name ?? (typeof task.name === "string" ? task.name : ""),
        note: p.note ?? "",
        user,
        user_group: group,
        ...t,
        misfire: p.misfire,
        task,
        paused: false,
        created_ms: now,
        after_ms: now,
        seq: 0,
        slot_fires: 0,
        missed: 0,
        fires: [],
      };
      if (
        nextSlot(
          { ...t, everyMs: t.every_ms, startMs: t.start_ms, endMs: t.end_ms, createdMs: now },
          now,
        ) === null
      ) {
        refuse("The schedule would never fire: no time of its pattern falls before its 'end'");
      }
      // Another request may have taken the last place while this one was checked.
      if (m.schedules.size >= maxSchedules) {
        refuse(`Too many schedules: the limit is ${maxSchedules} (--max-schedules)`);
      }
      await m.schedules.add(s);
      return { success: true, msg: "", schedule_uid: s.uid };
    },

    schedule_list: () => ({
      success: true,
      msg: "",
      schedules: m.schedules.list().map((s) => m.schedules.row(s)),
    }),

    schedule_get: ({ schedule_uid }) => ({
      success: true,
      msg: "",
      schedule: m.schedules.details(find(schedule_uid)),
    }),

    schedule_pause: async ({ schedule_uid }) => {
      await m.schedules.setPaused(find(schedule_uid), true);
      return { success: true, msg: "" };
    },

    schedule_resume: async ({ schedule_uid }) => {
      await m.schedules.setPaused(find(schedule_uid), false);
      return { success: true, msg: "" };
    },

    schedule_update: async (p) => {
      const s = find(p.schedule_uid);
      const { user, group } = requireRequester(m.access, p.user, p.user_group);
      // A new pattern replaces a period, and the other way round.
      const switched = p.cron !== undefined || p.every !== undefined;
      const fields: Fields = {
        cron: switched ? p.cron : s.cron,
        tz: p.tz ?? (switched && p.cron === undefined ? undefined : s.tz),
        every: switched ? p.every : s.every_ms === undefined ? undefined : s.every_ms / 1000,
        start: p.start ?? (s.start_ms === undefined ? undefined : s.start_ms / 1000),
        end: p.end ?? (s.end_ms === undefined ? undefined : s.end_ms / 1000),
        limit: p.limit ?? s.limit,
      };
      const t = timing(fields, m.now(), m.limits.minEvery);
      const task = p.task === undefined ? s.task : taskShape(p.task);
      await checked(task, user, group);
      await m.schedules.update(s, {
        ...t,
        task,
        user,
        user_group: group,
        ...(p.misfire === undefined ? {} : { misfire: p.misfire }),
        ...(p.name === undefined ? {} : { name: p.name }),
        ...(p.note === undefined ? {} : { note: p.note }),
      });
      return { success: true, msg: "" };
    },

    schedule_delete: async ({ schedule_uid }) => {
      await m.schedules.delete(find(schedule_uid));
      return { success: true, msg: "" };
    },

    schedule_trigger: async ({ schedule_uid }) => {
      const fire = await m.schedules.trigger(find(schedule_uid));
      if (fire.success !== true) {
        throw new RequestError(`The fire was refused: ${fire.msg}`, { task_uid: fire.task_uid });
      }
      return { success: true, msg: "", task_uid: fire.task_uid };
    },
  };
}
