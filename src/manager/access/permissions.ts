/**
 * User group permissions in the Python server's YAML format: `user_groups` →
 * group → allowed/forbidden plans, devices and functions. A name must pass the
 * `root` group and then the user's group (a request may name `root` itself:
 * its lists alone apply, as in the Python server). Entries are exact names or regular
 * expressions written with a leading `:`; `null` first in an allowed list means
 * everything, in a forbidden list nothing. Device entries may walk the device
 * tree: `:^det:?.*` (top-level regex, then `?regex` for the full dotted names
 * below it), `:?.*:depth=5` (every name down to depth 5), `:-regex` (skip a
 * level that matches, keep searching below).
 */
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { setOwn } from "../../protocol/own.js";

export const PERMISSION_LISTS = [
  "allowed_plans",
  "forbidden_plans",
  "allowed_devices",
  "forbidden_devices",
  "allowed_functions",
  "forbidden_functions",
] as const;
type ListName = (typeof PERMISSION_LISTS)[number];
type Kind = "plans" | "devices" | "functions";

export interface PermissionsDoc {
  user_groups: Record<string, Partial<Record<ListName, (string | null)[]>>>;
}

/** The permissive default used when no file is given. */
export const DEFAULT_PERMISSIONS: PermissionsDoc = {
  user_groups: {
    root: {
      allowed_plans: [null],
      forbidden_plans: [":^_"],
      allowed_devices: [null],
      forbidden_devices: [":^_:?.*"],
      allowed_functions: [null],
      forbidden_functions: [":^_"],
    },
    primary: {
      allowed_plans: [":.*"],
      forbidden_plans: [null],
      allowed_devices: [":?.*"],
      forbidden_devices: [null],
      allowed_functions: [":.*"],
      forbidden_functions: [null],
    },
  },
};

export class PermissionsError extends Error {
  override name = "PermissionsError";
}

/** Check the document's shape; returns a normalised copy. */
export function validatePermissions(doc: unknown): PermissionsDoc {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new PermissionsError("User group permissions: the document must be a map");
  }
  const groups = (doc as Record<string, unknown>).user_groups;
  if (groups === null || typeof groups !== "object" || Array.isArray(groups)) {
    throw new PermissionsError("User group permissions: missing 'user_groups' map");
  }
  if (!Object.hasOwn(groups, "root")) {
    throw new PermissionsError("User group permissions: Missing required user group: 'root'");
  }
  const out: PermissionsDoc = { user_groups: {} };
  for (const [g, rules] of Object.entries(groups as Record<string, unknown>)) {
    if (rules === null || typeof rules !== "object" || Array.isArray(rules)) {
      throw new PermissionsError(`User group permissions: group '${g}' must be a map`);
    }
    const clean: Partial<Record<ListName, (string | null)[]>> = {};
    for (const [k, v] of Object.entries(rules as Record<string, unknown>)) {
      if (!(PERMISSION_LISTS as readonly string[]).includes(k)) {
        throw new PermissionsError(`User group permissions: unknown list '${k}' in group '${g}'`);
      }
      if (v === null) {
        clean[k as ListName] = [];
        continue;
      }
      if (!Array.isArray(v) || !v.every((e) => e === null || typeof e === "string")) {
        throw new PermissionsError(
          `User group permissions: '${g}.${k}' must be a list of names or patterns`,
        );
      }
      for (const e of v as (string | null)[]) {
        if (typeof e === "string" && e.startsWith(":")) compilePattern(e, g, k);
      }
      clean[k as ListName] = [...(v as (string | null)[])];
    }
    // A group may have any name, `__proto__` too.
    setOwn(out.user_groups, g, clean);
  }
  return out;
}

