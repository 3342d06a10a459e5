/**
 * A sequential replay of the recorded Python session (vectors.json) against a
 * running zqs manager: each case's `before` steps run, its `request_refs` are
 * filled from this run's own replies, the request is sent and the reply is
 * compared with the recorded one (test/helpers/vectors.ts: keys, types and
 * values; `volatile` paths by existence and type; `impl_specific` text by its
 * prefix up to the first ": ").
 *
 * - `request_refs` / `task_uid_ref`: the value is read from the ACTUAL reply of
 *   the case it names. Every recorded uuid so replaced is remembered, and the
 *   recorded replies compared later are translated (values and object keys, as
 *   in `task_status` with a list of uids, whose `status` keys are uids).
 * - `before`: `sleep` as recorded; `wait_status` polls `status` until every
 *   condition holds (a literal: equality, `{gte: n}`: `>=`);
 *   `wait_task_completed` polls `task_status`. Waits are capped at
 *   WAIT_CAP_S, a failure guard (the recording allows up to 60 s) so that
 *   a stuck manager fails the case instead of the whole run's time budget.
 *   A step that times out fails its case (the request is not sent).
 * - `setup` cases are sent and compared like the others: their replies are
 *   golden too.
 * - `trimmed` cases keep only some entries of the map named after the method
 *   (`plans_allowed`, ...): those must exist and match; zqs may list more.
 * - `timing_dependent`: a snapshot of something in progress. A read-only
 *   request is re-sent (every 20 ms, up to TIMING_POLL_MS) until its reply
 *   matches the recording, instead of the recorded `sleep`s; the last reply is
 *   compared, in full, so a wrong shape never passes. A request that changes
 *   something is sent once. The few fields whose recorded value is a Python
 *   race are listed in TIMING_ALLOWANCES with their reason. A transient state
 *   that zqs leaves before it can be seen (SETTLED_STATE) skips the case,
 *   never passes it, and only when the reply is the recorded settled state.
 * - A reply saying the method "is not implemented yet in this version of zqs"
 *   skips the case (with the reply as the reason), and so are the cases that
 *   depend on a skipped one (SCENES, EXTRA_DEPENDS), so that they are not
 *   compared against a state the skipped case never made.
 *
 * Deliberate zqs differences allowed (each also named where it is applied):
 * - `status.msg` is `RE Manager v<version> (zqs)` (checked exactly), where the
 *   Python server says `RE Manager v0.0.24+45.g6119b21`.
 * - A volatile `msg` (lock errors embed the lock time) is still compared up to
 *   its first line (`Error: Invalid lock key: `).
 * - `script_upload` runs JavaScript in zqs: the two recorded Python scripts that
 *   must load (cases 191, 200) are sent as the equivalent JavaScript modules
 *   (REQUEST_OVERRIDES). The one that must fail (197, a syntax error in either
 *   language) is sent as recorded.
 * - REPLY_ALLOWANCES: case 42 (task_result refuses an int task_uid, README) and
 *   case 50 (function_execute's longer list of supported parameters).
 * - `ip_kernel_state` / `ip_kernel_captured`: none needed; zqs answers
 *   "disabled" / true with the environment open and null closed, as recorded.
 */
import { expect } from "vitest";
import { VERSION } from "../../src/version.js";
import { sleep } from "./wait.js";
import {
  baseRules,
  compare,
  getPath,
  pathPattern,
  setPath,
  vector,
  type BeforeOp,
  type Case,
  type CaseRef,
  type CompareRules,
} from "./vectors.js";

/** What the replay needs of a client: a REQ round trip (RawClient has it). */
export interface ReplayClient {
  request(method: string, params?: unknown): Promise<Record<string, unknown>>;
}

export type CaseOutcome =
  | { index: number; name: string; status: "passed"; reply: Record<string, unknown> }
  | { index: number; name: string; status: "failed"; error: Error }
  | { index: number; name: string; status: "skipped"; reason: string };

export interface ReplayOptions {
  /** First and last case index (inclusive). */
  from: number;
  to: number;
  /**
   * Cases not to send (indices, or index → reason); they are reported as
   * skipped and count as skipped for their dependents.
   */
  skipCases?: readonly number[] | ReadonlyMap<number, string>;
  /** Called after each case, in order, and awaited. */
  onCase: (outcome: CaseOutcome) => void | Promise<void>;
}

