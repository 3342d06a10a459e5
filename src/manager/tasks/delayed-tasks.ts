/**
 * The delayed tasks: a task accepted with a `delay` or `not_before` is
 * `scheduled` until that time (one timer for all, a DueTimer), then waits for
 * a worker as any pending task; it may be cancelled meanwhile. Its accepted
 * mark holds its call so that a restart submits it again (`resubmission`; one
 * whose time passed meanwhile runs once, at start). The lifecycle
 * (lifecycle.ts) submits them and decides what follows (DelayedHost).
 */
import { DueTimer, type Clock } from "../due-timer.js";
import type { StartAt, TaskLinks, TaskOptions } from "./lifecycle-context.js";
import type { FunctionCall } from "./task-record.js";
import type { ResumedTask } from "./task-restore.js";

/** What the delayed tasks ask of the lifecycle. */
export interface DelayedHost {
  /** The task's time has come: recorded `pending` (false: it no longer waits, e.g. cancelled). */
  due(uid: string): Promise<boolean>;
  /** It waits for a worker from now on. */
  ready(uid: string): void;
}

export class DelayedTasks {
  /** Scheduled tasks by their start. */
  private readonly timer: DueTimer;

  constructor(
    clock: Clock,
    private readonly host: DelayedHost,
  ) {
    this.timer = new DueTimer(clock, (uid) => void this.onDue(uid));
  }

  /** `uid` is scheduled until `at` (epoch ms). */
  set(uid: string, at: number): void {
    this.timer.set(uid, at);
  }

  /** `uid` no longer waits for its time. */
  delete(uid: string): void {
    this.timer.delete(uid);
  }

  close(): void {
    this.timer.close();
  }

  /** A scheduled task's time has come: it waits for a worker as any pending task. */
  private async onDue(uid: string): Promise<void> {
    if (!(await this.host.due(uid))) return;
    this.host.ready(uid);
  }
}

/**
 * At start, a delayed task found scheduled in the store is submitted again as
 * it was (uid, call, options, requester, time): the arguments of
 * TaskLifecycle.submit; one whose time has passed is due at once.
 */
export function resubmission({
  uid,
  accepted: a,
}: ResumedTask): [string, FunctionCall, boolean, TaskOptions & StartAt, undefined, TaskLinks] {
  const { at, call } = a;
  return [
    uid,
    { name: a.name, args: call.args, kwargs: call.kwargs },
    a.background,
    { ...(call.options as TaskOptions), startAt: at },
    undefined,
    {
      user: a.user ?? null,
      group: a.group ?? null,
      parent: a.parent ?? null,
      createdAt: a.createdAt,
      ...(a.dedup ? { dedup: a.dedup } : {}),
    },
  ];
}
