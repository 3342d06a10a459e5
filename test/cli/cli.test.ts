/**
 * The client commands of `zqs`, run through the built binary against a real
 * manager: human output, `--json`, exit codes (0 ok, 1 refused or failed,
 * 2 usage, 3 timeout), progress lines on stderr while waiting.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATUS_KEYS } from "../../src/protocol/index.js";
import { CLI, freePort, RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { gateModule, newGate } from "../helpers/startup.js";
import { waitCompleted } from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";
import { json, zqs } from "./helpers.js";

let m: RunningManager;
let at: string[];

beforeAll(async () => {
  m = await startManager();
  // --timeout: a failure guard for reaching the manager and each reply (the
  // defaults, 5 s to reach the manager and 2 s per reply, are short for a busy machine).
  at = ["-a", m.controlAddr, "--info-address", m.infoAddr, "--timeout", "60"];
});
afterAll(async () => {
  await m.stop();
});

const run = (...args: string[]) => zqs([...at, ...args]);

/** Add `func_for_test_gate(marker)` to the open environment: a task that runs until released. */
async function uploadGate(): Promise<void> {
  const c = new RawClient(m.controlAddr);
  try {
    const up = await c.request("script_upload", { script: gateModule("func_for_test_gate") });
    expect(up.success, String(up.msg)).toBe(true);
    expect((await waitCompleted(c, up.task_uid as string)).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
  } finally {
    c.close();
  }
}

describe("status and environment", () => {
  it("status prints the status map; --json prints it as JSON (before or after the command)", async () => {
    const h = await run("status");
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^msg\s+RE Manager v/m);
    expect(h.stdout).toMatch(/^manager_state\s+idle$/m);
    const j = json(await run("--json", "status"));
    expect(Object.keys(j)).toEqual(STATUS_KEYS);
    const j2 = json(await run("status", "--json"));
    expect(j2.manager_state).toBe("idle");
    expect((await run("ping")).stdout).toMatch(/RE Manager v.*: idle/);
  });

  it("reads the address from QSERVER_ZMQ_CONTROL_ADDRESS", async () => {
    const r = await zqs(["--timeout", "60", "--json", "status"], {
      env: { QSERVER_ZMQ_CONTROL_ADDRESS: m.controlAddr },
    });
    expect(r.code).toBe(0);
    expect(json(r).manager_state).toBe("idle");
  });

  it("environment open --wait opens it; opening again is refused with exit 1", async () => {
    const r = await run("environment", "open", "--wait");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("environment open");
    expect(json(await run("--json", "status")).worker_environment_exists).toBe(true);
    const again = await run("environment", "open");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("RE Worker environment already exists.");
    expect(again.stdout).toBe("");
  });
});

