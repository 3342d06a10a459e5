/**
 * Values thrown by user code that are not Errors are reported as what they are
 * (not "[object Object]"), by every path: function_execute (foreground and
 * background), plans (the history's exit message), tasks of runs and the
 * startup code itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { execute, fn, openEnvironment, USER, waitCompleted } from "../tasks/helpers.js";

/** Startup code whose functions and plans throw what `kind` names. */
const THROWERS = `
function thrown(kind) {
  switch (kind) {
    case "object":
      return { code: 3, why: "x" };
    case "string":
      return "text";
    case "number":
      return 42;
    case "null":
      return null;
    case "undefined":
      return undefined;
    case "bad-tostring":
      return {
        toString() {
          throw new Error("toString must not be called");
        },
      };
    case "circular": {
      const o = { name: "loop" };
      o.self = o;
      return o;
    }
    case "huge":
      return { rows: Array.from({ length: 100_000 }, (_, i) => ({ i, text: "x".repeat(50) })) };
    case "error":
      return new Error("an ordinary error");
    default:
      return \`unknown kind \${kind}\`;
  }
}

export function throw_value(kind) {
  throw thrown(kind);
}

export function reject_value(kind) {
  return Promise.reject(thrown(kind));
}

export async function* plan_throw_value(kind) {
  yield { cmd: "checkpoint" };
  throw thrown(kind);
}
`;

/** What each kind of thrown value must read as (see the fixture). */
const EXPECTED: Record<string, string> = {
  object: "{ code: 3, why: 'x' }",
  string: "text",
  number: "42",
  null: "null",
  undefined: "undefined",
  "bad-tostring": "{ toString: [Function: toString] }",
  circular: "<ref *1> { name: 'loop', self: [Circular *1] }",
  error: "an ordinary error",
};

/** The described huge object: cut, with a marker saying so, at a sane length. */
function expectHuge(text: string): void {
  expect(text).toContain("{ rows: [");
  expect(text).toMatch(/… \(cut: \d+ more characters\)$/);
  expect(text.length).toBeLessThan(1200);
}

let m: RunningManager;
let c: RawClient;
let startup: string;

beforeAll(async () => {
  startup = mkdtempSync(path.join(os.tmpdir(), "zqs-throwers-"));
  writeFileSync(path.join(startup, "10-throwers.mjs"), THROWERS);
  m = await startManager({ examples: false, args: ["--startup-dir", startup] });
  c = new RawClient(m.controlAddr, { timeoutMs: 10_000 });
  await openEnvironment(c);
}, 30_000);
afterAll(async () => {
  c.close();
  await m.stop();
  rmSync(startup, { recursive: true, force: true });
});

const KINDS = [...Object.keys(EXPECTED), "huge"];

function check(msg: string, prefix: string, kind: string): void {
  expect(msg).not.toContain("[object Object]");
  expect(msg.startsWith(prefix), msg).toBe(true);
  const text = msg.slice(prefix.length);
  if (kind === "huge") expectHuge(text);
  else expect(text).toBe(EXPECTED[kind]);
}

describe("function_execute", () => {
  const PREFIX = "Error occurred while executing 'Execute function': ";
  for (const background of [false, true]) {
    for (const name of ["throw_value", "reject_value"]) {
      it(`${name}, ${background ? "background" : "foreground"}: every kind`, async () => {
        for (const kind of KINDS) {
          const uid = await execute(c, fn(name, [kind]), { run_in_background: background });
          const r = await waitCompleted(c, uid);
          expect(r.success).toBe(false);
          check(String(r.msg), PREFIX, kind);
          expect(String(r.traceback)).not.toContain("[object Object]");
        }
      });
    }
  }
});

describe("plans", () => {
  it("the history's exit message names what the plan threw", async () => {
    for (const kind of KINDS) {
      const before = (await c.request("status")).items_in_history as number;
      const r = await c.request("queue_item_execute", {
        item: { item_type: "plan", name: "plan_throw_value", args: [kind] },
        ...USER,
      });
      expect(r.success, String(r.msg)).toBe(true);
      await waitUntil(async () => {
        const s = await c.request("status");
        return s.items_in_history === before + 1 && s.manager_state === "idle";
      });
      const h = (await c.request("history_get")).items as {
        result: { exit_status: string; msg: string; traceback: string };
      }[];
      const last = h[h.length - 1];
      expect(last?.result.exit_status).toBe("failed");
      check(String(last?.result.msg), "Plan failed: ", kind);
      expect(String(last?.result.traceback)).not.toContain("[object Object]");
    }
  });
});

describe("tasks of runs", () => {
  it("each failed task's message names what was thrown", async () => {
    for (const kind of KINDS) {
      const r = await c.request("run_create", {
        function: fn("throw_value", [kind]),
        count: 1,
        ...USER,
      });
      expect(r.success, String(r.msg)).toBe(true);
      const [task_uid] = r.task_uids as string[];
      const res = await waitCompleted(c, task_uid as string);
      expect(res.success).toBe(false);
      check(String(res.msg), "Error occurred while executing 'Execute function': ", kind);
    }
  });
});

describe("startup code", () => {
  it("a startup file that throws an object says what it threw", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "zqs-startup-throws-"));
    writeFileSync(path.join(dir, "bad.mjs"), "throw { code: 7, reason: 'no hardware' };\n");
    const m2 = await startManager({ examples: false, args: ["--startup-dir", dir] });
    const c2 = new RawClient(m2.controlAddr);
    try {
      expect((await c2.request("environment_open")).success).toBe(true);
      await waitUntil(() => m2.output().includes("Failed to load the startup code"), 20_000);
      expect(m2.output()).toContain(
        "Failed to load the startup code: { code: 7, reason: 'no hardware' }",
      );
      expect(m2.output()).not.toContain("[object Object]");
    } finally {
      c2.close();
      await m2.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
