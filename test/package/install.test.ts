/**
 * What a package user gets: the tarball `npm pack` makes (of the dist/ that
 * `npm test` has just built), installed with npm into a fresh project folder
 * outside the checkout. From there, the installed `zqs` runs a manager on
 * TypeScript startup code kept in a folder of its own, the tour's commands
 * run against it, `zqs worker` joins it and runs a task, the gateway serves the
 * dashboard's files from the installed copy, and TypeScript code importing
 * `zqs/client` and `zqs/worker` type-checks (node16 resolution).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import * as acorn from "acorn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, ROOT, startManager, type RunningManager } from "../helpers/manager.js";
import { runProcess, type RunResult } from "../helpers/process.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";

/** Failure guard of `npm pack` and `npm install` (a cold npm cache downloads every dependency). */
const NPM_MS = 600_000;
const KEY = "package-test-key-0123456789abcdef";

/**
 * Startup code as a user writes it: TypeScript, importing the worker API by
 * the package's name. The manager runs it (from a folder with no
 * package.json) and tsc checks it (in the project that installed zqs).
 */
const STARTUP_TS = `import { context, device, type TaskContext } from "zqs/worker";

export const det = device({ name: "det", kind: "detector" });

export function add(a: number, b: number): number {
  const ctx: TaskContext = context();
  ctx.message(\`adding \${a} and \${b}\`);
  return a + b;
}
`;

/** A client script as a user writes it; \`@ts-expect-error\` holds only when the types are real. */
const CLIENT_TS = `import { REManagerAPI, BFunc, RequestFailedError, type ClientOptions } from "zqs/client";
import type { TaskContext } from "zqs/worker";
import { METHOD_NAMES, type Status } from "zqs";

const options: ClientOptions = { zmqControlAddr: "tcp://localhost:60615" };
const api = new REManagerAPI(options);
const status: Status = await api.status();
const queued: number = status.items_in_queue;
const { task_uid } = await api.functionExecute(new BFunc("add", [2, 3]));
const uid: string | null = task_uid;
// @ts-expect-error: the client has no such method
await api.noSuchMethod();
try {
  await api.queueStart();
} catch (err) {
  if (err instanceof RequestFailedError) console.log(err.response.msg, queued, uid);
}
export const methods: number = METHOD_NAMES.length;
export type Ctx = TaskContext;
await api.close();
`;

/** npm as a user runs it: without the npm_* variables of the `npm test` this runs under. */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith("npm_") && !keep.has(k.toLowerCase())) continue;
    if (k === "INIT_CWD") continue;
    env[k] = v;
  }
  env.npm_config_update_notifier = "false";
  return env;
}

