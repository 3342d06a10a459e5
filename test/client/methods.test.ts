/**
 * Every method of the protocol table, once, through the async client, against
 * a real manager behind a recording proxy: the test sees the exact request
 * that reached the manager and the exact reply it sent. A method the manager
 * serves must answer as the client returns it; a method it refuses (or does
 * not serve yet) must give a RequestFailedError carrying that very reply.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { REManagerAPI } from "../../src/client/index.js";
import { API_NAMES, BFunc, BPlan, RequestFailedError } from "../../src/client/index.js";
import type { MethodName } from "../../src/protocol/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS } from "../helpers/wait.js";
import { clientOf, GROUP, RecordingProxy, USER, WAIT_S } from "./helpers.js";

let m: RunningManager;
let proxy: RecordingProxy;
let api: REManagerAPI;
const outcomes = new Map<MethodName, string>();

beforeAll(async () => {
  m = await startManager();
  proxy = await RecordingProxy.start(m.controlAddr);
  api = clientOf({ controlAddr: proxy.address, infoAddr: m.infoAddr });
});

afterAll(async () => {
  await api.close();
  proxy.close();
  await m.stop();
  const refused = [...outcomes].filter(([, o]) => o !== "ok");
  // For the report: which methods the manager refuses (or does not serve yet).
  console.log(
    `methods answered success: ${[...outcomes].filter(([, o]) => o === "ok").length}/${outcomes.size}\n` +
      refused.map(([k, o]) => `  ${k}: ${o}`).join("\n"),
  );
});

/**
 * Run one client call; check the request that reached the manager, and that
 * the client's result (or RequestFailedError) is the manager's reply.
 */
async function exercise(
  expected: { method: MethodName; params: Record<string, unknown> },
  run: () => Promise<unknown>,
  mustSucceed = false,
): Promise<Record<string, unknown>> {
  const before = proxy.exchanges.length;
  let result: unknown;
  let error: unknown;
  try {
    result = await run();
  } catch (e) {
    error = e;
  }
  const mine = proxy.exchanges.slice(before).filter((e) => e.request.method === expected.method);
  expect(mine, `one '${expected.method}' request reached the manager`).toHaveLength(1);
  const ex = mine[0] as (typeof mine)[number];
  expect(ex.request).toEqual(expected);
  if (error !== undefined) {
    expect(error, (error as Error).message).toBeInstanceOf(RequestFailedError);
    const e = error as RequestFailedError;
    expect(e.response).toEqual(ex.reply);
    expect(e.request).toEqual(expected);
    expect(e.message).toBe(ex.reply?.msg);
    outcomes.set(expected.method, `success: false, ${JSON.stringify(e.message)}`);
    if (mustSucceed) throw new Error(`'${expected.method}' failed: ${e.message}`);
    return e.response;
  }
  expect(result).toEqual(ex.reply);
  outcomes.set(expected.method, "ok");
  return result as Record<string, unknown>;
}

const fn = (name: string, args: unknown[]) => ({ item_type: "function", name, args, kwargs: {} });
const count = { item_type: "plan", name: "count", args: [["det1"]], kwargs: { num: 1 } };
const who = { user: USER, user_group: GROUP };

