/** The README's tour runs as written (against a test manager's address). */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { render } from "../scripts/readme.js";
import { ROOT, startManager, type RunningManager } from "./helpers/manager.js";

const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
let m: RunningManager;
beforeAll(async () => {
  m = await startManager();
});
afterAll(async () => {
  await m.stop();
});

it("the tour script runs and prints the function's return value", () => {
  const block = /```js\n\/\/ tour\.mjs[^\n]*\n([\s\S]*?)```/.exec(readme);
  expect(block).not.toBeNull();
  const code = (block?.[1] ?? "").replace("tcp://localhost:60615", m.controlAddr);
  const file = path.join(m.tmpDir, "tour.mjs");
  // Resolve "zeromq" from the repository, as a user's project would from its own node_modules.
  writeFileSync(
    file,
    code.replace('from "zeromq"', `from "${path.join(ROOT, "node_modules/zeromq/lib/index.js")}"`),
  );
  const out = execFileSync(process.execPath, [file], { encoding: "utf8", timeout: 20_000 });
  expect(out).toContain("return_value: { success: true, time: 0.5 }");
});

it("has its generated tables (options, methods) up to date: run `npm run docs`", async () => {
  expect(await render(readme)).toBe(readme);
});
