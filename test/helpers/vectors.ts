/**
 * The recorded Python session (test/fixtures/vectors.json, a copy of
 * shared/compat/vectors.json) and the comparison of a zqs reply with a
 * recorded one, shared by the foundation replay (cases without an
 * environment) and the full session replay (test/compat).
 *
 * Compared: keys, types, values. `volatile` paths: existence and type only.
 * `impl_specific` paths (Python or library text): a string must start with
 * the recorded text up to its first ": "; a non-string (an object of version
 * strings) is compared by type only. The callers add their own rules.
 */
import { expect } from "vitest";
import vectors from "../fixtures/vectors.json" with { type: "json" };

/** Where an earlier case's reply holds a value that a request or op needs. */
export interface CaseRef {
  case_index: number;
  case?: string;
  path: string;
}

export type BeforeOp =
  | { op: "sleep"; s: number }
  | {
      op: "wait_status";
      /** status key → a literal (equality) or `{gte: n}`. */
      until: Record<string, unknown>;
      timeout_s: number;
    }
  | { op: "wait_task_completed"; task_uid: string; task_uid_ref?: CaseRef; timeout_s: number };

export interface Case {
  name: string;
  note?: string;
  request: Record<string, unknown> | null;
  request_bytes_hex?: string;
  request_text?: string;
  reply: Record<string, unknown>;
  reply_raw?: string;
  volatile: string[];
  impl_specific?: string[];
  /** request path (`params.uids[0]`) → where the recorded uuid came from. */
  request_refs?: Record<string, CaseRef>;
  before?: BeforeOp[];
  setup?: boolean;
  timing_dependent?: boolean;
  trimmed?: boolean;
}

export const VECTORS = vectors as unknown as Case[];

export function vector(i: number): Case {
  const c = VECTORS[i];
  if (!c) throw new Error(`no vector ${i}`);
  return c;
}

/** `a.b`, `x[*].y`, `x[0]`, `status.*` → a regular expression over our paths. */
export function pathPattern(p: string): RegExp {
  const parts = p.split(/(\[\*\]|\[\d+\]|\.\*$|\.)/).filter((t) => t !== "");
  const re = parts
    .map((t) => {
      if (t === "[*]") return "\\[\\d+\\]";
      if (t === ".*") return "\\.[^.[]+";
      if (t === ".") return "\\.";
      if (/^\[\d+\]$/.test(t)) return `\\[${t.slice(1, -1)}\\]`;
      return t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${re}$`);
}

/** Split `a.b[0].c` into keys and indices. */
export function pathSegments(p: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/** The value at `a.b[0].c` (undefined where the path does not exist). */
export function getPath(o: unknown, p: string): unknown {
  let v = o;
  for (const s of pathSegments(p)) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

/** Set the value at `a.b[0].c`; every container on the way must exist. */
export function setPath(o: unknown, p: string, value: unknown): void {
  const segs = pathSegments(p);
  const last = segs.pop();
  let v = o;
  for (const s of segs) v = (v as Record<string | number, unknown> | undefined)?.[s];
  if (last === undefined || v === null || typeof v !== "object")
    throw new Error(`cannot set ${p}: its container does not exist`);
  (v as Record<string | number, unknown>)[last] = value;
}

export interface CompareRules {
  /** Existence and type only. */
  volatile: RegExp[];
  /** path → the prefix the text must start with. */
  lenient: Map<string, string>;
  /** path → the values allowed besides the recorded one (documented by the caller). */
  oneOf?: Map<string, unknown[]>;
  /** Objects (trimmed recordings) whose recorded keys must all exist; more may. */
  subset?: RegExp[];
}

/** The prefix kept of a Python-specific text: up to its first ": " (or all of it). */
export function lenientPrefix(text: string): string {
  const i = text.indexOf(": ");
  return i < 0 ? text : text.slice(0, i + 2);
}

export function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

export function compare(actual: unknown, expected: unknown, rules: CompareRules, path = ""): void {
  const where = path || "(reply)";
  if (rules.volatile.some((re) => re.test(path))) {
    expect(actual, `${where} is volatile but must exist`).not.toBeUndefined();
    expect(kind(actual), `${where} type (volatile)`).toBe(kind(expected));
    return;
  }
  const prefix = rules.lenient.get(path);
  if (prefix !== undefined) {
    expect(typeof actual, `${where} type`).toBe("string");
    expect(
      (actual as string).startsWith(prefix),
      `${where}: ${String(actual)} should start with ${prefix}`,
    ).toBe(true);
    return;
  }
  const alternatives = rules.oneOf?.get(path);
  if (alternatives !== undefined) {
    expect([expected, ...alternatives], `${where} (recorded or allowed values)`).toContainEqual(
      actual,
    );
    return;
  }
  expect(kind(actual), `${where} type`).toBe(kind(expected));
  if (Array.isArray(expected)) {
    const a = actual as unknown[];
    expect(a.length, `${where} length`).toBe(expected.length);
    expected.forEach((e, i) => compare(a[i], e, rules, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    if (rules.subset?.some((re) => re.test(path))) {
      expect(Object.keys(a), `${where} keys (recorded ones, trimmed)`).toEqual(
        expect.arrayContaining(Object.keys(e)),
      );
    } else {
      expect(Object.keys(a).sort(), `${where} keys`).toEqual(Object.keys(e).sort());
    }
    for (const k of Object.keys(e)) compare(a[k], e[k], rules, path ? `${path}.${k}` : k);
    return;
  }
  expect(actual, where).toEqual(expected);
}

/**
 * The rules every replay of a case starts from: its `volatile` paths, and its
 * `impl_specific` paths (a string: its prefix; anything else: its type).
 */
export function baseRules(c: Case): CompareRules {
  const volatile = c.volatile.map(pathPattern);
  const lenient = new Map<string, string>();
  for (const p of c.impl_specific ?? []) {
    const v = getPath(c.reply, p);
    if (typeof v === "string") lenient.set(p, lenientPrefix(v));
    else volatile.push(pathPattern(p));
  }
  return { volatile, lenient };
}
