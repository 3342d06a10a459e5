/**
 * The worker process, forked by the manager. It loads the startup code, then
 * runs what the manager sends over IPC: functions (foreground or background)
 * and scripts. It tells the manager the moment a task ends. A thread writes
 * heartbeats to fd 3 so that the manager can tell a hung process from a busy one.
 */
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, statSync, writeFileSync } from "node:fs";
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
  SubtaskDoneMsg,
  SubtaskReplyMsg,
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
import {
  runEngineMetadata,
  SubtaskError,
  taskStorage,
  type SubtaskOptions,
  type TaskContext,
} from "./api.js";
import { VERSION } from "../version.js";
import { Environment } from "./introspect.js";
import { describeThrown } from "./describe.js";
import { failedResult, RunEngine, type PlanResult } from "./run-engine.js";
import { installModuleHooks } from "./module-hooks.js";
import { toWireValue } from "./wire-value.js";
import { LazyAbort } from "./lazy-abort.js";
import { TRACE_TASKS, traceNow, type TaskTrace } from "../protocol/task-trace.js";

const STARTUP_EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".mts"];

const outbox = new IpcBatcher<WorkerToManager>((batch) => {
  if (process.connected) process.send?.(batch);
});

function send(msg: WorkerToManager): void {
  outbox.push(msg);
}

/**
 * Bytes written to stdout and stderr so far (through their `write`, which
 * console.log and the task logger use). A task's end carries the count, so the
 * manager publishes its output before its end (the pipes and the IPC channel
 * are read separately). The pipes block on write (the manager's --import), so
 * a write has reached the pipe when it returns.
 */
let outputBytes = 0;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
  stream.write = (chunk: unknown, ...rest: unknown[]): boolean => {
    const enc = typeof rest[0] === "string" ? (rest[0] as BufferEncoding) : "utf8";
    if (typeof chunk === "string") outputBytes += Buffer.byteLength(chunk, enc);
    else if (chunk instanceof Uint8Array) outputBytes += chunk.byteLength;
    return write(chunk, ...rest);
  };
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

const running = new Map<string, LazyAbort>();

/** A subtask request waiting for the manager: its reply, and (awaited) the child's outcome. */
interface PendingSubtask {
  /** The task or plan that asked. */
  parent: string;
  wait: boolean;
  uid: string | null;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** Stop listening to the parent's signal. */
  done: () => void;
}

const subtasks = new Map<string, PendingSubtask>();
/** Parent → the reqIds of its requests in `subtasks` (its end drops them without a search). */
const subtasksOf = new Map<string, Set<string>>();

function addSubtask(reqId: string, p: PendingSubtask): void {
  subtasks.set(reqId, p);
  let mine = subtasksOf.get(p.parent);
  if (!mine) subtasksOf.set(p.parent, (mine = new Set()));
  mine.add(reqId);
}

/** The request `reqId` is settled: it leaves `subtasks`; its entry, if it was there. */
function takeSubtask(reqId: string): PendingSubtask | undefined {
  const p = subtasks.get(reqId);
  if (!p) return undefined;
  subtasks.delete(reqId);
  const mine = subtasksOf.get(p.parent);
  mine?.delete(reqId);
  if (mine?.size === 0) subtasksOf.delete(p.parent);
  return p;
}

/** Ask the manager for a subtask of `parent`; settles as `wait` says (see TaskContext.subtask). */
function requestSubtask(
  parent: string,
  signal: AbortSignal,
  wait: boolean,
  name: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: SubtaskOptions = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new SubtaskError(`The task was stopped: ${stopReason(signal)}`, null, null));
      return;
    }
    // Plain data, as a client would send it (a value that cannot be carried rejects here).
    const wire = {
      args: Array.isArray(args)
        ? args.map((a, i) => toWireValue(a, `subtask argument ${i}`))
        : (args as unknown[]),
      kwargs: (toWireValue(kwargs, "subtask kwargs") ?? {}) as Record<string, unknown>,
      options: (toWireValue(options, "subtask options") ?? {}) as Record<string, unknown>,
    };
    const reqId = randomUUID();
    // An awaited subtask lends its parent's slot here too (the manager lends it
    // in its count): a parent waiting for children never keeps them waiting.
    let lent = wait && lendSlot(parent);
    const settle = () => {
      if (lent) reclaimSlot(parent);
      lent = false;
    };
    resolve = ((r) => (v: unknown) => {
      settle();
      r(v);
    })(resolve);
    reject = ((r) => (e: Error) => {
      settle();
      r(e);
    })(reject);
    const onAbort = () => {
      const p = takeSubtask(reqId);
      if (!p) return;
      p.reject(new SubtaskError(`The task was stopped: ${stopReason(signal)}`, p.uid, null));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    addSubtask(reqId, {
      parent,
      wait,
      uid: null,
      resolve,
      reject,
      done: () => {
        settle();
        signal.removeEventListener("abort", onAbort);
      },
    });
    send({
      type: "subtask",
      reqId,
      parent,
      name,
      ...wire,
      wait,
    });
  });
}

