/**
 * Each `zqs` client command loads only what it uses: the manager daemon's
 * modules are imported by `zqs manager` when it runs, not by every command
 * (each command spawned paid about 0.4 s of CPU for them). The modules a
 * process loads are read with a module hook (node:module `register`) that
 * names each one on stderr.
 */
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { CLI } from "../helpers/paths.js";

const HOOK = `
export async function load(url, context, next) {
  process.stderr.write("loaded " + url + "\\n");
  return next(url, context);
}`;
const REGISTER = `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(HOOK)}));`;

/** The dist/ modules `zqs <args>` loads (paths under dist/). */
function modulesLoadedBy(args: string[]): string[] {
  const { status, stderr } = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(REGISTER)}`, CLI, ...args],
    { encoding: "utf8" },
  );
  expect(status, stderr).toBe(0);
  return [...stderr.matchAll(/^loaded file:\/\/.*?\/dist\/(\S+)$/gm)].map((m) => m[1] as string);
}

it("a client command does not load the manager daemon", () => {
  const loaded = modulesLoadedBy(["--version"]);
  // The probe sees the CLI's own modules (else the check below would pass vacuously).
  expect(loaded).toContain("cli/program.js");
  expect(loaded).toContain("cli/commands/manager.js");
  expect(loaded.filter((m) => /^manager\/(daemon|rpc|tasks|workers|queue)\b/.test(m))).toEqual([]);
});
