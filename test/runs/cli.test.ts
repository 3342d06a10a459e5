/** `zqs run create|info|wait|restart|delete|list` through the built binary, on a pool of 2 workers. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { json, zqs } from "../cli/helpers.js";
import { RawClient, type RunningManager } from "../helpers/manager.js";
import { openEnvironment } from "../helpers/tasks.js";
import { startPool } from "../pool/helpers.js";

let pool: RunningManager;
let at: string[];
let dir: string;

beforeAll(async () => {
  pool = await startPool(2);
  // --timeout: a failure guard for each reply (the default, 2 s, is short for a busy machine).
  at = ["-a", pool.controlAddr, "--info-address", pool.infoAddr, "--timeout", "60"];
  const c = new RawClient(pool.controlAddr);
  await openEnvironment(c);
  c.close();
  dir = mkdtempSync(path.join(os.tmpdir(), "zqs-run-cli-"));
});
afterAll(async () => {
  await pool.stop();
  rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => zqs([...at, ...args]);

interface Info {
  run_uid: string;
  num_tasks: number;
  num_done: number;
  num_failed: number;
  num_computing: number;
  num_waiting: number;
  percent_done: number;
  task_uids: string[];
}

it("run create --wait shows progress and prints the counts; info, list, delete", async () => {
  const r = await run(
    "run",
    "create",
    "halfway",
    "0.05",
    "--count",
    "20",
    "--concurrency",
    "4",
    "--wait",
  );
  expect(r.stderr).toMatch(/^run: \d+\/20/m); // the progress lines (stderr is not a terminal)
  expect(r.stderr).toMatch(/run: 20\/20.*completed/);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^run_uid: [0-9a-f-]{36}$/m);
  expect(r.stdout).toMatch(/20 tasks: 20 done, 0 failed, 0 computing, 0 waiting \(100%\)/);
  const uid = /run_uid: (\S+)/.exec(r.stdout)?.[1] as string;

  const info = json<Info>(await run("--json", "run", "info", uid));
  expect(info).toMatchObject({ run_uid: uid, num_tasks: 20, num_done: 20, percent_done: 100 });
  expect(info.task_uids).toHaveLength(20);
  expect((await run("run", "list")).stdout).toContain(`${uid}  halfway  20/20 done, 0 failed`);
  expect((await run("run", "delete", uid)).code).toBe(0);
  const gone = await run("run", "info", uid);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toMatch(/not found/);
  expect((await run("run", "list")).stdout.trim()).toBe("no runs");
});

it("a run with failures exits 1; run restart re-runs them; --items gives each task its arguments", async () => {
  const marker = path.join(dir, "fixed");
  const bad = JSON.stringify([0, 2]);
  const created = await run("run", "create", "picky", bad, marker, "--count", "4", "--wait");
  expect(created.code).toBe(1);
  expect(created.stderr).toMatch(/2 of 4 tasks failed/);
  const uid = /run_uid: (\S+)/.exec(created.stdout)?.[1] as string;
  writeFileSync(marker, "");
  const restarted = await run("run", "restart", uid);
  expect(restarted.code).toBe(0);
  expect(restarted.stdout).toMatch(/restarted 2 task\(s\)/);
  const waited = await run("run", "wait", uid);
  expect(waited.code, waited.stderr).toBe(0);
  expect(waited.stdout).toMatch(/4 tasks: 4 done, 0 failed/);

  const items = JSON.stringify([{ args: [10] }, { args: [20], kwargs: { b: 2 } }]);
  const made = json<{ run_uid: string; task_uids: string[] }>(
    await run("--json", "run", "create", "where", "--kwargs", '{"a": 1}', "--items", items),
  );
  expect(made.task_uids).toHaveLength(2);
  await run("run", "wait", made.run_uid);
  const second = json<{ result: { return_value: unknown } }>(
    await run("--json", "task", "result", made.task_uids[1] as string),
  );
  expect(second.result.return_value).toEqual({
    run: { uid: made.run_uid, index: 1 },
    x: 20,
    a: 1,
    b: 2,
  });
  const usage = await run("run", "create", "noop");
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(/either --count or --items/);
});