/**
 * The task or plan `parent` ended: forget its requests still open (a promise it
 * did not await; the manager sends nothing more about them).
 */
function dropSubtasksOf(parent: string): void {
  const mine = subtasksOf.get(parent);
  if (!mine) return;
  for (const reqId of mine) takeSubtask(reqId)?.done();
}

function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r);
}

function onSubtaskReply(m: SubtaskReplyMsg): void {
  const p = subtasks.get(m.reqId);
  if (!p) return;
  if (!m.success || m.uid === null) {
    takeSubtask(m.reqId);
    p.done();
    p.reject(new SubtaskError(`The subtask was refused: ${m.msg}`, null, null));
    return;
  }
  p.uid = m.uid;
  if (p.wait) return;
  takeSubtask(m.reqId);
  p.done();
  p.resolve(m.uid);
}

function onSubtaskDone(m: SubtaskDoneMsg): void {
  const p = subtasks.get(m.reqId);
  if (!p || p.uid !== m.uid) return;
  takeSubtask(m.reqId);
  p.done();
  if (m.state === "completed") p.resolve(m.return_value);
  else {
    const how = m.state === "failed" ? "failed" : `ended ${m.state}`;
    p.reject(new SubtaskError(`Subtask '${m.uid}' ${how}: ${m.msg}`, m.uid, m.state, m.traceback));
  }
}

function makeContext(
  id: string,
  attempt: number,
  ac: LazyAbort,
  run: { uid: string; index: number } | null = null,
): TaskContext {
  const prefix = `[${id.slice(0, 8)}]`;
  return {
    taskUid: id,
    attempt,
    run,
    get signal() {
      return ac.signal;
    },
    progress: (pct) =>
      send({ type: "task_progress", id, progress: Math.max(0, Math.min(100, pct)) }),
    message: (text) => send({ type: "task_progress", id, message: String(text) }),
    output: (name, value) =>
      send({ type: "task_progress", id, outputs: { [name]: toWireValue(value) } }),
    subtask: <T>(
      name: string,
      args?: unknown[],
      kwargs?: Record<string, unknown>,
      options?: SubtaskOptions,
    ) => requestSubtask(id, ac.signal, true, name, args, kwargs, options) as Promise<T>,
    subtaskNoWait: (name, args, kwargs, options) =>
      requestSubtask(id, ac.signal, false, name, args, kwargs, options) as Promise<string>,
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
  trace?: TaskTrace,
): Promise<void> {
  const ac = new LazyAbort();
  running.set(id, ac);
  const time_start = now();
  send({ type: "task_started", id, time: time_start });
  const began = performance.now();
  const ctx = makeContext(id, attempt, ac, run);
  let done: TaskDoneMsg;
  try {
    if (trace) trace.begins = traceNow();
    const value = await taskStorage.run(ctx, () => body(ctx));
    if (trace) trace.returns = traceNow();
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
      ...(ac.aborted ? { cancelled: true } : {}),
    };
  } finally {
    running.delete(id);
    dropSubtasksOf(id);
  }
  done.call_ms = performance.now() - began;
  done.out = outputBytes;
  if (trace) done.trace = trace;
  send(done);
}

/** Trace marks of the tasks received (ZQS_TRACE_TASKS=1): id → marks, until they start. */
const received = new Map<string, TaskTrace>();

function executeFunction(m: ExecuteFunctionMsg): Promise<void> {
  const trace = TRACE_TASKS ? received.get(m.id) : undefined;
  if (trace) received.delete(m.id);
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
    trace,
  );
}

