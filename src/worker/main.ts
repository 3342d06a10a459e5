/**
 * The worker process, forked by the manager. It loads the startup code, then
 * runs what the manager sends over IPC: functions (foreground or background)
 * and scripts. It tells the manager the moment a task ends. A thread writes
 * heartbeats to fd 3 so that the manager can tell a hung process from a busy one.
 */
import { createHash } from "node:crypto";
import { readdirSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type {
  EnvironmentContent,
  ExecuteFunctionMsg,
  ManagerToWorker,
  PlanControlMsg,
  PlanRunMsg,
  ScriptMsg,
  TaskDoneMsg,
  WorkerToManager,
} from "../protocol/ipc.js";
import {
  HEARTBEAT_FD,
  HEARTBEAT_INTERVAL_MS,
  IpcBatcher,
  unbatch,
  WORKER_ENV,
} from "../protocol/ipc.js";
import { runEngineMetadata, taskStorage, type TaskContext } from "./api.js";
import { VERSION } from "../version.js";
import { Environment } from "./introspect.js";
import { describeThrown } from "./describe.js";
import { failedResult, RunEngine, type PlanResult } from "./run-engine.js";
import { installModuleHooks } from "./module-hooks.js";
import { toWireValue } from "./wire-value.js";

const STARTUP_EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".mts"];

const outbox = new IpcBatcher<WorkerToManager>((batch) => {
  if (process.connected) process.send?.(batch);
});

function send(msg: WorkerToManager): void {
  outbox.push(msg);
}

/**
 * Starts the heartbeat thread; resolves once it has written its first beat, so
 * that the manager has heard a beat before anything else this process says
 * (it judges a worker that never beat by the longer start-up allowance).
 */
function startHeartbeat(): Promise<void> {
  const code = `
    const fs = require("node:fs");
    const { parentPort } = require("node:worker_threads");
    const beat = () => { try { fs.writeSync(${HEARTBEAT_FD}, "."); } catch { process.exit(0); } };
    beat();
    parentPort.postMessage("beating");
    setInterval(beat, ${HEARTBEAT_INTERVAL_MS});
  `;
  const w = new Worker(code, { eval: true });
  w.unref();
  return new Promise((resolve) => {
    w.once("message", () => resolve());
    w.once("error", () => resolve());
  });
}

type Exports = Record<string, unknown>;
let typeScript: Promise<void> | undefined;

/**
 * TypeScript goes through tsx's loader, registered in this process the first time
 * a TypeScript file is met (zqs's own code is compiled JS and needs no loader).
 * Registered after the module hooks, so that `.ts` files are ES modules and their
 * imports of zqs reach the worker's own modules.
 */
function enableTypeScript(): Promise<void> {
  typeScript ??= (async () => {
    try {
      const tsx = await import("tsx/esm/api");
      tsx.register();
    } catch (err) {
      throw new Error(
        `Loading TypeScript startup code needs the 'tsx' package: ${describeThrown(err).message}`,
        { cause: err },
      );
    }
  })();
  return typeScript;
}

async function importFile(file: string): Promise<Exports> {
  if (/\.(ts|mts|cts)$/.test(file)) await enableTypeScript();
  return (await import(pathToFileURL(file).href)) as Exports;
}

function startupFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => STARTUP_EXTENSIONS.includes(path.extname(f)) && !f.endsWith(".d.ts"))
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

const env = new Environment();

async function loadStartup(): Promise<void> {
  const dir = process.env[WORKER_ENV.startupDir];
  const mod = process.env[WORKER_ENV.startupModule];
  if (dir) {
    for (const file of startupFiles(dir)) {
      env.addModule(await importFile(file), path.basename(file).replace(/\.[^.]+$/, ""));
    }
  } else if (mod) {
    const isPath = mod.startsWith(".") || mod.startsWith("/") || /\.[cm]?[jt]s$/.test(mod);
    const exports = isPath
      ? await importFile(path.resolve(mod))
      : ((await import(mod)) as Record<string, unknown>);
    env.addModule(exports, path.basename(mod).replace(/\.[^.]+$/, ""));
  }
}

/** Each function's name → the first 16 hex digits of the SHA-256 of its source. */
function functionHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, fn] of env.functions) {
    out[name] = createHash("sha256").update(fn.toString()).digest("hex").slice(0, 16);
  }
  return out;
}

function describe(): EnvironmentContent {
  return env.describe();
}

const running = new Map<string, AbortController>();

function makeContext(
  id: string,
  attempt: number,
  ac: AbortController,
  run: { uid: string; index: number } | null = null,
): TaskContext {
  const prefix = `[${id.slice(0, 8)}]`;
  return {
    taskUid: id,
    attempt,
    run,
    signal: ac.signal,
    progress: (pct) =>
      send({ type: "task_progress", id, progress: Math.max(0, Math.min(100, pct)) }),
    message: (text) => send({ type: "task_progress", id, message: String(text) }),
    output: (name, value) =>
      send({ type: "task_progress", id, outputs: { [name]: toWireValue(value) } }),
    log: {
      debug: (m) => process.stdout.write(`${prefix} DEBUG ${m}\n`),
      info: (m) => process.stdout.write(`${prefix} ${m}\n`),
      warn: (m) => process.stderr.write(`${prefix} WARNING ${m}\n`),
      error: (m) => process.stderr.write(`${prefix} ERROR ${m}\n`),
    },
  };
}

function now(): number {
  return Date.now() / 1000;
}

/** An error's message and traceback, as task results carry them. */
function errorText(err: unknown): { msg: string; traceback: string } {
  const { message, stack } = describeThrown(err);
  return { msg: message, traceback: stack };
}

