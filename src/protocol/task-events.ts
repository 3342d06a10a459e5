/**
 * The names of the QS_Task events (the info socket's task topic, the
 * gateway's `task` events): one table that the registry emits from and the
 * dashboard reads (generated into dashboard/generated/routes.js).
 */
export const TASK_EVENTS = {
  sent: "task-sent",
  due: "task-due",
  received: "task-received",
  started: "task-started",
  progress: "task-progress",
  requeued: "task-requeued",
  retried: "task-retried",
  succeeded: "task-succeeded",
  failed: "task-failed",
  revoked: "task-revoked",
  timeout: "task-timeout",
  expired: "task-expired",
} as const;

export type TaskEventName = (typeof TASK_EVENTS)[keyof typeof TASK_EVENTS];
