/** docs/architecture.md stays true: every path it names exists. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";

const root = path.resolve(__dirname, "..");

it("every path docs/architecture.md names exists", () => {
  const doc = readFileSync(path.join(root, "docs/architecture.md"), "utf8");
  const named = [...doc.matchAll(/`((?:src|test|docs)\/[^`\s]*)`/g)].map((m) => m[1] as string);
  expect(named.length).toBeGreaterThan(20);
  const missing = named.filter((p) => !existsSync(path.join(root, p)));
  expect(missing).toEqual([]);
});

it("every area folder of src/manager is in docs/architecture.md", () => {
  const doc = readFileSync(path.join(root, "docs/architecture.md"), "utf8");
  for (const area of ["rpc", "access", "environment", "workers", "tasks", "queue", "store"]) {
    expect(doc).toContain(`\`src/manager/${area}/\``);
  }
});