describe("functions and tasks", () => {
  it("function execute prints the task UID; task status / wait / result follow it", async () => {
    const r = await run("function", "execute", "function_sleep", "0.3");
    expect(r.code, r.stderr).toBe(0);
    const uid = /^task_uid: (\S+)$/m.exec(r.stdout)?.[1] as string;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    const st = await run("task", "status", uid);
    expect(st.stdout).toMatch(new RegExp(`^${uid}\\s+(running|completed)$`, "m"));
    const w = await run("task", "wait", uid);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toContain(`${uid}  succeeded`);
    expect(w.stdout).toContain('return_value: {"success":true,"time":0.3}');
    expect(w.stderr).toMatch(/task: 1\/1, [\d.]+ s \(completed\)/);
    const res = await run("task", "result", uid);
    expect(res.stdout).toMatch(/^status\s+completed$/m);
    expect(res.stdout).toMatch(/^return_value\s+\{"success":true,"time":0.3\}$/m);
    const j = json(await run("--json", "task", "result", uid));
    expect(j).toMatchObject({
      success: true,
      task_uid: uid,
      status: "completed",
      result: { success: true },
    });
    const many = json<{ status: Record<string, string> }>(
      await run("--json", "task", "status", uid, "no-such-task"),
    );
    expect(many.status).toEqual({ [uid]: "completed", "no-such-task": "not_found" });
  });

  it("--wait prints the result; a failed function exits 1 with the reason", async () => {
    const ok = json(await run("--json", "function", "execute", "function_sleep", "0.1", "--wait"));
    expect(ok).toMatchObject({
      status: "completed",
      result: { success: true, return_value: { success: true, time: 0.1 } },
    });
    const bad = await run("function", "execute", "function_sleep", '"not a number"', "--wait");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/failed/);
    expect(bad.stderr).toMatch(/zqs: task \S+ failed: .*cannot be interpreted as a number/);
  });

  it("--kwargs and --background reach the manager", async () => {
    const r = json<{ item: Record<string, unknown>; task_uid: string }>(
      await run(
        "--json",
        "--user",
        "CLI User",
        "function",
        "execute",
        "function_sleep",
        "--kwargs",
        '{"time": 0.05}',
        "--background",
      ),
    );
    expect(r.item).toMatchObject({
      name: "function_sleep",
      args: [],
      kwargs: { time: 0.05 },
      user: "CLI User",
      user_group: "primary",
    });
    const w = await run("task", "wait", r.task_uid);
    expect(w.code, w.stderr).toBe(0);
  });

  it("task wait shows progress lines while it waits, and exits 3 when its wait times out", async () => {
    await uploadGate();
    // The task runs until the gate opens: the wait times out whatever the machine's speed.
    const gate = newGate();
    const uid = json<{ task_uid: string }>(
      await run("--json", "function", "execute", "func_for_test_gate", gate.path, "--background"),
    ).task_uid;
    const t = await run("task", "wait", uid, "--wait-timeout", "2.5");
    expect(t.code, t.stderr).toBe(3);
    // A line a second while waiting (the 1 s and 2 s lines come before the 2.5 s timeout).
    const lines = t.stderr.match(/^task: 0\/1, [\d.]+ s.*$/gm) ?? [];
    expect(lines.length, t.stderr).toBeGreaterThanOrEqual(3);
    expect(t.stderr).toMatch(/^task: 0\/1, [\d.]+ s \(waiting\)$/m);
    expect(lines[lines.length - 1]).toMatch(/\(timed out\)$/);
    expect(t.stderr).toMatch(/zqs: Timed out after 2.5 s waiting for task/);
    gate.open();
    const w = await run("task", "wait", uid);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toMatch(/task: 1\/1, [\d.]+ s \(completed\)/);
  });

  it("on a terminal, task wait draws a progress bar", async () => {
    const uid = json<{ task_uid: string }>(
      await run("--json", "function", "execute", "function_sleep", "0.8", "--background"),
    ).task_uid;
    const cmd = [process.execPath, CLI, ...at, "task", "wait", uid].map((a) => `'${a}'`).join(" ");
    const r = await new Promise<string>((resolve, reject) => {
      // `script` gives the command a pseudo-terminal.
      execFile(
        "script",
        ["-q", "-e", "-c", cmd, "/dev/null"],
        { timeout: 120_000 },
        (err, stdout) => {
          if (err) reject(new Error(`script failed: ${err.message}\n${stdout}`));
          else resolve(stdout);
        },
      );
    });
    expect(r).toContain("task [");
    expect(r).toContain("\u2588"); // a filled cell of the bar
    expect(r).toMatch(/1\/1/);
    expect(r).toContain(`${uid}  succeeded`);
  });

  it("task wait of an unknown task exits 1", async () => {
    const r = await run("task", "wait", "no-such-task");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("no-such-task  not_found");
    expect(r.stderr).toContain("not found");
  });

  describe("task info and cancel", () => {
    it("task info prints the lifecycle record; task cancel cancels a running task", async () => {
      // A task that runs until cancelled (its gate never opens).
      const uid = json<{ task_uid: string }>(
        await run(
          "--json",
          "function",
          "execute",
          "func_for_test_gate",
          newGate().path,
          "--background",
        ),
      ).task_uid;
      const info = json<{ task_info: { state: string } }>(await run("--json", "task", "info", uid));
      expect(info.task_info.state).toBe("running");
      const c = json<{ result: string }>(await run("--json", "task", "cancel", uid));
      expect(c.result).toBe("cancelling");
      const w = await run("task", "wait", uid, "--wait-timeout", "120");
      expect(w.code, w.stderr).toBe(1);
    });
  });
});

