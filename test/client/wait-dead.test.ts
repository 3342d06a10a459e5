/** A wait never hangs on a manager that is gone: it ends with RequestTimeoutError. */
import { afterEach, expect, it } from "vitest";
import { BFunc, RequestTimeoutError, REManagerAPI } from "../../src/client/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";

let m: RunningManager | undefined;
let api: REManagerAPI | undefined;
afterEach(async () => {
  await api?.close();
  await m?.stop();
});

it("waitForCompletedTask gives up once the manager has not answered for unansweredTimeout", async () => {
  m = await startManager();
  api = new REManagerAPI({
    zmqControlAddr: m.controlAddr,
    zmqInfoAddr: m.infoAddr,
    timeoutRecv: 0.3,
    timeoutSend: 0.3,
  });
  await api.environmentOpen();
  await api.waitForIdle({ timeout: 20 });
  const { task_uid } = await api.functionExecute(new BFunc("function_sleep", [30]), {
    run_in_background: true,
  });
  const t0 = Date.now();
  const wait = api.waitForCompletedTask(task_uid as string, {
    timeout: 60,
    unansweredTimeout: 1.5,
  });
  await new Promise((r) => setTimeout(r, 300));
  m.proc.kill("SIGKILL");
  await expect(wait).rejects.toBeInstanceOf(RequestTimeoutError);
  const seconds = (Date.now() - t0) / 1000;
  expect(seconds).toBeGreaterThan(1.5);
  expect(seconds).toBeLessThan(10);
});
