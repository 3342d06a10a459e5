/**
 * Running zqs as a service: the example systemd unit (docs/zqs.service) and
 * the Grafana dashboard (docs/grafana-dashboard.json) hold only what zqs
 * has. The unit's ExecStart goes through the real `zqs` command line and the
 * manager's option resolver, and the unit itself through `systemd-analyze
 * verify`; every metric the dashboard's queries name (parsed as PromQL) is on
 * a real manager's `/metrics`, with the labels they match on.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { CommanderError, type Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { resolveOptions } from "../../src/manager/options.js";
import { ROOT, startManager, type RunningManager } from "../helpers/manager.js";
import { runProcess } from "../helpers/process.js";
import { call, SINGLE_KEY, startTestGateway, type TestGateway } from "../http/helpers.js";

const UNIT = path.join(ROOT, "docs", "zqs.service");
const GRAFANA = path.join(ROOT, "docs", "grafana-dashboard.json");

/** ExecStart's words: continuation lines joined, split at blanks (no quoting, no variables). */
function execStart(unit: string): string[] {
  const joined = unit.replace(/\\\n/g, " ");
  const lines = joined.split("\n").filter((l) => l.startsWith("ExecStart="));
  expect(lines).toHaveLength(1);
  const line = (lines[0] ?? "").slice("ExecStart=".length);
  // Quotes, `$VAR` and `%` specifiers would need systemd's own rules: this test reads plain words.
  expect(line, "ExecStart: plain words only (see this test)").not.toMatch(/["'$%;]/);
  return line.trim().split(/\s+/);
}

/** Parse `zqs manager ARGS` with the real program; throws CommanderError on a bad option. */
async function parseManager(args: string[]): Promise<Record<string, unknown>> {
  const program = buildProgram();
  const manager = program.commands.find((c: Command) => c.name() === "manager");
  if (!manager) throw new Error("no manager command");
  let errors = "";
  for (const c of [program, manager]) {
    c.exitOverride();
    c.configureOutput({ writeErr: (s) => (errors += s), writeOut: () => undefined });
  }
  let raw: Record<string, unknown> | undefined;
  manager.action((opts: Record<string, unknown>) => {
    raw = opts;
  });
  try {
    await program.parseAsync(["manager", ...args], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) throw new Error(`${err.message}\n${errors}`);
    throw err;
  }
  if (!raw) throw new Error("the manager command did not run");
  return raw;
}

describe("docs/zqs.service", () => {
  const unit = readFileSync(UNIT, "utf8");
  const words = execStart(unit);

  it("starts `zqs manager` with options the real command line and resolver accept", async () => {
    expect(path.basename(words[0] ?? "")).toBe("zqs");
    expect(path.isAbsolute(words[0] ?? "")).toBe(true);
    expect(words[1]).toBe("manager");
    const opts = resolveOptions(await parseManager(words.slice(2)), {});
    expect(opts.storePath).toBe("/var/lib/zqs/store");
    expect(opts.startupDir).toBe("/etc/zqs/startup");
    expect(opts.httpAddr).toBeDefined();
  });

  it("refuses a misspelled option the same way (the check above can fail)", async () => {
    const bad = words.slice(2).map((w) => (w === "--store-path" ? "--store-paht" : w));
    await expect(parseManager(bad)).rejects.toThrow(/unknown option '--store-paht'/);
  });

  it("passes `systemd-analyze verify` (every directive known)", async () => {
    // verify wants ExecStart's program to exist: node stands in for the zqs bin.
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-unit-"));
    try {
      const copy = path.join(dir, "zqs.service");
      writeFileSync(copy, unit.replace(`ExecStart=${words[0]}`, `ExecStart=${process.execPath}`));
      const r = await runProcess(process.env.SYSTEMD_ANALYZE ?? "systemd-analyze", [
        "verify",
        copy,
      ]);
      expect(`${r.stdout}${r.stderr}`).toBe("");
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { query?: string | { query?: string } }[] };
}

/** Each query of the dashboard (panels' targets; variables' `label_values(metric, label)`). */
function queries(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? [])
        if (t.expr) out.push({ where: p.title ?? "?", expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = q?.match(/^label_values\((.+),\s*\w+\)$/);
    if (m?.[1]) out.push({ where: `variable ${q}`, expr: m[1] });
  }
  return out;
}

/** The metrics a PromQL query selects, with the label names it matches on. */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  // Grafana's interval variable, inside a range: any duration does for parsing.
  const text = expr.replaceAll("$__rate_interval", "5m");
  const tree = parser.parse(text);
  const out: { metric: string; labels: string[] }[] = [];
  const errors: string[] = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errors.push(`at ${n.from}: ${text.slice(n.from, n.from + 20)}`);
      if (n.name !== "VectorSelector") return;
      const id = n.node.getChild("Identifier");
      const labels = n.node
        .getChild("LabelMatchers")
        ?.getChildren("UnquotedLabelMatcher")
        .map((m) => m.getChild("LabelName"))
        .map((l) => (l ? text.slice(l.from, l.to) : ""));
      if (id) out.push({ metric: text.slice(id.from, id.to), labels: labels ?? [] });
    },
  });
  expect(errors, `PromQL errors in ${expr}`).toEqual([]);
  return out;
}

/** Families of an exposition (`# TYPE`), and the label names of each sample's series. */
function exposition(text: string): {
  types: Map<string, string>;
  labels: Map<string, Set<string>>;
} {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const t = line.match(/^# TYPE (\S+) (\S+)$/);
    if (t?.[1] && t[2]) types.set(t[1], t[2]);
    const s = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /);
    if (!s?.[1] || line.startsWith("#")) continue;
    const set = labels.get(s[1]) ?? new Set<string>();
    for (const m of (s[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(m[1] ?? "");
    labels.set(s[1], set);
  }
  return { types, labels };
}

/** The family a sample name belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own. */
function family(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = name.match(/^(.*)_(bucket|sum|count)$/);
  if (m?.[1] && ["histogram", "summary"].includes(types.get(m[1]) ?? "")) return m[1];
  return undefined;
}

describe("docs/grafana-dashboard.json", () => {
  let m: RunningManager;
  let g: TestGateway;
  let scraped: string;

  beforeAll(async () => {
    m = await startManager();
    g = await startTestGateway(m);
    // One request through the gateway, so that its and the manager's request
    // histograms have a series (the manager does not time `status`).
    expect((await call(g.url, "GET", "/api/queue/get", { key: SINGLE_KEY })).status).toBe(200);
    const r = await call(g.url, "GET", "/metrics", { key: SINGLE_KEY });
    expect(r.status).toBe(200);
    scraped = r.text;
  });
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("names only metrics (and labels) that a manager's /metrics has", () => {
    const d = JSON.parse(readFileSync(GRAFANA, "utf8")) as Dashboard;
    const { types, labels } = exposition(scraped);
    const all = queries(d);
    expect(all.length).toBeGreaterThan(10);
    const missing: string[] = [];
    const named = new Set<string>();
    for (const q of all) {
      for (const s of selectors(q.expr)) {
        const f = family(s.metric, types);
        if (!f) {
          missing.push(`${q.where}: ${s.metric}`);
          continue;
        }
        named.add(f);
        // Labels Prometheus adds when it scrapes are not on /metrics.
        const own = s.labels.filter((l) => l !== "instance" && l !== "job");
        const have = labels.get(s.metric) ?? new Set();
        for (const l of own) if (!have.has(l)) missing.push(`${q.where}: ${s.metric}{${l}}`);
      }
    }
    expect(missing).toEqual([]);
    // And it shows every metric zqs has: a new one gets a panel (or a query) there.
    const unshown = [...types.keys()].filter((n) => n.startsWith("zqs_") && !named.has(n));
    expect(unshown, "metrics docs/grafana-dashboard.json does not show").toEqual([]);
  });
});