async function runTask(
  id: string,
  label: string,
  attempt: number,
  body: (ctx: TaskContext) => Promise<unknown>,
  extra?: () => Partial<TaskDoneMsg>,
  run: { uid: string; index: number } | null = null,
): Promise<void> {
  const ac = new AbortController();
  running.set(id, ac);
  const time_start = now();
  send({ type: "task_started", id, time: time_start });
  const ctx = makeContext(id, attempt, ac, run);
  let done: TaskDoneMsg;
  try {
    const value = await taskStorage.run(ctx, () => body(ctx));
    done = {
      type: "task_done",
      id,
      success: true,
      msg: "",
      traceback: "",
      return_value: toWireValue(value),
      time_start,
      time_stop: now(),
      ...extra?.(),
    };
  } catch (err) {
    const { msg, traceback } = errorText(err);
    done = {
      type: "task_done",
      id,
      success: false,
      msg: `Error occurred while executing '${label}': ${msg}`,
      traceback,
      return_value: null,
      time_start,
      time_stop: now(),
      ...(ac.signal.aborted ? { cancelled: true } : {}),
    };
  } finally {
    running.delete(id);
  }
  send(done);
}

function executeFunction(m: ExecuteFunctionMsg): Promise<void> {
  return runTask(
    m.id,
    "Execute function",
    m.attempt,
    async () => {
      const { fn, args } = env.bindFunction(m.name, m.args, m.kwargs);
      return await fn(...args);
    },
    undefined,
    m.run ?? null,
  );
}

/** Plans run one at a time in the run engine; its state and runs are reported as they change. */
let engine: RunEngine | undefined;
/** The run engine, made once the startup code has set its metadata (plans come after `ready`). */
function theEngine(): RunEngine {
  return (engine ??= makeEngine());
}
function makeEngine(): RunEngine {
  return new RunEngine({
    metadata: {
      ...runEngineMetadata,
      versions: { zqs: VERSION, node: process.versions.node },
    },
    onStateChange: (state, { pausePending }) => send({ type: "re_state", state, pausePending }),
    onRunsChange: (runs) => send({ type: "re_runs", runs }),
    onLog: (line) => process.stdout.write(`${line}\n`),
  });
}

async function runPlan(m: PlanRunMsg): Promise<void> {
  const time_start = now();
  let result: PlanResult;
  try {
    const { plan, args } = env.bindPlan(m.name, m.args, m.kwargs);
    result = await theEngine().run(plan, args);
  } catch (err) {
    result = failedResult(err);
  }
  send({
    type: "plan_done",
    id: m.id,
    result,
    time_start,
    time_stop: now(),
    metadata: theEngine().metadata,
  });
}

function controlPlan(m: PlanControlMsg): void {
  try {
    switch (m.action) {
      case "pause":
        theEngine().requestPause(m.option as "deferred" | "immediate");
        break;
      case "resume":
        theEngine().resume();
        break;
      case "stop":
        theEngine().stop();
        break;
      case "abort":
        theEngine().abort();
        break;
      case "halt":
        theEngine().halt();
        break;
    }
    send({ type: "control_reply", reqId: m.reqId, success: true, msg: "" });
  } catch (err) {
    send({ type: "control_reply", reqId: m.reqId, success: false, msg: errorText(err).msg });
  }
}

/** Where uploaded scripts are written (their imports of zqs resolve as startup code's do). */
let uploadDir: string | undefined;

function uploadScript(m: ScriptMsg): Promise<void> {
  return runTask(
    m.id,
    "Load script",
    1,
    async () => {
      if (m.script.trim() === "") return null;
      uploadDir ??= mkdtempSync(path.join(os.tmpdir(), "zqs-scripts-"));
      const looksTs = /^\s*(interface|type)\s+\w+|:\s*(string|number|boolean|unknown|any)\b/m.test(
        m.script,
      );
      const file = path.join(uploadDir, `${m.id}${looksTs ? ".ts" : ".mjs"}`);
      writeFileSync(file, m.script);
      let exports: Record<string, unknown>;
      try {
        exports = await importFile(file);
      } catch (err) {
        // (sic) "stript": the Python server's words, kept for clients that match them.
        throw new Error(`Failed to execute stript: ${describeThrown(err).message}`, {
          cause: err,
        });
      }
      env.addModule(exports, `script_${m.id.slice(0, 8)}`);
      return null;
    },
    () => (m.updateLists ? { content: describe() } : {}),
  );
}

function onMessage(m: ManagerToWorker): void {
  switch (m.type) {
    case "execute":
      void executeFunction(m);
      break;
    case "script":
      void uploadScript(m);
      break;
    case "plan_run":
      void runPlan(m);
      break;
    case "plan_control":
      controlPlan(m);
      break;
    case "cancel":
      running.get(m.id)?.abort(new Error(m.reason));
      break;
    case "close":
      for (const ac of running.values()) ac.abort(new Error("The environment is closing"));
      if (uploadDir) rmSync(uploadDir, { recursive: true, force: true });
      outbox.flush();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 50).unref();
      break;
  }
}

async function main(): Promise<void> {
  await startHeartbeat();
  process.on("message", (m) => unbatch<ManagerToWorker>(m, onMessage));
  process.on("disconnect", () => process.exit(0));
  process.on("unhandledRejection", (err) => {
    process.stderr.write(`Unhandled rejection in user code: ${errorText(err).traceback}\n`);
  });
  try {
    installModuleHooks();
    await loadStartup();
  } catch (err) {
    const { msg, traceback } = errorText(err);
    send({ type: "load_failed", msg: `Failed to load the startup code: ${msg}`, traceback });
    return;
  }
  send({
    type: "ready",
    content: describe(),
    metadata: theEngine().metadata,
    function_hashes: functionHashes(),
  });
}

void main();