describe("every method of the table, through REManagerAPI", () => {
  it("status, configuration and permissions", async () => {
    await exercise({ method: "ping", params: {} }, () => api.ping(), true);
    await exercise({ method: "status", params: {} }, () => api.status({ reload: true }), true);
    await exercise({ method: "config_get", params: {} }, () => api.configGet(), true);
    const metrics = await exercise({ method: "metrics", params: {} }, () => api.metrics(), true);
    expect(Object.keys(metrics.metrics as object)).toContain("tasks_by_state");
    const perms = await exercise(
      { method: "permissions_get", params: {} },
      () => api.permissionsGet(),
      true,
    );
    const doc = perms.user_group_permissions as Record<string, unknown>;
    await exercise(
      { method: "permissions_set", params: { user_group_permissions: doc } },
      () => api.permissionsSet(doc),
      true,
    );
    await exercise(
      { method: "permissions_reload", params: { restore_permissions: true } },
      () => api.permissionsReload({ restore_permissions: true }),
      true,
    );
  });

  it("plans and devices (environment closed)", async () => {
    await exercise(
      { method: "plans_allowed", params: { user_group: GROUP } },
      () => api.plansAllowed({}, { reload: true }),
      true,
    );
    await exercise({ method: "devices_allowed", params: { user_group: "admin" } }, () =>
      api.devicesAllowed({ user_group: "admin" }, { reload: true }),
    );
    await exercise(
      { method: "plans_existing", params: {} },
      () => api.plansExisting({ reload: true }),
      true,
    );
    await exercise(
      { method: "devices_existing", params: {} },
      () => api.devicesExisting({ reload: true }),
      true,
    );
  });

  it("environment, functions and tasks", async () => {
    await exercise({ method: "environment_open", params: {} }, () => api.environmentOpen(), true);
    const s = await api.waitForCondition((st) => st.manager_state === "idle", {
      timeout: ENV_OPEN_MS / 1000,
    });
    expect(s.worker_environment_exists).toBe(true);

    const r = await exercise(
      { method: "function_execute", params: { item: fn("function_sleep", [0.2]), ...who } },
      () => api.functionExecute(new BFunc("function_sleep", [0.2])),
      true,
    );
    const uid = r.task_uid as string;
    await exercise(
      { method: "task_status", params: { task_uid: uid } },
      () => api.taskStatus(uid),
      true,
    );
    await exercise(
      { method: "task_result", params: { task_uid: uid } },
      () => api.taskResult(uid),
      true,
    );
    await exercise({ method: "task_info", params: { task_uid: [uid] } }, () => api.taskInfo([uid]));
    await exercise({ method: "task_cancel", params: { task_uid: uid } }, () => api.taskCancel(uid));
    await api.waitForCompletedTask(uid, { timeout: WAIT_S });
    const retried = await exercise(
      { method: "task_retry", params: { task_uid: uid, ...who } },
      () => api.taskRetry(uid),
      true,
    );
    expect(retried).toMatchObject({ success: true, retry_of: uid });
    await api.waitForCompletedTask(retried.task_uid as string, { timeout: WAIT_S });
    // The client does not fill in tasks_list's `user`: there it selects, it does not ask.
    const listed = await exercise(
      { method: "tasks_list", params: { parent: "nobody", limit: 5 } },
      () => api.tasksList({ parent: "nobody", limit: 5 }),
      true,
    );
    expect(listed).toMatchObject({ tasks: [], cursor: null });
    await exercise({ method: "tasks_counts", params: {} }, () => api.tasksCounts(), true);
    const workers = await exercise(
      { method: "workers_list", params: {} },
      () => api.workersList(),
      true,
    );
    expect((workers.workers as { kind: string }[]).map((w) => w.kind)).toContain("local");

    const up = await exercise(
      {
        method: "script_upload",
        params: { script: "export const uploaded = 1;\n", run_in_background: true },
      },
      () => api.scriptUpload("export const uploaded = 1;\n", { run_in_background: true }),
    );
    if (typeof up.task_uid === "string")
      await api.waitForCompletedTask(up.task_uid, { timeout: WAIT_S });
    const upd = await exercise(
      { method: "environment_update", params: { run_in_background: true } },
      () => api.environmentUpdate({ run_in_background: true }),
    );
    if (typeof upd.task_uid === "string")
      await api.waitForCompletedTask(upd.task_uid, { timeout: WAIT_S });
    await exercise({ method: "kernel_interrupt", params: { interrupt_task: true } }, () =>
      api.kernelInterrupt({ interrupt_task: true }),
    );
    await api.waitForIdle({ timeout: WAIT_S });
  });

  it("queue and history", async () => {
    await exercise({ method: "queue_clear", params: {} }, () => api.queueClear());
    await exercise({ method: "queue_mode_set", params: { mode: { loop: false } } }, () =>
      api.queueModeSet({ loop: false }),
    );
    await exercise({ method: "queue_item_add", params: { item: count, pos: "back", ...who } }, () =>
      api.itemAdd(new BPlan("count", [["det1"]], { num: 1 }), { pos: "back" }),
    );
    await exercise(
      { method: "queue_item_add_batch", params: { items: [count, count], ...who } },
      () => api.itemAddBatch([new BPlan("count", [["det1"]], { num: 1 }), count]),
    );
    await exercise({ method: "queue_item_get", params: { pos: 0 } }, () => api.itemGet({ pos: 0 }));
    await exercise(
      {
        method: "queue_item_update",
        params: { item: { ...count, item_uid: "no-such-uid" }, replace: true, ...who },
      },
      () => api.itemUpdate({ ...count, item_uid: "no-such-uid" }, { replace: true }),
    );
    await exercise({ method: "queue_item_move", params: { pos: 0, pos_dest: "back" } }, () =>
      api.itemMove({ pos: 0, pos_dest: "back" }),
    );
    await exercise(
      { method: "queue_item_move_batch", params: { uids: ["no-such-uid"], pos_dest: "front" } },
      () => api.itemMoveBatch(["no-such-uid"], { pos_dest: "front" }),
    );
    await exercise({ method: "queue_item_remove", params: { pos: "back" } }, () =>
      api.itemRemove({ pos: "back" }),
    );
    await exercise(
      {
        method: "queue_item_remove_batch",
        params: { uids: ["no-such-uid"], ignore_missing: true },
      },
      () => api.itemRemoveBatch(["no-such-uid"], { ignore_missing: true }),
    );
    await exercise({ method: "queue_get", params: {} }, () => api.queueGet({ reload: true }));
    await exercise({ method: "queue_clear", params: {} }, () => api.queueClear());
    await exercise({ method: "queue_autostart", params: { enable: false } }, () =>
      api.queueAutostart(false),
    );
    await exercise({ method: "queue_start", params: {} }, () => api.queueStart());
    await exercise({ method: "queue_stop", params: {} }, () => api.queueStop());
    await exercise({ method: "queue_stop_cancel", params: {} }, () => api.queueStopCancel());
    await api.waitForIdle({ timeout: WAIT_S });
    await exercise({ method: "queue_item_execute", params: { item: count, ...who } }, () =>
      api.itemExecute(new BPlan("count", [["det1"]], { num: 1 })),
    );
    await api.waitForIdle({ timeout: WAIT_S });
    await exercise({ method: "history_get", params: {} }, () => api.historyGet({ reload: true }));
    await exercise({ method: "history_clear", params: { size: 0 } }, () =>
      api.historyClear({ size: 0 }),
    );
  });

  it("plan control", async () => {
    await exercise({ method: "re_pause", params: { option: "immediate" } }, () =>
      api.rePause("immediate"),
    );
    await exercise({ method: "re_resume", params: {} }, () => api.reResume());
    await exercise({ method: "re_stop", params: {} }, () => api.reStop());
    await exercise({ method: "re_abort", params: {} }, () => api.reAbort());
    await exercise({ method: "re_halt", params: {} }, () => api.reHalt());
    await exercise({ method: "re_runs", params: { option: "open" } }, () =>
      api.reRuns("open", {}, { reload: true }),
    );
    await exercise({ method: "re_metadata", params: {} }, () => api.reMetadata());
  });

  it("locks", async () => {
    await exercise(
      {
        method: "lock",
        params: { lock_key: "k-1", environment: true, note: "testing", user: USER },
      },
      () => api.lock("k-1", { environment: true, note: "testing" }),
    );
    await exercise({ method: "lock_info", params: { lock_key: "k-1" } }, () =>
      api.lockInfo("k-1", {}, { reload: true }),
    );
    await exercise({ method: "unlock", params: { lock_key: "k-1" } }, () => api.unlock("k-1"));
  });

  it("runs of many tasks", async () => {
    const f = fn("function_sleep", [0]);
    const run = await exercise(
      { method: "run_create", params: { function: f, count: 2, ...who } },
      () => api.runCreate(new BFunc("function_sleep", [0]), { count: 2 }),
    );
    const runTasks = (run.task_uids ?? []) as string[];
    if (runTasks.length > 0)
      await api.waitForCompletedTask(runTasks, { all: true, timeout: WAIT_S });
    await exercise({ method: "run_info", params: { run_uid: "no-such-run" } }, () =>
      api.runInfo("no-such-run"),
    );
    await exercise(
      { method: "run_restart", params: { run_uid: "no-such-run", everything: true } },
      () => api.runRestart("no-such-run", { everything: true }),
    );
    await exercise({ method: "run_delete", params: { run_uid: "no-such-run" } }, () =>
      api.runDelete("no-such-run"),
    );
    await exercise({ method: "runs_list", params: {} }, () => api.runsList());
  });

  it("schedules", async () => {
    const params = { every: 60, task: count, name: "nightly", misfire: "skip" as const };
    const created = await exercise(
      { method: "schedule_create", params: { ...params, ...who } },
      () => api.scheduleCreate(params),
      true,
    );
    const schedule_uid = created.schedule_uid as string;
    const one = { schedule_uid };
    await exercise({ method: "schedule_list", params: {} }, () => api.scheduleList(), true);
    await exercise(
      { method: "schedule_get", params: one },
      () => api.scheduleGet(schedule_uid),
      true,
    );
    await exercise(
      { method: "schedule_pause", params: one },
      () => api.schedulePause(schedule_uid),
      true,
    );
    await exercise(
      { method: "schedule_resume", params: one },
      () => api.scheduleResume(schedule_uid),
      true,
    );
    await exercise(
      { method: "schedule_update", params: { ...one, every: 120, ...who } },
      () => api.scheduleUpdate(schedule_uid, { every: 120 }),
      true,
    );
    const fired = await exercise(
      { method: "schedule_trigger", params: one },
      () => api.scheduleTrigger(schedule_uid),
      true,
    );
    expect(fired.task_uid).toEqual(expect.any(String));
    await exercise(
      { method: "schedule_delete", params: one },
      () => api.scheduleDelete(schedule_uid),
      true,
    );
  });

  it("closing the environment, and the manager methods", async () => {
    await api.waitForIdle({ timeout: WAIT_S });
    await exercise({ method: "environment_close", params: {} }, () => api.environmentClose(), true);
    const s = await api.waitForCondition(
      (st) => st.manager_state === "idle" && !st.worker_environment_exists,
      {
        timeout: WAIT_S,
      },
    );
    expect(s.worker_environment_exists).toBe(false);
    // Nothing to destroy now: refused, and the error carries the reply.
    const d = await exercise({ method: "environment_destroy", params: {} }, () =>
      api.environmentDestroy(),
    );
    expect(d.success).toBe(false);
    const t = await exercise({ method: "manager_test", params: { test_name: "x" } }, () =>
      api.managerTest({ test_name: "x" }),
    );
    expect(t.success).toBe(false);
    const k = await exercise({ method: "manager_kill", params: {} }, () => api.managerKill());
    expect(k.success).toBe(false);
    await exercise(
      { method: "manager_stop", params: { option: "safe_on" } },
      () => api.managerStop("safe_on"),
      true,
    );
    expect(await m.exited).toBe(0);
  });

  it("exercised every method of the table", () => {
    expect([...outcomes.keys()].sort()).toEqual(Object.keys(API_NAMES).sort());
  });
});
