/**
 * The examples of README.md and docs/client.md run as written (the built package, the built
 * `zqs` binary), against a test manager found through the environment
 * variables the docs tell users about.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_NAMES } from "../../src/client/index.js";
import { CLI, RawClient, ROOT, startManager, type RunningManager } from "../helpers/manager.js";
import { openEnvironment } from "../helpers/tasks.js";
import { runProcess, type RunResult } from "../helpers/process.js";

const doc = readFileSync(path.join(ROOT, "docs/client.md"), "utf8");
const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");

/** Code blocks whose first line is `// example: NAME` or `# example: NAME`. */
function examples(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (readme + doc).matchAll(
    /```(?:js|sh)\n(?:\/\/|#) example: (\S+)[^\n]*\n([\s\S]*?)```/g,
  )) {
    out.set(m[1] as string, m[2] as string);
  }
  return out;
}

let m: RunningManager;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  m = await startManager();
  dir = path.join(m.tmpDir, "examples");
  mkdirSync(path.join(dir, "bin"), { recursive: true });
  // `zqs` on the PATH, as `npm install -g` would put it; with a generous
  // --timeout as a failure guard (the defaults, 5 s to reach the manager and
  // 2 s per reply, are short for a busy machine; an example's own wins).
  const shim = path.join(dir, "bin", "zqs");
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" --timeout 60 "$@"\n`);
  chmodSync(shim, 0o755);
  env = {
    ...(process.env as Record<string, string>),
    QSERVER_ZMQ_CONTROL_ADDRESS: m.controlAddr,
    QSERVER_ZMQ_INFO_ADDRESS: m.infoAddr,
    PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? ""}`,
  };
});
afterAll(async () => {
  await m.stop();
});

function runExample(name: string, manager: RunningManager = m): Promise<RunResult> {
  const code = examples().get(name);
  if (code === undefined) throw new Error(`README.md and docs/client.md have no example '${name}'`);
  const file = path.join(dir, name);
  // Resolve "zqs/client" to the built package, as an installed zqs would.
  writeFileSync(
    file,
    code.replaceAll('from "zqs/client"', `from "${path.join(ROOT, "dist/client/index.js")}"`),
  );
  const cmd = name.endsWith(".sh")
    ? ["bash", "-e", "-o", "pipefail", file]
    : [process.execPath, file];
  return runProcess(cmd[0] as string, cmd.slice(1), {
    env: {
      ...env,
      QSERVER_ZMQ_CONTROL_ADDRESS: manager.controlAddr,
      QSERVER_ZMQ_INFO_ADDRESS: manager.infoAddr,
    },
    cwd: dir,
  });
}

describe("docs/client.md", () => {
  it("lists every client method", () => {
    for (const name of Object.values(API_NAMES)) expect(doc, name).toContain(`\`${name}(`);
  });

  it("session.sh runs with zqs on the PATH", async () => {
    const r = await runExample("session.sh");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('return_value: {"success":true,"time":0.5}');
    expect(r.stdout).toMatch(/\{\n {2}"success": true,\n {2}"time": 1\n\}/);
    expect(r.stderr).toMatch(/task: 1\/1/);
  });

  it("async.mjs opens the environment and prints the function's return value", async () => {
    const r = await runExample("async.mjs");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("{ success: true, time: 0.5 }");
  });

  it("sync.mjs does the same without await", async () => {
    const r = await runExample("sync.mjs");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("{ success: true, time: 0.2 }");
  });

  it("errors.mjs catches a refusal and a parameter error", async () => {
    const r = await runExample("errors.mjs");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("ERR_REQUEST_FAILED RE Worker environment already exists.");
    expect(r.stdout).toContain("Error: 'task_uid' must be a string or a list of strings");
  });

  it("monitor.mjs reports progress and shows the console output", async () => {
    const r = await runExample("monitor.mjs");
    expect(r.code, r.stderr).toBe(0);
    // Progress while it runs, then done (when: the machine's matter, so only the order).
    const during = /waiting: 0\/1 done after ([\d.]+) s/.exec(r.stdout);
    const done = /waiting: 1\/1 done after ([\d.]+) s/.exec(r.stdout);
    expect(during, r.stdout).not.toBeNull();
    expect(done, r.stdout).not.toBeNull();
    expect(Number(done?.[1])).toBeGreaterThanOrEqual(Number(during?.[1]));
    expect(r.stdout).toContain("Starting the function 'function_sleep'");
  });

  describe("the queue example", () => {
    it("queue.sh adds a plan, runs the queue, shows the history", async () => {
      const r = await runExample("queue.sh");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/1 item\(s\) in the history/);
    });
  });
});

