/** Startup code: TypeScript through the loader, one --startup-module, a broken file, console output. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { writeStartup } from "../helpers/startup.js";
import { execute, fn, openEnvironment, waitCompleted } from "../helpers/tasks.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
const dirs: string[] = [];
afterEach(async () => {
  c?.close();
  await m?.stop();
  m = undefined;
  c = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it("loads TypeScript startup files through the loader, in name order", async () => {
  m = await startManager({
    startup: {
      "10-typed.ts":
        "export function add(a: number, b: number): number { return a + b; }\nexport const which: string = 'first';\n",
      "20-later.mjs": "export function which_file() { return 'second'; }\n",
    },
  });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  const r = await waitCompleted(c, await execute(c, fn("add", [2, 3])));
  expect(r).toMatchObject({ success: true, return_value: 5 });
  const w = await waitCompleted(c, await execute(c, fn("which_file")));
  expect(w.return_value).toBe("second");
});

it("loads one --startup-module", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-startup-"));
  dirs.push(dir);
  writeStartup(dir, { "mod.mjs": "export function hello(name) { return `hello ${name}`; }\n" });
  const mod = path.join(dir, "mod.mjs");
  m = await startManager({ examples: false, args: ["--startup-module", mod] });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  const r = await waitCompleted(c, await execute(c, fn("hello", ["zqs"])));
  expect(r.return_value).toBe("hello zqs");
});

it("startup code that throws leaves the environment closed and says why on QS_Console", async () => {
  m = await startManager({
    infoInterval: BRISK_INFO_INTERVAL,
    startup: { "bad.mjs": "throw new Error('broken startup file');\n" },
  });
  c = new RawClient(m.controlAddr);
  const info = await new InfoListener(m.infoAddr, ["QS_Console"]).ready();
  expect((await c.request("environment_open")).success).toBe(true);
  await waitUntil(async () => {
    const s = await c?.request("status");
    return s?.manager_state === "idle" && s.worker_environment_exists === false;
  });
  await info.waitFor((msg) => String(msg.payload.msg).includes("broken startup file"));
  info.close();
  expect(m.output()).toContain("broken startup file");
});

it("the worker's printed lines and status changes reach the info socket", async () => {
  m = await startManager({ infoInterval: BRISK_INFO_INTERVAL });
  c = new RawClient(m.controlAddr);
  await openEnvironment(c);
  const info = await new InfoListener(m.infoAddr).ready();
  const uid = await execute(c, fn("function_sleep", [0.1]));
  await info.waitFor(
    (msg) =>
      msg.topic === "QS_Info" &&
      (msg.payload.msg as { status: { manager_state: string } }).status.manager_state ===
        "executing_task",
  );
  await waitCompleted(c, uid);
  await info.waitFor(
    (msg) =>
      msg.topic === "QS_Console" &&
      typeof msg.payload.msg === "string" &&
      msg.payload.time !== undefined,
  );
  info.close();
});
