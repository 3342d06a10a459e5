/**
 * A fresh machine: `npm ci` runs only the install scripts package.json
 * declares, and `npm test` installs (or names) the Debian packages it needs.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "./helpers/paths.js";

const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

it("every package of the lockfile with an install script is declared in allowScripts", () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { hasInstallScript?: boolean }>;
  };
  const withScripts = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([where]) => where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length));
  expect(withScripts.length).toBeGreaterThan(0);
  const undeclared = withScripts.filter((name) => pkg.allowScripts?.[name] === undefined);
  expect(undeclared).toEqual([]);
});

it("npm test sets up first: without redis-server, redis-sentinel, chromium, systemd-analyze or apt-get it stops, naming the command", () => {
  expect(pkg.scripts.pretest?.startsWith("bash scripts/test-setup.sh")).toBe(true);
  // A PATH with bash and id only: nothing to find, no apt-get to install with.
  const bin = mkdtempSync(path.join(os.tmpdir(), "zqs-setup-"));
  try {
    for (const tool of ["bash", "id"]) {
      const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" });
      symlinkSync(found.stdout.trim(), path.join(bin, tool));
    }
    const env = { PATH: bin, HOME: os.tmpdir() };
    const run = spawnSync(path.join(bin, "bash"), [path.join(ROOT, "scripts/test-setup.sh")], {
      env,
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("apt-get install -y redis-server redis-sentinel chromium systemd");
    // Given their paths, it has nothing to do.
    const given = spawnSync(path.join(bin, "bash"), [path.join(ROOT, "scripts/test-setup.sh")], {
      env: {
        ...env,
        REDIS_SERVER: "/x/redis-server",
        ZQS_CHROMIUM: "/x/chromium",
        SYSTEMD_ANALYZE: "/x/systemd-analyze",
      },
      encoding: "utf8",
    });
    expect(given.status).toBe(0);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
