/**
 * The README's reference sections are generated from the one source of truth:
 * the option tables (src/manager/options.ts, src/http/options.ts; their type
 * and resolver are src/options/spec.ts) and the protocol's
 * method table (src/protocol/methods.ts). `npm run docs` rewrites them between
 * their markers; a test fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { createLogger } from "../src/manager/log.js";
import { Manager } from "../src/manager/daemon.js";
import { defaultOptions, OPTION_SPECS } from "../src/manager/options.js";
import { methods, type Area } from "../src/protocol/methods.js";
import { HTTP_OPTION_SPECS } from "../src/http/options.js";
import { METHOD_ROUTES, OWN_ROUTES } from "../src/http/routes.js";
import { shownDefault, type TableOption } from "../src/options/spec.js";

export const README = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "README.md");

function row(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
}

function table(head: string[], rows: string[][]): string {
  return [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
}

/** README's list of a command's options, from its table. */
function optionRows(specs: readonly TableOption[]): string {
  return table(
    ["option", "environment variable", "default", "meaning"],
    specs.map((s) => [
      `\`${s.flag}${s.value ? ` ${s.value}` : ""}\``,
      s.env ? `\`${s.env}\`` : "",
      shownDefault(s) === undefined ? "" : `\`${shownDefault(s)}\``,
      s.description,
    ]),
  );
}

export function optionsTable(): string {
  return optionRows(OPTION_SPECS);
}

/** The gateway's routes: one per method of the table, then its own. */
export function routesTable(): string {
  return table(
    ["route", "method, or what the route does", "scope"],
    [
      ...METHOD_ROUTES.map((r) => [`\`${r.verb} ${r.path}\``, `\`${r.method}\``, r.scope]),
      ...OWN_ROUTES.map((r) => [
        `\`${r.verb} ${r.path}\``,
        r.summary,
        r.scope === "key" ? "any key" : r.scope === "none" ? "open" : r.scope,
      ]),
    ],
  );
}

export function httpOptionsTable(): string {
  return optionRows(HTTP_OPTION_SPECS);
}

const AREAS: Area[] = [
  "status",
  "manager",
  "environment",
  "tasks",
  "runs",
  "workers",
  "queue",
  "history",
  "control",
  "locks",
  "permissions",
];

/** The served methods: those the manager has a handler for. */
export function servedMethods(): Set<string> {
  const m = new Manager(defaultOptions(), createLogger({ quiet: true }));
  try {
    return new Set(m.servedMethods());
  } finally {
    m.tasks.close();
  }
}

export function methodsTable(served: Set<string>): string {
  const names = Object.keys(methods) as (keyof typeof methods)[];
  const rows: string[][] = [];
  for (const area of AREAS) {
    for (const name of names) {
      const d = methods[name];
      if (d.area !== area) continue;
      const notes = [
        "extension" in d && d.extension ? "zqs extension" : "",
        d.lock !== "none" ? `${d.lock} lock` : "",
        served.has(name) ? "" : "**not served yet**",
      ].filter(Boolean);
      const summary = d.summary.replace(/\*/g, "\\*");
      rows.push([`\`${name}\``, area, summary, notes.join("; ")]);
    }
  }
  return table(["method", "area", "what it does", "notes"], rows);
}

/** The README with its generated sections brought up to date, formatted as `npm run format` does. */
export async function render(readme: string, served = servedMethods()): Promise<string> {
  const sections: Record<string, string> = {
    options: optionsTable(),
    methods: methodsTable(served),
    routes: routesTable(),
    "http-options": httpOptionsTable(),
  };
  let out = readme;
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- generated:${name} -->)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`README.md has no generated:${name} markers`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}\n\n${body}\n\n${b}`);
  }
  const config = (await resolveConfig(README)) ?? {};
  return format(out, { ...config, filepath: README });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, "utf8");
  const after = await render(before);
  writeFileSync(README, after);
  console.log(before === after ? "README.md is up to date" : "README.md updated");
}
