/**
 * REManagerAPISync: the same calls, blocking, against a real manager; errors
 * rebuilt as the same classes; a timeout leaves it usable; a plain script
 * with no `await` uses the built package.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BFunc,
  BPlan,
  ClientClosedError,
  REManagerAPISync,
  RequestFailedError,
  RequestParameterError,
  RequestTimeoutError,
  WaitTimeoutError,
} from "../../src/client/index.js";
import { ROOT, startManager, type RunningManager } from "../helpers/manager.js";
import { GROUP, GUARDS, nowSec, USER, WAIT_S } from "./helpers.js";

let m: RunningManager;
let api: REManagerAPISync;

beforeAll(async () => {
  m = await startManager();
  api = new REManagerAPISync({
    zmqControlAddr: m.controlAddr,
    zmqInfoAddr: m.infoAddr,
    user: USER,
    userGroup: GROUP,
    checkReplies: true,
    ...GUARDS,
  });
});
afterAll(async () => {
  api.close();
  await m.stop();
});

describe("REManagerAPISync", () => {
  it("status, environment, execute, wait, result", () => {
    const s = api.status();
    expect(s.manager_state).toBe("idle");
    expect(api.status()).toEqual(s); // cached
    expect(api.request("config_get")).toMatchObject({ success: true });
    expect(api.environmentOpen()).toEqual({ success: true, msg: "" });
    const open = api.waitForIdle({ timeout: 120 });
    expect(open.worker_environment_exists).toBe(true);

    const r = api.functionExecute(new BFunc("function_sleep", [0.2]));
    expect(r.item).toMatchObject({
      name: "function_sleep",
      args: [0.2],
      user: USER,
      user_group: GROUP,
    });
    const uid = r.task_uid as string;
    expect(api.taskStatus(uid).status).toBe("running");
    expect(api.waitForCompletedTask(uid, { timeout: WAIT_S })).toEqual({ [uid]: "completed" });
    const back = nowSec();
    const res = api.taskResult(uid);
    expect(res.status).toBe("completed");
    const result = res.result as { success: boolean; return_value: unknown; time_stop: number };
    expect(result.return_value).toEqual({ success: true, time: 0.2 });
    expect(back).toBeGreaterThanOrEqual(result.time_stop);
    expect(api.waitForIdleOrPaused({ timeout: WAIT_S }).manager_state).toBe("idle");
  });

  it("lists with change markers, and the user set on the client", () => {
    const plans = api.plansAllowed();
    expect(Object.keys(plans.plans_allowed)).toContain("count");
    expect(api.plansAllowed()).toEqual(plans);
    api.user = "Another User";
    try {
      const r = api.functionExecute(new BFunc("function_sleep", [0]), { run_in_background: true });
      expect(r.item?.user).toBe("Another User");
      api.waitForCompletedTask(r.task_uid as string, { timeout: WAIT_S });
    } finally {
      api.user = USER;
    }
  });

  it("throws the same error classes as the async client", () => {
    let err: unknown;
    try {
      api.environmentOpen();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestFailedError);
    expect((err as RequestFailedError).response).toEqual({
      success: false,
      msg: "RE Worker environment already exists.",
    });
    expect((err as RequestFailedError).request).toEqual({ method: "environment_open", params: {} });
    expect(() => api.taskStatus(7 as unknown as string)).toThrow(RequestParameterError);
    expect(() =>
      api.waitForCompletedTask("nope", { timeout: 0.2, treatNotFoundAsCompleted: false }),
    ).toThrow(WaitTimeoutError);
  });

  it("console output through a blocking monitor", () => {
    const mon = api.consoleMonitor();
    expect(mon.ready(WAIT_S)).toBe(true);
    const r = api.functionExecute(new BFunc("function_sleep", [0.05]));
    api.waitForCompletedTask(r.task_uid as string, { timeout: WAIT_S });
    let text = "";
    for (let msg = mon.next(WAIT_S); msg !== undefined; msg = mon.next(WAIT_S)) {
      text += msg.msg;
      if (text.includes("Finished the function")) break;
    }
    expect(text).toContain("Starting the function 'function_sleep'");
    expect(text).toContain("Finished the function");
    expect(mon.next(0.05)).toBeUndefined();
    mon.close();
    api.waitForIdle({ timeout: WAIT_S });
  });

  it("times out against a stopped manager and works again once it runs", () => {
    const c = new REManagerAPISync({ zmqControlAddr: m.controlAddr, zmqInfoAddr: null, ...GUARDS });
    try {
      expect(c.ping().manager_state).toBe("idle");
      process.kill(m.proc.pid!, "SIGSTOP");
      let err: unknown;
      try {
        c.status({ reload: true, timeout: 0.3 });
      } catch (e) {
        err = e;
      } finally {
        process.kill(m.proc.pid!, "SIGCONT");
      }
      expect(err).toBeInstanceOf(RequestTimeoutError);
      expect(c.taskStatus("x")).toEqual({
        success: true,
        msg: "",
        task_uid: "x",
        status: "not_found",
      });
    } finally {
      c.close();
    }
    expect(() => c.ping()).toThrow(ClientClosedError);
  });

  describe("the queue", () => {
    it("adds a plan, runs the queue, finds it in the history", () => {
      api.queueClear();
      const added = api.itemAdd(new BPlan("count", [["det1"]], { num: 2 }));
      expect(added.qsize).toBe(1);
      expect(api.queueGet().items).toHaveLength(1);
      api.queueStart();
      const s = api.waitForIdle({ timeout: WAIT_S });
      expect(s.items_in_queue).toBe(0);
      const h = api.historyGet();
      expect(h.items[h.items.length - 1]).toMatchObject({
        name: "count",
        result: { exit_status: "completed" },
      });
    });
  });
});

describe("a plain script with no await (the built package)", () => {
  it("runs blocking calls top to bottom and exits by itself", () => {
    const script = path.join(m.tmpDir, "script.mjs");
    writeFileSync(
      script,
      `import { REManagerAPISync, BFunc } from ${JSON.stringify(path.join(ROOT, "dist/client/index.js"))};
const api = new REManagerAPISync({ zmqControlAddr: ${JSON.stringify(m.controlAddr)}, zmqInfoAddr: ${JSON.stringify(m.infoAddr)}, timeoutSend: 60, timeoutRecv: 60 });
const { task_uid } = api.functionExecute(new BFunc("function_sleep", [0.1]));
api.waitForCompletedTask(task_uid);
console.log(JSON.stringify(api.taskResult(task_uid).result.return_value));
// no close(): the script must still end
`,
    );
    const out = execFileSync(process.execPath, [script], { encoding: "utf8", timeout: 120_000 });
    expect(JSON.parse(out)).toEqual({ success: true, time: 0.1 });
  });
});