describe("README.md", () => {
  let fresh: RunningManager;
  beforeAll(async () => {
    fresh = await startManager();
  });
  afterAll(async () => {
    await fresh.stop();
  });

  it("README's tour.sh runs: a function, a background task, a plan through the queue", async () => {
    const r = await runExample("tour.sh", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('return_value: {"success":true,"time":0.5}');
    expect(r.stdout).toMatch(/return_value: \{"success":true,"time":1\}/);
    expect(r.stdout).toMatch(/queue stopped: 0 item\(s\) left, 1 in the history/);
    expect(r.stdout).toMatch(/plan count .* completed/);
  });

  it("README's client.mjs runs a function and a plan", async () => {
    const r = await runExample("client.mjs", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("{ success: true, time: 0.5 }\ncompleted\n");
  });

  it("README's lifecycle.sh shows a dependency, a timeout and a run", async () => {
    const r = await runExample("lifecycle.sh", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/succeeded/);
    expect(r.stdout).toContain("exit 1");
    expect(r.stdout).toMatch(/^timed_out$/m);
    expect(r.stdout).toMatch(/6 tasks: 6 done, 0 failed/);
  });

  it("README's schedule.sh makes, triggers, pauses, lists and deletes a schedule", async () => {
    const r = await runExample("schedule.sh", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^task_uid: [0-9a-f-]{36}$/m);
    expect(r.stdout).toMatch(/count {2}cron 0 3 \* \* \* {2}paused {2}next: none {2}fires: 1/);
    expect(r.stdout).toMatch(/^trigger$/m);
    expect(r.stdout).toMatch(/^deleted schedule [0-9a-f-]{36}$/m);
  });

  it("README's delay.sh delays, deduplicates and cancels tasks", async () => {
    const r = await runExample("delay.sh", fresh);
    expect(r.code, r.stderr).toBe(0);
    const uid = /^task_uid: ([0-9a-f-]{36}) {2}\(deduplicated\)$/m.exec(r.stdout)?.[1];
    expect(uid, r.stdout).toBeDefined();
    expect(r.stdout).toMatch(/^scheduled$/m);
    expect(r.stdout).toMatch(new RegExp(`^${uid}\\s+cancelled$`, "m"));
    expect(r.stdout).toMatch(/succeeded\n {2}return_value: \{"success":true,"time":0\.1\}/);
  });

  it("README's delay.mjs: one task for two submissions, started not before its time", async () => {
    const r = await runExample("delay.mjs", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("true true\ntrue\n");
  });

  it("README's schedule.mjs lists the fires of an `every: 1` schedule", async () => {
    const r = await runExample("schedule.mjs", fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("#1 scheduled completed\n#2 scheduled completed\n");
  });
});

describe("README.md's rate limits", () => {
  // A manager of its own: the example leaves function_sleep limited to 1/h.
  let limited: RunningManager;
  beforeAll(async () => {
    limited = await startManager();
    const c = new RawClient(limited.controlAddr);
    await openEnvironment(c);
    c.close();
  });
  afterAll(async () => {
    await limited.stop();
  });

  it("rate-limit.sh runs a limited run, then shows a task held by the limit", async () => {
    const r = await runExample("rate-limit.sh", limited);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 tasks: 4 done, 0 failed/);
    expect(r.stdout).toContain(
      "Waiting: the function 'function_sleep' is at its rate limit of 1/h; the task starts in its turn",
    );
  });
});
