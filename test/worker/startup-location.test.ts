/**
 * Startup code lives outside the zqs package (the user's own folder): its
 * `zqs`, `zqs/worker` and `zqs/client` imports reach the zqs that runs the
 * worker — the same module instances, so `context()` and the run engine's
 * metadata work — from `.mjs`, `.js` (ES module or CommonJS), `.cjs` and `.ts`
 * files, and a copy of zqs in the folder's own node_modules does not win.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  EXAMPLES,
  RawClient,
  ROOT,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { execute, fn, USER, waitCompleted } from "../tasks/helpers.js";
import { openOrExplain } from "./open.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;
const dirs: string[] = [];

afterEach(async () => {
  c?.close();
  c = undefined;
  await m?.stop();
  m = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A folder outside the checkout (and outside any package). */
function outsideDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-user-startup-"));
  dirs.push(dir);
  expect(path.relative(ROOT, dir).startsWith("..")).toBe(true);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

async function open(dir: string, extra: string[] = [], cli?: string): Promise<RawClient> {
  m = await startManager({
    examples: false,
    args: ["--startup-dir", dir, ...extra],
    ...(cli ? { cli } : {}),
  });
  c = new RawClient(m.controlAddr, { timeoutMs: 10_000 });
  await openOrExplain(m, c);
  return c;
}

/** Runs a function; it must succeed. */
async function call(c: RawClient, name: string, args: unknown[] = []) {
  const uid = await execute(c, fn(name, args));
  const r = await waitCompleted(c, uid, 20_000);
  expect(r.success, String(r.msg)).toBe(true);
  return { uid, value: r.return_value };
}

/** Runs a plan at once; it must complete. */
async function runPlan(c: RawClient, item: Record<string, unknown>) {
  const before = (await c.request("status")).items_in_history as number;
  const r = await c.request("queue_item_execute", {
    item: { item_type: "plan", ...item },
    ...USER,
  });
  expect(r.success, String(r.msg)).toBe(true);
  await waitUntil(async () => {
    const s = await c.request("status");
    return s.items_in_history === before + 1 && s.manager_state === "idle";
  }, 20_000);
  const h = (await c.request("history_get")).items as {
    result: { exit_status: string; msg: string; run_uids: string[] };
  }[];
  const result = h[h.length - 1]?.result;
  expect(result?.exit_status, result?.msg).toBe("completed");
  return result;
}

/** A function that answers with the uid its context() sees: same module instance as the worker's. */
const CONTEXT_TASK = (name: string) => `export function ${name}() { return context().taskUid; }\n`;

