/** A wait never hangs on a manager that is gone: it ends with RequestTimeoutError. */
import { afterEach, expect, it } from "vitest";
import {
  BFunc,
  RequestTimeoutError,
  REManagerAPI,
  WaitMonitor,
  WaitTimeoutError,
} from "../../src/client/index.js";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { waitUntil } from "../helpers/wait.js";
import { clientOf, openEnvironment } from "./helpers.js";

let m: RunningManager | undefined;
let api: REManagerAPI | undefined;
afterEach(async () => {
  await api?.close();
  await m?.stop();
});

it("waitForCompletedTask gives up once the manager has not answered for unansweredTimeout", async () => {
  m = await startManager();
  // A task that runs for an hour, started by a client with generous timeouts.
  const helper = clientOf(m);
  let task_uid: string;
  try {
    await openEnvironment(helper);
    const r = await helper.functionExecute(new BFunc("function_sleep", [3600]), {
      run_in_background: true,
    });
    task_uid = r.task_uid as string;
  } finally {
    await helper.close();
  }
  // The waiting client: each request given up after 0.5 s, the wait after 3 s of silence.
  api = new REManagerAPI({
    zmqControlAddr: m.controlAddr,
    zmqInfoAddr: m.infoAddr,
    timeoutRecv: 0.5,
    timeoutSend: 0.5,
  });
  const t0 = Date.now();
  const monitor = new WaitMonitor();
  const wait = api.waitForCompletedTask(task_uid, {
    timeout: 3600,
    unansweredTimeout: 3,
    monitor,
  });
  // The manager has answered the wait; then it is gone.
  await waitUntil(() => monitor.progress !== undefined);
  m.proc.kill("SIGKILL");
  const err = await wait.catch((e: unknown) => e);
  // The manager's silence ended it (not the wait's own hour).
  expect(err).toBeInstanceOf(RequestTimeoutError);
  expect(err).not.toBeInstanceOf(WaitTimeoutError);
  expect((Date.now() - t0) / 1000).toBeGreaterThan(3);
});