function ok(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

let tmp: string;
let project: string;
/** The installed package's folder and its bin link. */
let installed: string;
let bin: string;
let m: RunningManager;
let httpUrl: string;
let workerAddr: string;
let worker: ChildProcess | undefined;

/** Run the installed `zqs` bin itself (its shebang, its mode) from the project folder. */
function zqs(...args: string[]): Promise<RunResult> {
  const env = { ...process.env };
  delete env.QSERVER_ZMQ_CONTROL_ADDRESS;
  delete env.QSERVER_ZMQ_INFO_ADDRESS;
  return runProcess(
    bin,
    ["-a", m.controlAddr, "--info-address", m.infoAddr, "--timeout", "30", ...args],
    { cwd: project, env },
  );
}

function json<T = Record<string, unknown>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "zqs-package-"));
  const packed = ok(
    await runProcess("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], {
      cwd: ROOT,
      env: npmEnv(),
      timeoutMs: NPM_MS,
    }),
    "npm pack",
  );
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  project = path.join(tmp, "project");
  mkdirSync(project);
  writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "uses-zqs", private: true, type: "module" }),
  );
  ok(
    await runProcess(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(tmp, filename)],
      { cwd: project, env: npmEnv(), timeoutMs: NPM_MS },
    ),
    "npm install",
  );
  installed = path.join(project, "node_modules", "zqs");
  bin = path.join(project, "node_modules", ".bin", "zqs");

  const httpPort = await freePort();
  workerAddr = `tcp://127.0.0.1:${await freePort()}`;
  httpUrl = `http://127.0.0.1:${httpPort}`;
  m = await startManager({
    cli: bin,
    startup: { "tasks.ts": STARTUP_TS },
    args: [
      // No local pool: background tasks go to `zqs worker` hosts only (foreground
      // tasks and plans run in the environment's own worker).
      "--workers",
      "0",
      "--zmq-worker-addr",
      workerAddr,
      "--http-addr",
      `127.0.0.1:${httpPort}`,
      "--http-single-user-api-key",
      KEY,
    ],
  });
}, NPM_MS * 2);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const gone = new Promise((r) => worker?.once("exit", r));
    worker.kill("SIGTERM");
    await gone;
  }
  await m?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the installed package", () => {
  it("has an executable bin with a shebang, run from the project folder", async () => {
    const main = path.join(installed, "dist", "cli", "main.js");
    expect(readFileSync(main, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
    expect(statSync(main).mode & 0o111).not.toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")) as {
      version: string;
    };
    const v = ok(await runProcess(bin, ["--version"], { cwd: project }), "zqs --version");
    expect(v.stdout.trim()).toBe(pkg.version);
  });

  it(
    "runs the tour's commands against a manager on TypeScript startup code",
    async () => {
      ok(await zqs("environment", "open", "--wait", "--wait-timeout", "120"), "environment open");
      const status = json(ok(await zqs("--json", "status"), "status"));
      expect(status.worker_environment_exists).toBe(true);
      expect(status.manager_state).toBe("idle");

      const started = json<{ task_uid: string }>(
        ok(await zqs("--json", "function", "execute", "add", "2", "3"), "execute"),
      );
      ok(await zqs("task", "wait", started.task_uid, "--wait-timeout", "60"), "task wait");
      const result = json<{ result: { return_value: unknown } }>(
        ok(await zqs("--json", "task", "result", started.task_uid), "task result"),
      );
      expect(result.result.return_value).toBe(5);
      const devices = ok(await zqs("devices", "existing"), "devices existing");
      expect(devices.stdout.split("\n")).toContain("det");
    },
    ENV_OPEN_MS,
  );

  it(
    "runs `zqs worker` from the project folder, which takes a task",
    async () => {
      worker = spawn(
        bin,
        [
          "worker",
          "--connect",
          workerAddr,
          "--startup-dir",
          path.join(m.tmpDir, "startup"),
          "--name",
          "pkg-worker",
          "--tags",
          "pkg",
        ],
        { cwd: project, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      worker.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      worker.stderr?.on("data", (d: Buffer) => (out += d.toString()));
      const started = json<{ task_uid: string }>(
        ok(
          await zqs(
            "--json",
            "function",
            "execute",
            "add",
            "20",
            "22",
            "--background",
            "--worker-tags",
            "pkg",
          ),
          "execute on the worker",
        ),
      );
      await waitUntil(async () => {
        if (worker?.exitCode !== null) throw new Error(`zqs worker exited:\n${out}`);
        const info = json<{ task_info: { state: string } }>(
          await zqs("--json", "task", "info", started.task_uid),
        );
        return info.task_info.state === "completed";
      }, ENV_OPEN_MS);
      // Only the worker has the tag: it ran the task.
      const { workers } = json<{ workers: { name: string; kind: string; tasks_done: number }[] }>(
        ok(await zqs("--json", "workers"), "workers"),
      );
      expect(
        workers.find((w) => w.name === "pkg-worker"),
        JSON.stringify(workers),
      ).toMatchObject({
        kind: "remote",
        tasks_done: 1,
      });
      const result = json<{ result: { return_value: unknown } }>(
        ok(await zqs("--json", "task", "result", started.task_uid), "task result"),
      );
      expect(result.result.return_value).toBe(42);
    },
    ENV_OPEN_MS,
  );

  it("serves the dashboard and every file its page loads from the installed copy", async () => {
    const page = await fetch(`${httpUrl}/`, { headers: { Authorization: `ApiKey ${KEY}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<html");
    // Local files the page names, and the modules those import, each served.
    const pending = [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((x) => x[1] ?? "");
    const seen = new Set<string>();
    while (pending.length > 0) {
      const url = pending.pop() ?? "";
      if (seen.has(url)) continue;
      seen.add(url);
      const r = await fetch(`${httpUrl}${url}`);
      expect(r.status, `GET ${url}`).toBe(200);
      if (!url.endsWith(".js")) continue;
      for (const spec of moduleImports(await r.text())) {
        if (spec.startsWith(".") || spec.startsWith("/")) {
          pending.push(new URL(spec, `http://x${url}`).pathname);
        }
      }
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it("gives TypeScript projects the types of zqs, zqs/client and zqs/worker", async () => {
    writeFileSync(path.join(project, "startup.ts"), STARTUP_TS);
    writeFileSync(path.join(project, "client.ts"), CLIENT_TS);
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    // node16: the resolution that needs the `exports` map, `"type": "module"` and
    // declaration files beside the JavaScript (bundler resolution is attw's, in lint).
    const r = await runProcess(
      process.execPath,
      [
        tsc,
        "--noEmit",
        "--strict",
        "--module",
        "node16",
        "--moduleResolution",
        "node16",
        "--target",
        "es2022",
        // The declarations of zqs's own dependencies are theirs to check.
        "--skipLibCheck",
        "--types",
        "node",
        "--typeRoots",
        path.join(ROOT, "node_modules", "@types"),
        "startup.ts",
        "client.ts",
      ],
      { cwd: project },
    );
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.code).toBe(0);
  });
});

/** The module specifiers a script imports statically (acorn: parsed, not scanned). */
function moduleImports(source: string): string[] {
  const ast = acorn.parse(source, { ecmaVersion: "latest", sourceType: "module" });
  const out: string[] = [];
  for (const node of ast.body) {
    if (
      (node.type === "ImportDeclaration" ||
        node.type === "ExportAllDeclaration" ||
        node.type === "ExportNamedDeclaration") &&
      node.source &&
      typeof node.source.value === "string"
    ) {
      out.push(node.source.value);
    }
  }
  return out;
}