export function loadPermissionsFile(file: string): PermissionsDoc {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PermissionsError(
      `Cannot read the permissions file '${file}': ${(err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new PermissionsError(
      `The permissions file '${file}' is not valid YAML: ${(err as Error).message}`,
    );
  }
  return validatePermissions(doc);
}

// ---- patterns ------------------------------------------------------------------

interface Pattern {
  /** Per-level matchers from the top; a "?" part matches the rest of the dotted name. */
  parts: { kind: "name" | "skip" | "full"; re: RegExp }[];
  depth: number | undefined;
}

const compiled = new Map<string, Pattern>();

function compilePattern(entry: string, group = "?", list = "?"): Pattern {
  const cached = compiled.get(entry);
  if (cached) return cached;
  const body = entry.slice(1);
  const raw = body.split(/:(?=\?|-|depth=|\^|[A-Za-z_])/);
  const p: Pattern = { parts: [], depth: undefined };
  try {
    for (const part of raw) {
      const d = /^depth=(\d+)$/.exec(part);
      if (d) p.depth = Number(d[1]);
      else if (part.startsWith("?")) p.parts.push({ kind: "full", re: new RegExp(part.slice(1)) });
      else if (part.startsWith("-")) p.parts.push({ kind: "skip", re: new RegExp(part.slice(1)) });
      else p.parts.push({ kind: "name", re: new RegExp(part) });
    }
  } catch (err) {
    throw new PermissionsError(
      `User group permissions: invalid pattern '${entry}' in '${group}.${list}': ${(err as Error).message}`,
    );
  }
  compiled.set(entry, p);
  return p;
}

/** Does a plan/function name match an entry? */
function matchName(entry: string, name: string): boolean {
  if (!entry.startsWith(":")) return entry === name;
  const p = compilePattern(entry);
  const first = p.parts[0];
  return first !== undefined && first.re.test(name);
}

/** Does a device path (["det1"], ["det1", "val"]) match an entry? */
function matchDevice(entry: string, path: string[]): boolean {
  if (!entry.startsWith(":")) return path.length === 1 && path[0] === entry;
  const p = compilePattern(entry);
  if (p.depth !== undefined && path.length > p.depth) return false;
  let level = 0;
  for (const part of p.parts) {
    if (part.kind === "full") return part.re.test(path.slice(level).join("."));
    if (level >= path.length) return false;
    const comp = path[level] as string;
    if (part.kind === "skip") {
      if (!part.re.test(comp)) return false;
      level++;
      continue;
    }
    if (!part.re.test(comp)) return false;
    level++;
  }
  return level === path.length;
}

function passes(
  allowed: (string | null)[] | undefined,
  forbidden: (string | null)[] | undefined,
  test: (entry: string) => boolean,
): boolean {
  const a = allowed ?? [];
  const everything = a[0] === null;
  const ok = everything || a.some((e) => e !== null && test(e));
  if (!ok) return false;
  const f = forbidden ?? [];
  if (f[0] === null) return true;
  return !f.some((e) => e !== null && test(e));
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, sortKeysDeep(o[k])]),
    );
  }
  return v;
}

export class Permissions {
  constructor(public doc: PermissionsDoc) {}

  /** A group requests may name: any group of the document, `root` included. */
  hasGroup(group: string): boolean {
    return Object.hasOwn(this.doc.user_groups, group);
  }

  private check(group: string, kind: Kind, test: (entry: string) => boolean): boolean {
    for (const g of group === "root" ? ["root"] : ["root", group]) {
      const rules = Object.hasOwn(this.doc.user_groups, g) ? this.doc.user_groups[g] : undefined;
      if (!rules) return false;
      if (!passes(rules[`allowed_${kind}`], rules[`forbidden_${kind}`], test)) return false;
    }
    return true;
  }

  functionAllowed(group: string, name: string): boolean {
    return this.check(group, "functions", (e) => matchName(e, name));
  }

  planAllowed(group: string, name: string): boolean {
    return this.check(group, "plans", (e) => matchName(e, name));
  }

  deviceAllowed(group: string, path: string[]): boolean {
    return this.check(group, "devices", (e) => matchDevice(e, path));
  }

  /** plans_allowed: the existing plans the group may use, keys sorted at every level. */
  allowedPlans(group: string, existing: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(existing).sort()) {
      if (this.planAllowed(group, name)) setOwn(out, name, sortKeysDeep(existing[name]));
    }
    return out;
  }

  /** devices_allowed: allowed top-level devices with their allowed components. */
  allowedDevices(group: string, existing: Record<string, unknown>): Record<string, unknown> {
    const prune = (desc: Record<string, unknown>, path: string[]): Record<string, unknown> => {
      const copy: Record<string, unknown> = { ...desc };
      const comps = desc.components as Record<string, Record<string, unknown>> | undefined;
      if (comps) {
        const kept: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(comps)) {
          if (this.deviceAllowed(group, [...path, k])) setOwn(kept, k, prune(v, [...path, k]));
        }
        if (Object.keys(kept).length > 0) copy.components = kept;
        else delete copy.components;
      }
      return copy;
    };
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(existing).sort()) {
      if (this.deviceAllowed(group, [name])) {
        setOwn(out, name, sortKeysDeep(prune(existing[name] as Record<string, unknown>, [name])));
      }
    }
    return out;
  }

  /** Allowed device names (top level and dotted), for plan validation. */
  allowedDeviceNames(group: string, existing: Record<string, unknown>): Set<string> {
    const names = new Set<string>();
    const walk = (desc: Record<string, unknown>, path: string[]) => {
      names.add(path.join("."));
      const comps = desc.components as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(comps ?? {})) {
        if (this.deviceAllowed(group, [...path, k])) walk(v, [...path, k]);
      }
    };
    for (const [name, desc] of Object.entries(existing)) {
      if (this.deviceAllowed(group, [name])) walk(desc as Record<string, unknown>, [name]);
    }
    return names;
  }
}
