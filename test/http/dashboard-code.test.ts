/**
 * The dashboard's code rules: its routes and event names are generated from
 * the method table (dashboard/generated/routes.js is what `npm run docs`
 * writes), and text reaches the page only through its `h` helper (no
 * innerHTML, outerHTML, insertAdjacentHTML or document.write anywhere).
 * Its types are checked by `npm run typecheck` (dashboard/tsconfig.json).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { renderRoutes, ROUTES_FILE } from "../../scripts/dashboard-routes.js";
import { ROOT } from "../helpers/paths.js";

const DIR = path.join(ROOT, "dashboard");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

it("has its generated routes up to date: run `npm run docs`", async () => {
  expect(readFileSync(ROUTES_FILE, "utf8")).toBe(await renderRoutes());
});

it("takes no route path from anywhere but the generated table", () => {
  for (const f of files(DIR).filter((f) => f.endsWith(".js") && !f.includes("generated"))) {
    const text = readFileSync(f, "utf8");
    expect(text.match(/["'`]\/api\/[^"'`]*["'`]/g), path.relative(ROOT, f)).toBeNull();
  }
});

it("puts text on the page only through its h helper", () => {
  const code = files(DIR).filter((f) => /\.(js|html)$/.test(f));
  expect(code.length).toBeGreaterThan(5);
  for (const f of code) {
    const text = readFileSync(f, "utf8");
    expect(text, path.relative(ROOT, f)).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/,
    );
  }
});
