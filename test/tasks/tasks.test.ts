/**
 * Environment and tasks against a real manager, a real forked worker and the
 * example profile: the cases of vectors.json in shape, plus what the Python
 * server lacks (instant completion, supervision).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { gateModule, newGate } from "../helpers/startup.js";
import {
  execute,
  fn,
  info,
  msOf,
  openEnvironment,
  USER,
  waitCompleted,
  waitInfo,
} from "../helpers/tasks.js";
import { ENV_OPEN_MS, sleep, waitUntil } from "../helpers/wait.js";

let m: RunningManager;
let c: RawClient;

beforeAll(async () => {
  m = await startManager();
  c = new RawClient(m.controlAddr);
});
afterAll(async () => {
  c.close();
  await m.stop();
});

describe("with the environment closed", () => {
  it("refuses close, destroy and function_execute as the vectors show", async () => {
    expect(await c.request("environment_close")).toEqual({
      success: false,
      msg: "RE Worker environment does not exist.",
    });
    expect(await c.request("environment_destroy")).toEqual({
      success: false,
      msg: "RE environment does not exist",
    });
    const r = await c.request("function_execute", { item: fn("function_sleep", [0.2]), ...USER });
    expect(r.success).toBe(false);
    expect(r.msg).toBe("Error: RE Worker environment is not open");
    expect(r.task_uid).toBeNull();
    const item = r.item as Record<string, unknown>;
    expect(Object.keys(item)).toEqual([
      "item_type",
      "name",
      "args",
      "user",
      "user_group",
      "item_uid",
    ]);
    const s = await c.request("script_upload", { script: "export const x = 1;" });
    expect(s).toEqual({ success: false, msg: "RE Worker environment is not open", task_uid: null });
    expect(await c.request("task_status", { task_uid: "no-such-uid" })).toEqual({
      success: true,
      msg: "",
      task_uid: "no-such-uid",
      status: "not_found",
    });
  });
});

describe("opening the environment", () => {
  it("replies at once, reports creating_environment, then idle with the environment open", async () => {
    expect(await c.request("environment_open")).toEqual({ success: true, msg: "" });
    const s1 = await c.request("status");
    expect(s1.manager_state).toBe("creating_environment");
    expect(s1.worker_environment_exists).toBe(false);
    const again = await c.request("environment_open");
    expect(again).toEqual({
      success: false,
      msg: "Manager is already in the process of creating the RE Worker environment.",
    });
    await waitUntil(
      async () => (await c.request("status")).worker_environment_exists === true,
      ENV_OPEN_MS,
    );
    const s = await c.request("status");
    expect(s).toMatchObject({
      manager_state: "idle",
      worker_environment_exists: true,
      worker_environment_state: "idle",
      re_state: "idle",
      ip_kernel_state: "disabled",
      ip_kernel_captured: true,
    });
    expect(await c.request("environment_open")).toEqual({
      success: false,
      msg: "RE Worker environment already exists.",
    });
  });
});

describe("function_execute", () => {
  beforeAll(async () => {
    // func_for_test_gate(marker): runs until the test creates the file.
    const up = await c.request("script_upload", { script: gateModule("func_for_test_gate") });
    expect(up.success, String(up.msg)).toBe(true);
    expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  });

  it("runs a foreground task: item shape, running result, refusal of a second one, completion", async () => {
    const gate = newGate();
    const r = await c.request("function_execute", {
      item: fn("func_for_test_gate", [gate.path]),
      ...USER,
    });
    expect(r.success).toBe(true);
    const item = r.item as Record<string, unknown>;
    expect(Object.keys(item)).toEqual(["name", "args", "kwargs", "user", "user_group", "item_uid"]);
    expect(item).toMatchObject({
      name: "func_for_test_gate",
      args: [gate.path],
      kwargs: {},
      ...USER,
    });
    expect(r.task_uid).toBe(item.item_uid);
    const uid = r.task_uid as string;

    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");
    const running = await c.request("task_result", { task_uid: uid });
    expect(running.status).toBe("running");
    const rr = running.result as Record<string, unknown>;
    expect(Object.keys(rr).sort()).toEqual(["run_in_background", "task_uid", "time_start"]);
    expect(rr.run_in_background).toBe(false);
    expect((await c.request("status")).manager_state).toBe("executing_task");

    const refused = await c.request("function_execute", {
      item: fn("function_sleep", [0.2]),
      ...USER,
    });
    expect(refused.success).toBe(false);
    expect(refused.msg).toBe(
      "Error: Failed to start the task: RE Manager must be in idle state. Current state: 'executing_task'",
    );
    expect(refused.task_uid).toBeNull();

    gate.open();
    const result = await waitCompleted(c, uid);
    expect(result).toMatchObject({ task_uid: uid, success: true, msg: "", traceback: "" });
    expect(Object.keys(result).sort()).toEqual(
      ["msg", "return_value", "success", "task_uid", "time_start", "time_stop", "traceback"].sort(),
    );
    expect((await c.request("status")).manager_state).toBe("idle");

    // function_sleep, as in the vectors: its value, and the time it took.
    const slept = await waitCompleted(c, await execute(c, fn("function_sleep", [0.3])));
    expect(slept).toMatchObject({ success: true, return_value: { success: true, time: 0.3 } });
    expect((slept.time_stop as number) - (slept.time_start as number)).toBeGreaterThanOrEqual(0.29);
  });

  it("runs background tasks beside a foreground one and counts them", async () => {
    const [bgGate, fgGate] = [newGate(), newGate()];
    const bg = await execute(c, fn("func_for_test_gate", [bgGate.path]), {
      run_in_background: true,
    });
    const s = await c.request("status");
    expect(s.worker_background_tasks).toBe(1);
    expect(s.manager_state).toBe("idle");
    const bgResult = await c.request("task_result", { task_uid: bg });
    expect((bgResult.result as Record<string, unknown>).run_in_background).toBe(true);
    const fg = await execute(c, fn("func_for_test_gate", [fgGate.path]));
    const st = await c.request("task_status", { task_uid: [bg, fg, "no-such-uid"] });
    expect(st.task_uid).toEqual([bg, fg, "no-such-uid"]);
    expect(st.status).toEqual({ [bg]: "running", [fg]: "running", "no-such-uid": "not_found" });
    fgGate.open();
    await waitCompleted(c, fg);
    expect((await c.request("task_status", { task_uid: bg })).status).toBe("running");
    bgGate.open();
    const r = await waitCompleted(c, bg);
    expect(r.success).toBe(true);
    expect((await c.request("status")).worker_background_tasks).toBe(0);
  });

  it("worker_tags with the one local worker (--workers 1): the task waits, others pass it; foreground is refused", async () => {
    // The local worker has no tags: a task asking for one waits for a worker that has it.
    const tagged = await execute(c, fn("function_sleep", [0]), {
      run_in_background: true,
      worker_tags: ["nope"],
    });
    const waiting = await waitInfo(c, tagged, (i) => i.message !== null || i.state !== "pending");
    expect(waiting.state).toBe("pending");
    expect(waiting.message).toBe(
      "Waiting: no connected worker with the tags nope offers the function 'function_sleep'",
    );
    // A task without tags, made after it, is dealt past it and runs; the tagged one still waits.
    const plain = await execute(c, fn("function_sleep", [0]), { run_in_background: true });
    expect((await waitCompleted(c, plain)).success).toBe(true);
    expect((await info(c, tagged)).state).toBe("pending");
    expect((await c.request("task_cancel", { task_uid: tagged })).result).toBe("cancelled");

    // A foreground task runs in the main worker, which has no tags: refused, saying why.
    const fg = await c.request("function_execute", {
      item: fn("function_sleep", [0]),
      worker_tags: ["nope"],
      ...USER,
    });
    expect(fg.success).toBe(false);
    expect(fg.msg).toBe(
      "Error: 'worker_tags' applies to background tasks only: a foreground task runs in the manager's main worker (set 'run_in_background')",
    );
    expect(fg.task_uid).toBeNull();
    expect((await c.request("status")).manager_state).toBe("idle");
  });

  it("records a task's end when the worker reports it (how soon: bench/tasks.ts)", async () => {
    const uid = await execute(c, fn("function_sleep", [0]));
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(true);
    // The manager's end time follows the worker's own: the end was reported, not guessed.
    const i = await info(c, uid);
    expect(i.state).toBe("completed");
    expect(msOf(i.ended_at)).toBeGreaterThanOrEqual(Math.floor((r.time_stop as number) * 1000));
  });

  it("a throwing function gives success false with msg and traceback", async () => {
    const uid = await execute(c, fn("pop_buffer_element"), { user_group: "test_user" });
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(false);
    expect(r.msg).toMatch(
      /^Error occurred while executing 'Execute function': .*pop from empty list/,
    );
    expect(String(r.traceback)).toContain("pop from empty list");
    expect(r.return_value).toBeNull();
  });

  it("task_retry runs an ended task's call again with its options, linked both ways; refuses one not ended or unknown", async () => {
    const first = await execute(c, fn("function_sleep", [0.05]), {
      run_in_background: true,
      timeout: 30,
      priority: 2,
    });
    await waitCompleted(c, first);
    const r = await c.request("task_retry", { task_uid: first, ...USER });
    expect(r, String(r.msg)).toMatchObject({ success: true, msg: "", retry_of: first });
    const second = r.task_uid as string;
    expect(second).not.toBe(first);
    expect((await waitCompleted(c, second)).success).toBe(true);
    const i = (await info(c, second)) as unknown as Record<string, unknown>;
    expect(i).toMatchObject({
      name: "function_sleep",
      retry_of: first,
      args: [0.05],
      kwargs: {},
      options: { timeout: 30, priority: 2 },
    });
    expect(((await info(c, first)) as unknown as { retries: string[] }).retries).toEqual([second]);

    const long = await execute(c, fn("function_sleep", [30]), { run_in_background: true });
    const busy = await c.request("task_retry", { task_uid: long, ...USER });
    expect(busy).toMatchObject({ success: false, task_uid: null, retry_of: long });
    expect(busy.msg).toMatch(/cannot be retried: it has not ended \(it is (pending|running)\)/);
    await c.request("task_cancel", { task_uid: long });
    const unknown = await c.request("task_retry", { task_uid: "no-such-task", ...USER });
    expect(unknown).toMatchObject({ success: false, task_uid: null });
    expect(unknown.msg).toMatch(/Task 'no-such-task' is not known/);
    const missing = await c.request("task_retry", { ...USER });
    expect(missing.success).toBe(false);
    expect(missing.msg).toMatch(/Required 'task_uid' parameter is missing/);
  });

  it("bad arguments and a missing function fail as task results", async () => {
    const bad = await waitCompleted(c, await execute(c, fn("function_sleep", ["abc"])));
    expect(bad.success).toBe(false);
    expect(bad.msg).toMatch(/^Error occurred while executing 'Execute function': /);
    const missing = await waitCompleted(c, await execute(c, fn("func_for_test_missing", [1])));
    expect(missing.success).toBe(false);
    expect(missing.msg).toBe(
      "Error occurred while executing 'Execute function': Function 'func_for_test_missing' is not found in the worker namespace",
    );
  });

  it("refuses bad requests with the Python server's messages, echoing the item", async () => {
    const item = fn("function_sleep", [0.2]);
    const cases: [Record<string, unknown>, string, unknown][] = [
      [
        { item: fn("pop_buffer_element"), ...USER },
        "Error: Function 'pop_buffer_element' is not allowed for users from 'primary' group.",
        fn("pop_buffer_element"),
      ],
      [
        { item, user: "Golden User" },
        "Error: Incorrect request format: user group is not specified",
        item,
      ],
      [
        { item, user_group: "primary" },
        "Error: Incorrect request format: user name is not specified",
        item,
      ],
      [
        { item, user: "u", user_group: "no_such_group" },
        "Error: Unknown user group: 'no_such_group'",
        item,
      ],
      [{ ...USER }, "Error: Incorrect request format: request contains no item info", null],
      [
        { item: { ...item, item_type: "plan" }, ...USER },
        "Error: Incorrect request format: unsupported 'item_type' value: 'plan', supported item types ('function',)",
        { ...item, item_type: "plan" },
      ],
      [
        { item: { name: "function_sleep" }, ...USER },
        "Error: Incorrect request format: 'item_type' key is not found",
        { name: "function_sleep" },
      ],
      [
        { item, ...USER, foo: 1 },
        "Error: API request contains unsupported parameters: 'foo'.",
        null,
      ],
    ];
    for (const [params, msg, echoed] of cases) {
      const r = await c.request("function_execute", params);
      expect(r.success).toBe(false);
      expect(String(r.msg).startsWith(msg), `${String(r.msg)} vs ${msg}`).toBe(true);
      expect(r.item).toEqual(echoed);
      expect(r.task_uid).toBeNull();
    }
  });

  it("a refused item echoes the user and group applied, never those the item claims", async () => {
    const forged = { user: "root", user_group: "admin" };
    // Refused after the requester is known: the item carries the applied user and group.
    const notAllowed = await c.request("function_execute", {
      item: { ...fn("pop_buffer_element"), ...forged },
      ...USER,
    });
    expect(notAllowed.msg).toMatch(/is not allowed for users from 'primary'/);
    expect(notAllowed.item).toEqual({ ...fn("pop_buffer_element"), ...USER });
    const wrongType = await c.request("function_execute", {
      item: { ...fn("function_sleep"), item_type: "plan", ...forged },
      ...USER,
    });
    expect(wrongType.msg).toMatch(/unsupported 'item_type' value/);
    expect(wrongType.item).toEqual({ ...fn("function_sleep"), item_type: "plan", ...USER });
    // Refused before any requester is applied, or for a bad parameter: the claims are left out.
    const unknownGroup = await c.request("function_execute", {
      item: { ...fn("function_sleep"), ...forged },
      user: "u",
      user_group: "no_such_group",
    });
    expect(unknownGroup.msg).toMatch(/Unknown user group/);
    expect(unknownGroup.item).toEqual(fn("function_sleep"));
    const badTimeout = await c.request("function_execute", {
      item: { ...fn("function_sleep"), ...forged },
      ...USER,
      timeout: -1,
    });
    expect(badTimeout.msg).toMatch(/'timeout'/);
    expect(badTimeout.item).toEqual(fn("function_sleep"));
  });
});

describe("script_upload and environment_update", () => {
  it("adds the module's exports to the environment; a syntax error is a failed task", async () => {
    const script = [
      "export function func_for_test_golden(x) {",
      "  console.log('func_for_test_golden called');",
      "  return { doubled: x * 2, pi: 3.14159, none: null, list: [1, 2.5, 'a'], unicode: 'caf\\u00e9' };",
      "}",
      "export function golden_not_allowed(x) { return x; }",
    ].join("\n");
    const up = await c.request("script_upload", { script });
    expect(up.success).toBe(true);
    const upResult = await waitCompleted(c, up.task_uid as string);
    expect(upResult).toMatchObject({ success: true, return_value: null });
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
    const r = await waitCompleted(c, await execute(c, fn("func_for_test_golden", [21])));
    expect(r.return_value).toEqual({
      doubled: 42,
      pi: 3.14159,
      none: null,
      list: [1, 2.5, "a"],
      unicode: "café",
    });
    const refused = await c.request("function_execute", {
      item: fn("golden_not_allowed", [1]),
      ...USER,
    });
    expect(refused.success).toBe(false);

    const broken = await c.request("script_upload", { script: "export function broken(:\n" });
    expect(broken.success).toBe(true);
    const br = await waitCompleted(c, broken.task_uid as string);
    expect(br.success).toBe(false);
    expect(br.msg).toMatch(
      /^Error occurred while executing 'Load script': Failed to execute stript: /,
    );
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");

    const missing = await c.request("script_upload", {});
    expect(missing).toEqual({
      success: false,
      msg: "Error: Required 'script' parameter is is missing in API call.",
      task_uid: null,
    });

    const bg = await c.request("script_upload", {
      script: "export const golden_var = 1;\n",
      run_in_background: true,
    });
    expect((await waitCompleted(c, bg.task_uid as string)).success).toBe(true);

    const upd = await c.request("environment_update");
    expect(upd.success).toBe(true);
    expect((await waitCompleted(c, upd.task_uid as string)).success).toBe(true);
  });
});

describe("plans, devices and permissions", () => {
  it("lists what the worker found, filtered by group", async () => {
    const existing = await c.request("plans_existing");
    const plans = existing.plans_existing as Record<string, Record<string, unknown>>;
    expect(plans.count).toBeDefined();
    expect(plans._sim_plan_inner).toBeDefined();
    const allowed = await c.request("plans_allowed", { user_group: "primary" });
    const ap = allowed.plans_allowed as Record<string, unknown>;
    expect(ap.count).toBeDefined();
    expect(ap._sim_plan_inner).toBeUndefined();
    expect(Object.keys(ap).length).toBe(Object.keys(plans).length - 1);
    const tu = (await c.request("plans_allowed", { user_group: "test_user" }))
      .plans_allowed as Record<string, unknown>;
    expect(tu.count).toBeDefined();
    expect(tu.mv).toBeUndefined();
    const dev = (await c.request("devices_allowed", { user_group: "test_user" }))
      .devices_allowed as Record<string, unknown>;
    expect(dev.det1).toBeDefined();
    expect(dev.det3).toBeUndefined();
    expect(dev.motor1).toBeUndefined();
    expect(dev.motor).toBeDefined();
    expect(await c.request("plans_allowed", {})).toEqual({
      success: false,
      msg: "Incorrect request format: user group is not specified",
      plans_allowed: {},
      plans_allowed_uid: null,
    });
    expect(await c.request("plans_allowed", { user_group: "no_such_group" })).toMatchObject({
      success: false,
      msg: "Unknown user group: 'no_such_group'",
    });
  });

  it("gets, sets and reloads permissions; set refuses a document without root", async () => {
    const got = await c.request("permissions_get");
    const doc = got.user_group_permissions as Record<string, Record<string, unknown>>;
    expect(Object.keys(doc.user_groups ?? {})).toEqual(["root", "primary", "test_user"]);
    const before = (await c.request("status")).plans_allowed_uid;
    expect(await c.request("permissions_set", { user_group_permissions: doc })).toEqual({
      success: true,
      msg: "",
    });
    expect((await c.request("status")).plans_allowed_uid).not.toBe(before);
    const bad = await c.request("permissions_set", {
      user_group_permissions: { user_groups: { primary: {} } },
    });
    expect(bad.success).toBe(false);
    expect(String(bad.msg)).toContain("Missing required user group: 'root'");
    expect(await c.request("permissions_reload")).toEqual({ success: true, msg: "" });
  });
});

describe("supervision", () => {
  it("kill -9 of the worker mid-task fails the task from the exit (not heartbeats) and the manager keeps serving", async () => {
    const uid = await execute(c, fn("func_for_test_gate", [newGate().path]));
    const [pid] = childPids(m.proc.pid as number);
    expect(pid).toBeDefined();
    process.kill(pid as number, "SIGKILL");
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(false);
    // Noticed from the process's exit and its signal, not from missing heartbeats.
    expect(String(r.msg)).toMatch(/worker process was lost \(signal SIGKILL\)/);
    const s = await c.request("status");
    expect(s).toMatchObject({
      worker_environment_exists: false,
      manager_state: "idle",
      worker_environment_state: "closed",
    });
  });

  it("a stopped (frozen) worker is detected by its missing heartbeats", async () => {
    await openEnvironment(c);
    const uid = await execute(c, fn("function_sleep", [3600]), { run_in_background: true });
    const [pid] = childPids(m.proc.pid as number);
    process.kill(pid as number, "SIGSTOP");
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(false);
    expect(String(r.msg)).toMatch(/heartbeats/);
    expect((await c.request("status")).worker_environment_exists).toBe(false);
  });

  it("destroy ends a worker stuck in an endless loop", async () => {
    await openEnvironment(c);
    const up = await c.request("script_upload", {
      script: [
        'import { writeFileSync } from "node:fs";',
        "export function func_for_test_spin(marker) { writeFileSync(marker, ''); for (;;) {} }",
      ].join("\n"),
    });
    await waitCompleted(c, up.task_uid as string);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
    const looping = path.join(m.tmpDir, "looping");
    const uid = await execute(c, fn("func_for_test_spin", [looping]), { run_in_background: true });
    await waitUntil(() => existsSync(looping));
    // Longer than the heartbeat timeout (1 s), on purpose: the worker is busy
    // but alive, since heartbeats come from their own thread.
    await sleep(1500);
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");
    expect(await c.request("environment_destroy")).toEqual({ success: true, msg: "" });
    const r = await waitCompleted(c, uid);
    expect(r.success).toBe(false);
    expect(String(r.msg)).toMatch(/destroyed/);
    await waitUntil(async () => (await c.request("status")).worker_environment_exists === false);
    expect((await c.request("status")).manager_state).toBe("idle");
  });

  it("close finishes the worker; completed results survive it", async () => {
    await openEnvironment(c);
    const uid = await execute(c, fn("function_sleep", [0]));
    await waitCompleted(c, uid);
    expect(await c.request("environment_close")).toEqual({ success: true, msg: "" });
    await waitUntil(async () => {
      const s = await c.request("status");
      return s.worker_environment_exists === false && s.manager_state === "idle";
    });
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("completed");
  });
});