export const NOT_IMPLEMENTED = /is not implemented yet in this version of zqs/;
/** Longest wait of a `before` step (the recording says 30–60 s; see the header): a failure guard. */
export const WAIT_CAP_S = 60;
/** How long a timing-dependent read is re-sent until it matches the recording: a failure guard. */
export const TIMING_POLL_MS = 30_000;
/**
 * How long a reply showing the settled state (SETTLED_STATE) is re-sent
 * before the transient state is given up: a state does not come back.
 */
export const SETTLED_GRACE_MS = 300;

/** Requests that change nothing: re-sent while polling, never a dependency. */
const READ_ONLY = new Set([
  "status",
  "ping",
  "config_get",
  "task_status",
  "task_result",
  "queue_get",
  "queue_item_get",
  "history_get",
  "re_runs",
  "re_metadata",
  "lock_info",
  "plans_allowed",
  "devices_allowed",
  "plans_existing",
  "devices_existing",
  "permissions_get",
]);

/**
 * Consecutive parts of the session that build on their own state. A case
 * depends on every earlier case of its scene that changes something (not
 * read-only, and recorded as a success): when one of them was skipped, the
 * case is skipped too. Scenes start from a state that does not depend on
 * what an earlier scene skipped (queue and history cleared, locks released).
 */
const SCENES: { from: number; to: number; name: string }[] = [
  { from: 18, to: 20, name: "before the environment opens (the lists are known at start)" },
  { from: 21, to: 57, name: "environment open, function_execute and task results" },
  { from: 58, to: 118, name: "queue, history and queue control" },
  { from: 119, to: 133, name: "environment update, lists, permissions, runs" },
  { from: 134, to: 150, name: "locks" },
  { from: 151, to: 190, name: "plan control (pause, resume, stop, abort, halt, failure)" },
  { from: 191, to: 212, name: "scripts, closing and destroying the environment" },
];

/**
 * Dependencies across scenes: the `scan_id`s these cases show count the runs
 * of the plans started in the queue scene (58–118).
 */
const EXTRA_DEPENDS: { cases: number[]; on: { from: number; to: number }; why: string }[] = [
  {
    cases: [133, 157, 163, 170, 176, 177, 181, 182],
    on: { from: 58, to: 118 },
    why: "its scan_id counts the runs started in cases 58–118",
  },
];

/**
 * Recorded values that are a race of the Python server, not its behaviour:
 * its manager learns the worker's state by polling it, so a snapshot taken
 * right after a change can show the worker's previous state. zqs's worker
 * reports at once. Each entry allows the value the case's `note` (or the
 * state being recorded) describes, besides the recorded one.
 */
const TIMING_ALLOWANCES: Record<number, { path: string; also: unknown[]; why: string }[]> = {
  29: [
    {
      path: "worker_environment_state",
      also: ["executing_task"],
      why: "note: 'worker_environment_state executing_task'; the recorded 'idle' is the worker's previous state",
    },
  ],
  35: [
    {
      path: "worker_background_tasks",
      also: [1],
      why: "note: 'worker_background_tasks == 1'; the recorded 0 is the count before the worker reported it",
    },
  ],
  75: [
    // Recorded while the second of two queued plans (a short scan, then a
    // count) was starting: the scan in history, the worker not yet running.
    { path: "items_in_queue", also: [1], why: "the first plan may still be running" },
    { path: "items_in_history", also: [0], why: "the first plan may still be running" },
    { path: "worker_environment_state", also: ["executing_plan"], why: "a plan is running" },
    { path: "re_state", also: ["running"], why: "a plan is running" },
  ],
};

/**
 * Transient states a fast manager may pass through before a snapshot can be
 * taken (the plan of #99 takes milliseconds in zqs, zqs closes an
 * environment before its next status): timing-dependent case → the later
 * case recording the settled state, with the same request. When the
 * transient state is not seen within TIMING_POLL_MS but the reply matches
 * the settled one in full, the case is SKIPPED with that reason (never
 * passed); a reply matching neither fails.
 */
/**
 * Cases recorded while the foreground task started by another case was still
 * running (a refusal because the manager is busy): case → the case that
 * started the task. On a machine slow enough for that task to end first, the
 * case is SKIPPED with that reason before it is sent (never passed, and the
 * manager's state is left as the recording expects next).
 */
const WHILE_TASK_RUNS: Record<number, number> = {
  30: 26,
};

const SETTLED_STATE: Record<number, number> = {
  22: 25,
  27: 31,
  28: 32,
  29: 25,
  34: 51,
  35: 25,
  75: 77,
  76: 84,
  99: 101,
  159: 160,
  203: 204,
  209: 210,
};

/**
 * Deliberate zqs differences in a reply, each with the zqs document that
 * states it.
 */
