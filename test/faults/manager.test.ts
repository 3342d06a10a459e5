/**
 * Faults of the manager itself:
 *  - a store path that cannot be written (under a regular file) or a control
 *    address already taken: a clear error on stderr and a non-zero exit code,
 *    the process ending by itself;
 *  - `kill -9` of the manager during queue execution leaves no orphan: its
 *    worker (running the plan) exits by itself. The restart on the same store
 *    is covered by test/queue/recovery.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, freePort, RawClient, startManager, waitUntil } from "../helpers/manager.js";
import { childPids, runProcess, type RunResult } from "../helpers/process.js";
import { openEnvironment, USER } from "../helpers/tasks.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-faults-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run `zqs manager ...args` to its end (it must end by itself: runProcess's guard). */
function runManager(args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [CLI, "manager", ...args]);
}

/** Running (a zombie waiting to be reaped by its new parent counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe("start-up failures", () => {
  it("a store path under a regular file: a clear error on stderr, exit code 1", async () => {
    const dir = tempDir();
    const file = path.join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const storePath = path.join(file, "store");
    const r = await runManager([
      "--zmq-control-addr",
      `tcp://127.0.0.1:${await freePort()}`,
      "--store-path",
      storePath,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `zqs manager: failed to start: Cannot open the store at ${storePath}: ENOTDIR`,
    );
  });

  it("a control address already taken: a clear error on stderr, exit code 1", async () => {
    const m = await startManager({ examples: false, publishConsole: false });
    cleanup.push(() => m.stop());
    const r = await runManager([
      "--zmq-control-addr",
      m.controlAddr,
      "--store-path",
      path.join(tempDir(), "store"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/zqs manager: failed to start: .*[Aa]ddress already in use/);
    // The first manager is unharmed.
    const c = new RawClient(m.controlAddr);
    cleanup.push(() => c.close());
    expect((await c.request("status")).manager_state).toBe("idle");
  });
});

describe("kill -9 of the manager during queue execution", () => {
  it("the worker running the plan exits by itself: no orphan keeps running user code", async () => {
    const m = await startManager({ publishConsole: false });
    cleanup.push(() => m.stop());
    const c = new RawClient(m.controlAddr);
    cleanup.push(() => c.close());
    await openEnvironment(c);
    const add = await c.request("queue_item_add", {
      item: {
        item_type: "plan",
        name: "count",
        args: [["det1"]],
        kwargs: { num: 10_000, delay: 0.1 },
      },
      ...USER,
    });
    expect(add.success, String(add.msg)).toBe(true);
    expect((await c.request("queue_start")).success).toBe(true);
    const uid = (add.item as { item_uid: string }).item_uid;
    await waitUntil(async () => (await c.request("status")).running_item_uid === uid);
    const [worker] = childPids(m.proc.pid as number);
    expect(worker).toBeDefined();
    cleanup.push(() => {
      if (isAlive(worker as number)) process.kill(worker as number, "SIGKILL");
    });

    await m.kill9();
    // Gone long before its plan (1,000 s) could end.
    await waitUntil(() => !isAlive(worker as number));
  });
});
