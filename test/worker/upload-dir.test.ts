/**
 * Scripts uploaded to a worker are written to a temp directory of its own,
 * made and removed by the process that forks the worker: it is gone at
 * environment_close, and when the manager stops without closing the
 * environment first (it kills its workers).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { openEnvironment, waitCompleted } from "../helpers/tasks.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
let tmp: string | undefined;
afterEach(async () => {
  c?.close();
  await m?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  m = c = tmp = undefined;
});

/** The worker's upload directories in `dir`. */
const uploads = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("zqs-scripts-"));

async function startWithUpload(): Promise<{ dir: string }> {
  const dir = (tmp = mkdtempSync(path.join(os.tmpdir(), "zqs-uploads-")));
  // The worker's temp directory is the manager's (TMPDIR, inherited).
  m = await startManager({ env: { TMPDIR: dir } });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  const up = await c.request("script_upload", { script: "export const uploaded_value = 1;" });
  expect(up.success, String(up.msg)).toBe(true);
  expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
  expect(uploads(dir)).toHaveLength(1);
  return { dir };
}

it("removes the uploaded scripts at environment_close", async () => {
  const { dir } = await startWithUpload();
  const closed = await c?.request("environment_close");
  expect(closed?.success, String(closed?.msg)).toBe(true);
  await waitUntil(async () => (await c?.request("status"))?.worker_environment_exists === false);
  await waitUntil(() => uploads(dir).length === 0);
});

it("removes the uploaded scripts when the manager stops with the environment open", async () => {
  const { dir } = await startWithUpload();
  await m?.stop();
  m = undefined;
  await waitUntil(() => uploads(dir).length === 0);
});