describe("plans, devices, permissions, keys", () => {
  it("lists names, or JSON", async () => {
    const p = await run("plans", "allowed");
    expect(p.code).toBe(0);
    expect(p.stdout.split("\n")).toContain("count");
    expect((await run("plans", "existing")).stdout.split("\n")).toContain("count");
    expect((await run("devices", "allowed")).stdout.split("\n")).toContain("det1");
    const d = json<{ devices_existing: Record<string, unknown> }>(
      await run("--json", "devices", "existing"),
    );
    expect(Object.keys(d.devices_existing)).toContain("det1");
    const perm = json<{ user_group_permissions: { user_groups: Record<string, unknown> } }>(
      await run("--json", "permissions", "get"),
    );
    expect(Object.keys(perm.user_group_permissions.user_groups)).toEqual(
      expect.arrayContaining(["root", "primary"]),
    );
    expect((await run("permissions", "reload")).code).toBe(0);
  });

  it("keys prints a key pair, and the public key of a private key", async () => {
    const h = await zqs(["keys"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Private key .*: .{40}$/m);
    const pair = json<{ private_key: string; public_key: string }>(await zqs(["--json", "keys"]));
    expect(pair.private_key).toHaveLength(40);
    expect(pair.public_key).toHaveLength(40);
    // `=` form: a z85 key may begin with "-".
    const pub = await zqs(["keys", `--public-from=${pair.private_key}`]);
    expect(pub.stdout.trim()).toBe(pair.public_key);
    expect((await zqs(["keys", "--public-from", "short"])).code).toBe(2);
  });
});

describe("errors and exit codes", () => {
  it("usage errors exit 2", async () => {
    const a = await run("task", "status");
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("missing required argument");
    const b = await run("function", "execute", "function_sleep", "--kwargs", "not json");
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--kwargs must be a JSON map");
    const c = await run("--timeout", "-1", "status");
    expect(c.code).toBe(2);
    const d = await run("history", "clear", "--size", '"x"');
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(
      "invalid parameters: Error: The 'size' parameter must be an integer",
    );
  });

  it("a manager that is not there: exit 3 with the reason", async () => {
    const r = await zqs([
      "-a",
      `tcp://127.0.0.1:${await freePort()}`,
      "--timeout",
      "0.5",
      "status",
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^zqs: timeout: /);
    expect(r.stdout).toBe("");
  });
});

describe("queue, history, locks", () => {
  it("queue add / get / start --wait, history get / clear", async () => {
    expect((await run("queue", "clear")).code).toBe(0);
    const add = await run(
      "queue",
      "add",
      "plan",
      "count",
      '["det1", "det2"]',
      "--kwargs",
      '{"num": 2, "delay": 0.1}',
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/added count \(item_uid \S+\), queue size 1/);
    const front = json<{ item: Record<string, unknown> }>(
      await run("--json", "queue", "add", "plan", "count", '["det1"]', "--pos", "front"),
    );
    expect(front.item).toMatchObject({ item_type: "plan", name: "count", args: [["det1"]] });
    const q = await run("queue", "get");
    expect(q.stdout).toMatch(/2 item\(s\) in the queue/);
    expect(q.stdout).toMatch(/^0 {2}plan count \[\["det1"\]\]/m);
    const s = await run("queue", "start", "--wait", "--wait-timeout", "120");
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/queue: 2\/2/);
    expect(s.stdout).toMatch(/queue stopped: 0 item\(s\) left, 2 in the history/);
    const h = await run("history", "get");
    expect(h.stdout).toMatch(/2 item\(s\) in the history/);
    expect(h.stdout).toMatch(/completed/);
    expect((await run("history", "clear")).code).toBe(0);
    expect(json<{ items: unknown[] }>(await run("--json", "history", "get")).items).toEqual([]);
    const inst = await run("queue", "add", "instruction", "queue-stop");
    expect(inst.stdout).toMatch(/added queue_stop/);
    expect((await run("queue", "clear")).code).toBe(0);
    const stop = await run("queue", "stop");
    expect(stop.code).toBe(1); // nothing is running
  });

  it("lock, lock info, unlock", async () => {
    const l = await run("--lock-key", "cli-key", "lock", "environment", "--note", "maintenance");
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/^environment\s+true$/m);
    expect(l.stdout).toMatch(/^note\s+maintenance$/m);
    const refused = await run("environment", "close");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Invalid lock key");
    const info = json<{ lock_info: Record<string, unknown> }>(await run("--json", "lock", "info"));
    expect(info.lock_info).toMatchObject({ environment: true, queue: false, note: "maintenance" });
    expect((await run("--lock-key", "cli-key", "unlock")).code).toBe(0);
  });
});

describe("closing", () => {
  it("environment close --wait, then destroy is refused", async () => {
    const c = await run("environment", "close", "--wait", "--wait-timeout", "120");
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout.trim()).toBe("environment closed");
    const d = await run("environment", "destroy");
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("RE environment does not exist");
  });
});