const REPLY_ALLOWANCES: Record<
  number,
  { reply?: Record<string, unknown>; lenient?: Record<string, string>; why: string }
> = {
  42: {
    reply: { success: false, msg: "", task_uid: 10, status: null, result: null },
    lenient: { msg: "Error: 'task_uid' must be a string" },
    why:
      "README 'Differences from the Python server, on purpose': task_result refuses a " +
      "non-string task_uid as task_status does (Python answers not_found); the failure's " +
      "empty values are those of case 41",
  },
  50: {
    lenient: {
      msg: "Error: API request contains unsupported parameters: 'foo'. Supported parameters: ['item', 'user_group', 'user', 'run_in_background', 'lock_key'",
    },
    why:
      "zqs's function_execute takes more parameters (timeout, max_retries, retry_backoff, " +
      "expires, after, priority: docs/client.md), so its list goes on after Python's",
  },
  198: {
    lenient: {
      "result.msg": "Error occurred while executing 'Load script': Failed to execute stript: ",
    },
    why:
      "the script is JavaScript: the syntax error after the recorded prefix is the " +
      "JavaScript parser's, not Python's '(<string>, line 1)'",
  },
};

/**
 * script_upload: zqs's environment is JavaScript. These scripts load in the
 * recording and are sent as the JavaScript modules that define the same
 * names and return the same values (the print goes to the console).
 */
const REQUEST_OVERRIDES: Record<number, { path: string; value: unknown; why: string }[]> = {
  191: [
    {
      path: "params.script",
      value: [
        "export function func_for_test_golden(x) {",
        "  console.log('func_for_test_golden called');",
        "  return { doubled: x * 2, pi: 3.14159, none: null, list: [1, 2.5, 'a'], tuple: [1, 2],",
        "    big: 12345678901234567890, float_int: 2.0, small: 1e-07, unicode: 'caf\\u00e9' };",
        "}",
        "",
        "export function golden_not_allowed(x) {",
        "  return x;",
        "}",
        "",
      ].join("\n"),
      why: "the recorded script is Python; this is the same module in JavaScript",
    },
  ],
  200: [
    {
      path: "params.script",
      value: "export const golden_var = 1;\n",
      why: "the recorded script (`golden_var = 1`) is Python",
    },
  ],
};

function clone<T>(v: T): T {
  return structuredClone(v);
}

class SkipCase extends Error {}

/** Deep copy of `v` with every string (value or key) found in `map` replaced. */
function translate(v: unknown, map: ReadonlyMap<string, string>): unknown {
  if (typeof v === "string") return map.get(v) ?? v;
  if (Array.isArray(v)) return v.map((x) => translate(x, map));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[map.get(k) ?? k] = translate(x, map);
    return out;
  }
  return v;
}

function describeUntil(until: Record<string, unknown>): string {
  return JSON.stringify(until);
}

function conditionHolds(actual: unknown, want: unknown): boolean {
  if (want !== null && typeof want === "object" && "gte" in want) {
    return typeof actual === "number" && actual >= (want as { gte: number }).gte;
  }
  return actual === want;
}

