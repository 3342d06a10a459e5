/**
 * The real worker process (dist/worker/main.js, forked as the manager forks it):
 * a call that ends in the turn it began says its start and end in one
 * `task_done`; a longer call says `task_started` first, and so does one that
 * reports progress.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { TaskDoneMsg, WorkerToManager } from "../../src/protocol/ipc.js";
import { unbatch, WORKER_ENV } from "../../src/protocol/ipc.js";
import { waitUntil } from "../helpers/wait.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WORKER_MAIN = path.join(ROOT, "dist", "worker", "main.js");

const STARTUP = `
import { context } from "zqs/worker";
export function add(a, b) { return a + b; }
export async function later(ms) { await new Promise((r) => setTimeout(r, ms)); return ms; }
export function fails() { throw new Error("no"); }
export function reports() { context().progress(50); return "ok"; }
`;

let dir: string;
let child: ChildProcess;
const heard: WorkerToManager[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "zqs-short-call-"));
  writeFileSync(path.join(dir, "startup.mjs"), STARTUP);
  child = fork(WORKER_MAIN, [], {
    env: { ...process.env, [WORKER_ENV.startupModule]: path.join(dir, "startup.mjs") },
    stdio: ["ignore", "inherit", "inherit", "pipe", "ipc"],
    serialization: "advanced",
  });
  child.on("message", (m) => unbatch<WorkerToManager>(m, (msg) => heard.push(msg)));
  await waitUntil(() => heard.some((m) => m.type === "ready" || m.type === "load_failed"));
  expect(heard.map((m) => m.type)).toEqual(["ready"]);
});

afterAll(() => {
  child?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `name` in the worker; the messages about it, once it has ended. */
async function messagesOf(id: string, name: string, args: unknown[]): Promise<WorkerToManager[]> {
  child.send({ type: "execute", id, name, args, kwargs: {}, background: true, attempt: 1 });
  const about = () => heard.filter((m) => "id" in m && m.id === id);
  await waitUntil(() => about().some((m) => m.type === "task_done"));
  return about();
}

it("a synchronous call (success or failure) ends with one task_done carrying its start", async () => {
  const ok = await messagesOf("t-add", "add", [2, 3]);
  expect(ok.map((m) => m.type)).toEqual(["task_done"]);
  const done = ok[0] as TaskDoneMsg;
  expect(done).toMatchObject({ success: true, return_value: 5 });
  expect(done.time_start).toBeGreaterThan(0);
  expect(done.time_stop).toBeGreaterThanOrEqual(done.time_start);

  const failed = await messagesOf("t-fails", "fails", []);
  expect(failed.map((m) => m.type)).toEqual(["task_done"]);
  expect((failed[0] as TaskDoneMsg).success).toBe(false);
});

it("a call that outlasts its turn says task_started first, with the start its end carries", async () => {
  const msgs = await messagesOf("t-later", "later", [30]);
  expect(msgs.map((m) => m.type)).toEqual(["task_started", "task_done"]);
  const started = msgs[0] as { time: number };
  expect((msgs[1] as TaskDoneMsg).time_start).toBe(started.time);
});

it("a call that reports progress says task_started before it", async () => {
  const msgs = await messagesOf("t-reports", "reports", []);
  expect(msgs.map((m) => m.type)).toEqual(["task_started", "task_progress", "task_done"]);
});