/**
 * Function tasks run at once up to the worker's slots (ZQS_WORKER_SLOTS, set
 * in a pool); those dealt ahead beyond them wait here, highest priority
 * first, and start the moment a slot frees. Foreground tasks never wait.
 */
const SLOTS = Number(process.env[WORKER_ENV.slots] ?? "") || Infinity;
let runningFunctions = 0;
const waiting: ExecuteFunctionMsg[] = [];
/** Tasks counted in runningFunctions. */
const counted = new Set<string>();
/** Counted tasks whose slot is lent while they await subtasks: how many they await. */
const awaitingChildren = new Map<string, number>();

/** `parent` awaits one more subtask: its slot is lent at the first. False if it holds none. */
function lendSlot(parent: string): boolean {
  if (!counted.has(parent)) return false;
  const n = (awaitingChildren.get(parent) ?? 0) + 1;
  awaitingChildren.set(parent, n);
  if (n === 1) {
    runningFunctions--;
    startWaiting();
  }
  return true;
}

/** A subtask `parent` awaited settled: at the last, its slot is taken back (over the count a while). */
function reclaimSlot(parent: string): void {
  const n = awaitingChildren.get(parent);
  if (n === undefined) return;
  if (n > 1) {
    awaitingChildren.set(parent, n - 1);
    return;
  }
  awaitingChildren.delete(parent);
  runningFunctions++;
}

function startWaiting(): void {
  while (runningFunctions < SLOTS && waiting.length > 0)
    execute(waiting.shift() as ExecuteFunctionMsg);
}

function execute(m: ExecuteFunctionMsg): void {
  if (m.background && runningFunctions >= SLOTS) {
    // Highest priority first; dealing order among equals.
    const p = m.priority ?? 0;
    let i = waiting.length;
    while (i > 0 && ((waiting[i - 1] as ExecuteFunctionMsg).priority ?? 0) < p) i--;
    waiting.splice(i, 0, m);
    return;
  }
  runningFunctions++;
  counted.add(m.id);
  void executeFunction(m).finally(() => {
    counted.delete(m.id);
    // A task that ends while its slot is lent gave it up already.
    if (!awaitingChildren.delete(m.id)) runningFunctions--;
    startWaiting();
  });
}

/** A cancel of a task still waiting for a slot: it ends unrun. */
function cancelWaiting(id: string, reason: string): boolean {
  const i = waiting.findIndex((w) => w.id === id);
  if (i < 0) return false;
  waiting.splice(i, 1);
  received.delete(id);
  const t = now();
  send({
    type: "task_done",
    id,
    success: false,
    msg: `The task was cancelled before it started: ${reason}`,
    traceback: "",
    return_value: null,
    time_start: t,
    time_stop: t,
    cancelled: true,
    out: outputBytes,
  });
  return true;
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
  // A plan's context (subtasks, logs); its signal aborts when the plan ends.
  const ac = new LazyAbort();
  try {
    const { plan, args } = env.bindPlan(m.name, m.args, m.kwargs);
    result = await taskStorage.run(makeContext(m.id, 1, ac), () => theEngine().run(plan, args));
  } catch (err) {
    result = failedResult(err);
  } finally {
    // Its open requests are forgotten, not rejected (nothing awaits them now).
    dropSubtasksOf(m.id);
    ac.abort(new Error("The plan ended"));
  }
  send({
    type: "plan_done",
    id: m.id,
    out: outputBytes,
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

/**
 * Where uploaded scripts are written (their imports of zqs resolve as startup
 * code's do): the directory the forking process made and removes.
 */
const uploadDir = process.env[WORKER_ENV.uploadDir];

function uploadScript(m: ScriptMsg): Promise<void> {
  return runTask(
    m.id,
    "Load script",
    1,
    async () => {
      if (m.script.trim() === "") return null;
      if (!uploadDir)
        throw new Error(`No directory for uploaded scripts (${WORKER_ENV.uploadDir})`);
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
      if (TRACE_TASKS) received.set(m.id, { received: traceNow() });
      execute(m);
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
      if (!cancelWaiting(m.id, m.reason)) running.get(m.id)?.abort(new Error(m.reason));
      break;
    case "subtask_reply":
      onSubtaskReply(m);
      break;
    case "subtask_done":
      onSubtaskDone(m);
      break;
    case "close":
      waiting.length = 0;
      for (const ac of running.values()) ac.abort(new Error("The environment is closing"));
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
