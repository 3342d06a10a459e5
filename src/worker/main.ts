/**
 * The worker process, forked by the manager (or by a remote worker's agent).
 * It loads the startup code, then runs what the manager sends over IPC:
 * functions (foreground or background), scripts and plans, and tells the
 * manager the moment a task ends. This file only wires the parts to the
 * process: `Slots` (tasks at once, those dealt ahead), `Tasks` (the calls),
 * `Subtasks` (requests to the manager), `Plans` (the run engine), `UserCode`.
 * A thread writes heartbeats to fd 3 so that the manager can tell a hung
 * process from a busy one.
 */
import type { ManagerToWorker, WorkerToManager } from "../protocol/ipc.js";
import { IpcBatcher, unbatch, WORKER_ENV } from "../protocol/ipc.js";
import { startHeartbeat } from "./heartbeat.js";
import { installModuleHooks } from "./module-hooks.js";
import { OutputCount } from "./output-count.js";
import { Plans } from "./plans.js";
import { errorText, type Send } from "./report.js";
import { Slots } from "./slots.js";
import { Subtasks } from "./subtasks.js";
import { Tasks } from "./tasks.js";
import { UserCode } from "./user-code.js";

async function main(): Promise<void> {
  const output = new OutputCount([process.stdout, process.stderr]);
  const outputBytes = () => output.bytes;
  const outbox = new IpcBatcher<WorkerToManager>((batch) => {
    if (process.connected) process.send?.(batch);
  });
  const send: Send = (msg) => outbox.push(msg);
  const code = new UserCode();

  // The slots start calls; a call awaiting subtasks lends its slot.
  const slots: Slots = new Slots({
    slots: Number(process.env[WORKER_ENV.slots] ?? "") || Infinity,
    send,
    run: (m): Promise<void> => calls.executeFunction(m),
    outputBytes,
  });
  const subtasks: Subtasks = new Subtasks(send, slots);
  const calls: Tasks = new Tasks({
    send,
    subtasks,
    functions: code.env,
    outputBytes,
    print: (stream, text) => process[stream].write(text),
  });
  const plans = new Plans({
    send,
    plans: code.env,
    context: (id, ac) => calls.context(id, 1, ac),
    dropSubtasksOf: (id) => subtasks.dropOf(id),
    outputBytes,
    printLine: (line) => process.stdout.write(`${line}\n`),
  });
  const uploadDir = process.env[WORKER_ENV.uploadDir];

  const onMessage = (m: ManagerToWorker): void => {
    switch (m.type) {
      case "execute":
        calls.noteReceived(m.id);
        slots.admit(m);
        break;
      case "script":
        void calls.run({
          id: m.id,
          label: "Load script",
          attempt: 1,
          body: async () => {
            await code.loadScript(m.id, m.script, uploadDir);
            return null;
          },
          extra: () => (m.updateLists ? { content: code.describe() } : {}),
        });
        break;
      case "plan_run":
        void plans.run(m);
        break;
      case "plan_control":
        plans.control(m);
        break;
      case "cancel":
        if (slots.cancelWaiting(m.id, m.reason)) calls.forget(m.id);
        else calls.cancel(m.id, m.reason);
        break;
      case "subtask_reply":
        subtasks.onReply(m);
        break;
      case "subtask_done":
        subtasks.onDone(m);
        break;
      case "close":
        slots.dropWaiting();
        calls.abortAll("The environment is closing");
        outbox.flush();
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50).unref();
        break;
    }
  };

  await startHeartbeat();
  process.on("message", (m) => unbatch<ManagerToWorker>(m, onMessage));
  process.on("disconnect", () => process.exit(0));
  process.on("unhandledRejection", (err) => {
    process.stderr.write(`Unhandled rejection in user code: ${errorText(err).traceback}\n`);
  });
  try {
    installModuleHooks();
    await code.loadStartup(
      process.env[WORKER_ENV.startupDir],
      process.env[WORKER_ENV.startupModule],
    );
  } catch (err) {
    const { msg, traceback } = errorText(err);
    send({ type: "load_failed", msg: `Failed to load the startup code: ${msg}`, traceback });
    return;
  }
  send({
    type: "ready",
    content: code.describe(),
    metadata: plans.metadata,
    function_hashes: code.functionHashes(),
  });
}

void main();