describe("startup code outside the zqs package", () => {
  it("the example profile copied to a temporary folder opens; its plans and functions run", async () => {
    const dir = outsideDir();
    cpSync(path.join(EXAMPLES, "startup"), dir, { recursive: true });
    const c = await open(dir, [
      "--user-group-permissions",
      path.join(EXAMPLES, "user_group_permissions.yaml"),
    ]);
    const result = await runPlan(c, {
      name: "count",
      args: [["det1", "det2"]],
      kwargs: { num: 2 },
    });
    expect(result?.run_uids).toHaveLength(1);
    expect((await call(c, "function_sleep", [0.01])).value).toMatchObject({ success: true });
    // setRunEngineMetadata of the copied 05-run-engine.mjs reached the worker's run engine.
    const md = await c.request("re_metadata");
    expect(md.re_metadata).toMatchObject({ metadata_key: "metadata_value" });
  });

  it("in an ES module package: .ts, .mts, .js and .cjs files import zqs", async () => {
    const dir = outsideDir({
      "package.json": JSON.stringify({ type: "module" }),
      "10-typed.ts": [
        'import { context, plan, stubs } from "zqs/worker";',
        'import { REManagerAPI } from "zqs/client";',
        'import { VERSION } from "zqs";',
        "export function ts_task(): string { return context().taskUid; }",
        "export function ts_imports(): string[] { return [typeof REManagerAPI, typeof VERSION]; }",
        "export const ts_plan = plan(async function* ts_plan(n: number) {",
        "  yield stubs.openRun({ n });",
        "  yield stubs.closeRun();",
        "});",
        "",
      ].join("\n"),
      "20-module.js": 'import { context } from "zqs/worker";\n' + CONTEXT_TASK("esm_js_task"),
      "25-module.mts":
        'import { context } from "zqs/worker";\n' +
        "export function mts_task(): string { return context().taskUid; }\n",
      "30-common.cjs":
        'const { context } = require("zqs/worker");\n' +
        "exports.cjs_task = function cjs_task() { return context().taskUid; };\n",
    });
    const c = await open(dir);
    for (const name of ["ts_task", "esm_js_task", "mts_task", "cjs_task"]) {
      const { uid, value } = await call(c, name);
      expect(value, name).toBe(uid);
    }
    expect((await call(c, "ts_imports")).value).toEqual(["function", "string"]);
    expect((await runPlan(c, { name: "ts_plan", args: [3] }))?.run_uids).toHaveLength(1);
  });

  it("in a folder without package.json: ESM and CommonJS .js, .ts; the folder's own zqs does not win", async () => {
    const fakeZqs = 'export function context() { return { taskUid: "the folder\'s own zqs" }; }\n';
    const dir = outsideDir({
      "10-plain.js": 'import { context } from "zqs/worker";\n' + CONTEXT_TASK("plain_js_task"),
      "20-required.js":
        'const { context } = require("zqs/worker");\n' +
        "module.exports = { required_js_task() { return context().taskUid; } };\n",
      "30-typed.ts": 'import { context } from "zqs/worker";\n' + CONTEXT_TASK("bare_ts_task"),
      "node_modules/zqs/package.json": JSON.stringify({
        name: "zqs",
        type: "module",
        exports: { ".": "./fake.js", "./worker": "./fake.js", "./client": "./fake.js" },
      }),
      "node_modules/zqs/fake.js": fakeZqs,
    });
    const c = await open(dir);
    for (const name of ["plain_js_task", "required_js_task", "bare_ts_task"]) {
      const { uid, value } = await call(c, name);
      expect(value, name).toBe(uid);
    }
  });

  it("zqs installed in a node_modules folder (as npm installs it, globally or in a project)", async () => {
    // <prefix>/lib/node_modules/zqs: the package's files, its dependencies beside them.
    const prefix = outsideDir();
    const pkg = path.join(prefix, "lib", "node_modules", "zqs");
    mkdirSync(pkg, { recursive: true });
    cpSync(path.join(ROOT, "package.json"), path.join(pkg, "package.json"));
    cpSync(path.join(ROOT, "dist"), path.join(pkg, "dist"), { recursive: true });
    symlinkSync(realpathSync(path.join(ROOT, "node_modules")), path.join(pkg, "node_modules"));
    const dir = outsideDir({
      "10-plain.mjs":
        'import { context } from "zqs/worker";\n' +
        CONTEXT_TASK("installed_task") +
        'export function worker_api_file() { return import.meta.resolve("zqs/worker"); }\n',
    });
    const c = await open(dir, [], path.join(pkg, "dist", "cli", "main.js"));
    const { uid, value } = await call(c, "installed_task");
    expect(value).toBe(uid);
    // The installed copy answered, not the checkout the test runs from.
    expect((await call(c, "worker_api_file")).value).toBe(
      pathToFileURL(path.join(realpathSync(pkg), "dist", "worker", "index.js")).href,
    );
  });

  it("an uploaded script imports zqs/worker", async () => {
    const dir = outsideDir({ "10-plain.mjs": "export function nothing() { return null; }\n" });
    const c = await open(dir);
    const r = await c.request("script_upload", {
      script: 'import { context } from "zqs/worker";\n' + CONTEXT_TASK("script_task"),
      update_lists: true,
    });
    expect(r.success, String(r.msg)).toBe(true);
    const loaded = await waitCompleted(c, r.task_uid as string, 20_000);
    expect(loaded.success, String(loaded.msg)).toBe(true);
    const { uid, value } = await call(c, "script_task");
    expect(value).toBe(uid);
  });
});