function snippet(v: unknown, max = 1500): string {
  const s = JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The replay's state: the actual replies so far, the uids they replaced, the skipped cases. */
export class ReplaySession {
  /** case index → the reply this run got. */
  readonly replies = new Map<number, Record<string, unknown>>();
  /** case index → why it was skipped. */
  readonly skipped = new Map<number, string>();
  /** recorded uuid → the one this run got in its place. */
  readonly uids = new Map<string, string>();

  constructor(
    private readonly client: ReplayClient,
    private readonly skipCases: ReadonlyMap<number, string> = new Map(),
  ) {}

  async run(index: number): Promise<CaseOutcome> {
    const c = vector(index);
    const base = { index, name: c.name };
    try {
      const reply = await this.runCase(index, c);
      return { ...base, status: "passed", reply };
    } catch (err) {
      if (err instanceof SkipCase) {
        this.skipped.set(index, err.message);
        return { ...base, status: "skipped", reason: err.message };
      }
      const e = err instanceof Error ? err : new Error(String(err));
      e.message = `#${index} ${c.name}: ${e.message}`;
      return { ...base, status: "failed", error: e };
    }
  }

  private async runCase(index: number, c: Case): Promise<Record<string, unknown>> {
    const explicit = this.skipCases.get(index);
    if (explicit !== undefined) throw new SkipCase(explicit);
    this.checkDependencies(index, c);
    if (!c.request) throw new Error("the replay sends only cases with a request object");
    const request = this.prepareRequest(index, c);
    const starter = WHILE_TASK_RUNS[index];
    if (starter !== undefined) {
      const uid = this.replies.get(starter)?.task_uid;
      const now = await this.client.request("task_status", { task_uid: uid });
      if (now.status !== "running") {
        throw new SkipCase(
          `timing: recorded while the task of #${starter} ${vector(starter).name} ran; ` +
            `it was ${String(now.status)} before this case could be sent`,
        );
      }
    }
    const pollRead = c.timing_dependent === true && READ_ONLY.has(String(request.method));
    for (const op of c.before ?? []) {
      // A timing-dependent read waits by polling its own request instead.
      if (op.op === "sleep" && pollRead) continue;
      await this.runOp(op);
    }
    const rules = this.rulesFor(index, c);
    const expected = this.expectedFor(index, c);
    const send = async () => {
      const reply = await this.client.request(String(request.method), request.params);
      if (reply.success === false && NOT_IMPLEMENTED.test(String(reply.msg))) {
        throw new SkipCase(`${c.name}: ${String(reply.msg)}`);
      }
      return reply;
    };
    const settled = SETTLED_STATE[index];
    const isSettled = (r: Record<string, unknown>): boolean => {
      if (settled === undefined) return false;
      const s = vector(settled);
      return this.matches(settled, s, r, this.expectedFor(settled, s), this.rulesFor(settled, s));
    };
    let reply = await send();
    if (pollRead) {
      const start = Date.now();
      for (;;) {
        if (this.matches(index, c, reply, expected, rules)) break;
        const elapsed = Date.now() - start;
        if (elapsed >= TIMING_POLL_MS) break;
        // Past the transient state for SETTLED_GRACE_MS: it will not come back.
        if (elapsed >= SETTLED_GRACE_MS && isSettled(reply)) break;
        await sleep(20);
        reply = await send();
      }
    }
    this.replies.set(index, reply);
    if (settled !== undefined && pollRead && !this.matches(index, c, reply, expected, rules)) {
      if (isSettled(reply)) {
        throw new SkipCase(
          `timing: the recorded transient state was over before it could be observed; ` +
            `the reply matches the settled state of #${settled} ${vector(settled).name}`,
        );
      }
    }
    try {
      this.check(index, c, reply, expected, rules);
    } catch (err) {
      if (err instanceof Error) err.message = `${err.message}\nactual reply: ${snippet(reply)}`;
      throw err;
    }
    return reply;
  }

  /** Skip a case whose ref, op or scene depends on a skipped case. */
  private checkDependencies(index: number, c: Case): void {
    const deps = new Map<number, string>();
    for (const [p, ref] of Object.entries(c.request_refs ?? {})) deps.set(ref.case_index, p);
    for (const op of c.before ?? []) {
      if (op.op === "wait_task_completed" && op.task_uid_ref)
        deps.set(op.task_uid_ref.case_index, "wait_task_completed");
    }
    const changes = (i: number) => {
      const v = vector(i);
      return (
        v.request !== null && !READ_ONLY.has(String(v.request.method)) && v.reply.success !== false
      );
    };
    const scene = SCENES.find((s) => index >= s.from && index <= s.to);
    if (scene) {
      for (let i = scene.from; i < index; i++)
        if (changes(i)) deps.set(i, `an earlier step of the scene '${scene.name}'`);
    }
    for (const x of EXTRA_DEPENDS) {
      if (!x.cases.includes(index)) continue;
      for (let i = x.on.from; i <= x.on.to && i < index; i++) if (changes(i)) deps.set(i, x.why);
    }
    for (const [i, why] of [...deps].sort((a, b) => a[0] - b[0])) {
      const reason = this.skipped.get(i);
      if (reason !== undefined)
        throw new SkipCase(`depends on #${i} ${vector(i).name} (${why}), skipped: ${reason}`);
    }
  }

  /** The value a ref names in this run's reply of the case it points to. */
  private resolve(ref: CaseRef, what: string): unknown {
    const reply = this.replies.get(ref.case_index);
    const actual = reply === undefined ? undefined : getPath(reply, ref.path);
    if (actual === undefined) {
      throw new Error(
        `${what}: case #${ref.case_index} ${vector(ref.case_index).name} has no reply value at ${ref.path}`,
      );
    }
    const recorded = getPath(vector(ref.case_index).reply, ref.path);
    if (typeof recorded === "string" && typeof actual === "string") this.uids.set(recorded, actual);
    return actual;
  }

  private prepareRequest(index: number, c: Case): Record<string, unknown> {
    const request = clone(c.request) as Record<string, unknown>;
    for (const [p, ref] of Object.entries(c.request_refs ?? {}))
      setPath(request, p, this.resolve(ref, `request ref ${p}`));
    for (const o of REQUEST_OVERRIDES[index] ?? []) setPath(request, o.path, o.value);
    return request;
  }

  private async runOp(op: BeforeOp): Promise<void> {
    if (op.op === "sleep") {
      await sleep(op.s * 1000);
      return;
    }
    const timeoutMs = Math.min(op.timeout_s, WAIT_CAP_S) * 1000;
    const end = Date.now() + timeoutMs;
    if (op.op === "wait_status") {
      let last: Record<string, unknown> = {};
      for (;;) {
        last = await this.client.request("status");
        if (Object.entries(op.until).every(([k, want]) => conditionHolds(last[k], want))) return;
        if (Date.now() > end) {
          const seen = Object.fromEntries(Object.keys(op.until).map((k) => [k, last[k]]));
          throw new Error(
            `before: wait_status ${describeUntil(op.until)} timed out after ${timeoutMs / 1000} s; last status: ${JSON.stringify(seen)}`,
          );
        }
        await sleep(20);
      }
    }
    const uid = op.task_uid_ref
      ? this.resolve(op.task_uid_ref, "wait_task_completed")
      : op.task_uid;
    let last: unknown;
    for (;;) {
      last = (await this.client.request("task_status", { task_uid: uid })).status;
      if (last === "completed") return;
      if (Date.now() > end) {
        throw new Error(
          `before: wait_task_completed ${String(uid)} timed out after ${timeoutMs / 1000} s; last status: ${String(last)}`,
        );
      }
      await sleep(20);
    }
  }

  /** The recorded reply with this run's uids, or the allowed zqs reply. */
  private expectedFor(index: number, c: Case): Record<string, unknown> {
    const reply = REPLY_ALLOWANCES[index]?.reply ?? c.reply;
    return translate(clone(reply), this.uids) as Record<string, unknown>;
  }

  private rulesFor(index: number, c: Case): CompareRules {
    // A volatile `msg` is a lock error embedding the lock time: its first
    // line (`Error: Invalid lock key: `) is still compared.
    const volatileMsg = c.volatile.includes("msg");
    const rules = baseRules({ ...c, volatile: c.volatile.filter((p) => p !== "msg") });
    if (volatileMsg) rules.lenient.set("msg", String(c.reply.msg).split("\n")[0] ?? "");
    // status.msg names zqs; checked exactly in check().
    if (c.request?.method === "status") rules.lenient.set("msg", "RE Manager v");
    // Trimmed recordings keep some entries of the map named after the method.
    if (c.trimmed && c.request) rules.subset = [pathPattern(String(c.request.method))];
    const allowances = c.timing_dependent ? TIMING_ALLOWANCES[index] : undefined;
    if (allowances) rules.oneOf = new Map(allowances.map((a) => [a.path, a.also]));
    for (const [p, prefix] of Object.entries(REPLY_ALLOWANCES[index]?.lenient ?? {}))
      rules.lenient.set(p, prefix);
    return rules;
  }

  private check(
    _index: number,
    c: Case,
    reply: Record<string, unknown>,
    expected: Record<string, unknown>,
    rules: CompareRules,
  ): void {
    compare(reply, expected, rules);
    if (c.request?.method === "status") {
      expect(reply.msg, "msg (zqs names itself)").toBe(`RE Manager v${VERSION} (zqs)`);
      expect(Object.keys(reply), "status key order").toEqual(Object.keys(c.reply));
    }
  }

  private matches(
    index: number,
    c: Case,
    reply: Record<string, unknown>,
    expected: Record<string, unknown>,
    rules: CompareRules,
  ): boolean {
    try {
      this.check(index, c, reply, expected, rules);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Replay cases `from`..`to` in order against a running manager, reporting
 * each outcome (passed, failed with the path that differs, or skipped with
 * the reason) to `onCase`. A failed case does not stop the replay.
 */
export async function replaySession(client: ReplayClient, opts: ReplayOptions): Promise<void> {
  const skip =
    opts.skipCases === undefined || opts.skipCases instanceof Map
      ? opts.skipCases
      : new Map((opts.skipCases as readonly number[]).map((i) => [i, "skipped by the caller"]));
  const session = new ReplaySession(client, skip);
  for (let i = opts.from; i <= opts.to; i++) await opts.onCase(await session.run(i));
}
