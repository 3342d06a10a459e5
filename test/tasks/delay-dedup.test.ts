/**
 * Delayed tasks (`delay`, `not_before`) and deduplication (`dedup_key`,
 * `dedup_ttl`) on a real manager, both stores (LMDB in a temp dir; a real
 * redis-server): a delay is honoured (the start read from the task's own
 * `time_start`, never before its `not_before`), a scheduled task can be
 * cancelled, bad input is refused naming what is wrong, two submissions with
 * one key make one task; and across a kill -9 and a restart, a scheduled task
 * whose time passed meanwhile runs once at start, one whose time is still to
 * come stays scheduled, and keys still answer.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import {
  eventsOf,
  fn,
  info,
  msOf,
  openEnvironment,
  USER,
  waitCompleted,
  waitEvent,
  waitFinal,
  waitInfo,
} from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";

/** `mark(file, tag)` appends the tag to the file: how many times a task ran. */
const STARTUP = {
  "mark.mjs": `import { appendFileSync } from "node:fs";
export function mark(file, tag) { appendFileSync(file, tag + "\\n"); return tag; }`,
};

/** The lines of the marks file with this tag. */
function runsOf(file: string, tag: string): number {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return 0;
  }
  return text.split("\n").filter((l) => l === tag).length;
}

async function submit(
  c: RawClient,
  tag: string,
  extra: Record<string, unknown>,
  file: string,
): Promise<Record<string, unknown>> {
  return c.request("function_execute", {
    item: fn("mark", [file, tag]),
    run_in_background: true,
    ...USER,
    ...extra,
  });
}

describe.each(STORES)("delayed and deduplicated tasks (%s store)", (_label, makeStore) => {
  let store: StoreSetup;
  let dir: string;
  let marks: string;
  let m: RunningManager;
  let c: RawClient;
  let listener: InfoListener;

  async function start(): Promise<void> {
    m = await startManager({
      infoInterval: BRISK_INFO_INTERVAL,
      startup: STARTUP,
      args: store.args,
      publishConsole: true,
    });
    c = new RawClient(m.controlAddr);
    listener = new InfoListener(m.infoAddr, ["QS_Task"]);
    await listener.ready();
    await openEnvironment(c);
  }

  beforeAll(async () => {
    store = await makeStore();
    dir = mkdtempSync(path.join(os.tmpdir(), "zqs-delay-"));
    marks = path.join(dir, "marks");
    await start();
  });
  afterAll(async () => {
    listener.close();
    c.close();
    await m.stop();
    await store.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a delayed task is scheduled until its time and never starts before it", async () => {
    const r = await submit(c, "delayed", { delay: 1.5 }, marks);
    expect(r.success, String(r.msg)).toBe(true);
    const uid = r.task_uid as string;
    const first = await info(c, uid);
    // Read at once: well before 1.5 s on any machine that answers a request at all.
    expect(first.state).toBe("scheduled");
    const notBefore = msOf((first as unknown as { not_before: string }).not_before);
    const listed = await c.request("tasks_list", { state: "scheduled" });
    expect((listed.tasks as { task_uid: string }[]).map((t) => t.task_uid)).toContain(uid);
    const counts = await c.request("tasks_counts");
    expect((counts.counts as Record<string, number>).scheduled).toBeGreaterThanOrEqual(1);
    expect((await c.request("task_status", { task_uid: uid })).status).toBe("running");

    const result = await waitCompleted(c, uid);
    expect(result.time_start as number).toBeGreaterThanOrEqual(notBefore / 1000);
    const done = await info(c, uid);
    expect(msOf(done.started_at)).toBeGreaterThanOrEqual(notBefore);
    // The events: sent as scheduled, due (pending), then run.
    await waitEvent(listener, uid, "task-succeeded");
    const events = eventsOf(listener, uid);
    expect(events.map((e) => [e.event, e.state]).slice(0, 2)).toEqual([
      ["task-sent", "scheduled"],
      ["task-due", "pending"],
    ]);
    expect(runsOf(marks, "delayed")).toBe(1);
  });

  it("not_before as an ISO time: the start is not before it", async () => {
    const at = new Date(Date.now() + 1200).toISOString();
    const r = await submit(c, "iso", { not_before: at }, marks);
    expect(r.success, String(r.msg)).toBe(true);
    const result = await waitCompleted(c, r.task_uid as string);
    expect((result.time_start as number) * 1000).toBeGreaterThanOrEqual(Date.parse(at));
  });

  it("a scheduled task is cancelled, unrun", async () => {
    const r = await submit(c, "cancelled", { delay: 3600 }, marks);
    const uid = r.task_uid as string;
    const cancel = await c.request("task_cancel", { task_uid: uid });
    expect(cancel).toMatchObject({ success: true, result: "cancelled" });
    const end = await waitFinal(c, uid);
    expect(end).toMatchObject({ state: "cancelled", attempts: 0, started_at: null });
    expect(runsOf(marks, "cancelled")).toBe(0);
  });

  it("bad input gets a clear refusal", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ delay: -1 }, /delay/],
      [{ delay: "10" }, /delay/],
      [{ delay: 1, not_before: Date.now() / 1000 + 5 }, /either 'delay' or 'not_before'/],
      [{ delay: 10 * 365 * 24 * 3600 }, /'delay' is .* at most \(--max-delay\)/],
      [{ not_before: "tomorrow-ish" }, /not_before/],
      [{ not_before: Date.now() / 1000 + 10 * 365 * 24 * 3600 }, /--max-delay/],
      [{ dedup_key: 5 }, /dedup_key/],
      [{ dedup_key: "" }, /dedup_key/],
      [
        { dedup_key: "k".repeat(300) },
        /'dedup_key' has 300 characters: 256 at most \(--max-dedup-key\)/,
      ],
      [{ dedup_key: "k", dedup_ttl: 1e9 }, /'dedup_ttl' is 1000000000 s.*\(--max-dedup-ttl\)/],
      [{ dedup_key: "k", dedup_ttl: -1 }, /dedup_ttl/],
      [{ dedup_ttl: 10 }, /'dedup_ttl' is given without a 'dedup_key'/],
      [{ delay: 10, run_in_background: false }, /runs in the background/],
    ];
    for (const [params, msg] of cases) {
      const r = await submit(c, "bad", params, marks);
      expect(r.success, JSON.stringify(params)).toBe(false);
      expect(r.msg, JSON.stringify(params)).toMatch(msg);
    }
    const run = await c.request("run_create", {
      function: fn("mark", [marks, "bad"]),
      count: 1,
      delay: 1,
      not_before: 1,
      ...USER,
    });
    expect(run.success).toBe(false);
    expect(run.msg).toMatch(/either 'delay' or 'not_before'/);
  });

  it("two submissions with one dedup_key make one task; another user's key is their own", async () => {
    const a = await submit(c, "dedup", { dedup_key: "nightly", delay: 3600 }, marks);
    expect(a).toMatchObject({ success: true });
    expect(a.deduplicated).toBeUndefined();
    const b = await submit(c, "dedup", { dedup_key: "nightly" }, marks);
    expect(b).toMatchObject({ success: true, task_uid: a.task_uid, deduplicated: true });
    const other = await submit(
      c,
      "dedup",
      { dedup_key: "nightly", user: "Other", delay: 3600 },
      marks,
    );
    expect(other.success, String(other.msg)).toBe(true);
    expect(other.task_uid).not.toBe(a.task_uid);
    // Once the task ends (ttl 0), the key is free again.
    await c.request("task_cancel", { task_uid: [a.task_uid, other.task_uid] });
    await waitFinal(c, a.task_uid as string);
    const again = await submit(c, "dedup", { dedup_key: "nightly", delay: 3600 }, marks);
    expect(again.success, String(again.msg)).toBe(true);
    expect(again.task_uid).not.toBe(a.task_uid);
    await c.request("task_cancel", { task_uid: again.task_uid });
    const metrics = await c.request("metrics");
    expect((metrics.metrics as { deduplicated: number }).deduplicated).toBeGreaterThanOrEqual(1);
  });

  it("a kill -9 and a restart: a task due meanwhile runs once, keys and delays are kept", async () => {
    // Due while the manager is down.
    const due = await submit(c, "due-while-down", { delay: 4 }, marks);
    // Still to come after the restart, holding a key.
    const later = await submit(c, "later", { delay: 3600, dedup_key: "held" }, marks);
    // Ended, holding its key for its ttl.
    const ended = await submit(c, "ended", { dedup_key: "ttl", dedup_ttl: 3600 }, marks);
    await waitCompleted(c, ended.task_uid as string);
    const dueInfo = await info(c, due.task_uid as string);
    expect(dueInfo.state).toBe("scheduled");
    const notBefore = msOf((dueInfo as unknown as { not_before: string }).not_before);
    await m.kill9();
    listener.close();
    c.close();
    await waitUntil(() => Date.now() > notBefore);
    await start();

    const uid = due.task_uid as string;
    const result = await waitCompleted(c, uid);
    expect((result.time_start as number) * 1000).toBeGreaterThanOrEqual(notBefore);
    const laterInfo = await waitInfo(c, later.task_uid as string, (i) => i.state === "scheduled");
    expect((laterInfo as unknown as { not_before: string | null }).not_before).not.toBeNull();
    const held = await submit(c, "later", { dedup_key: "held" }, marks);
    expect(held).toMatchObject({ success: true, task_uid: later.task_uid, deduplicated: true });
    const ttl = await submit(c, "ended", { dedup_key: "ttl" }, marks);
    expect(ttl).toMatchObject({ success: true, task_uid: ended.task_uid, deduplicated: true });
    // Once: no second run of the task due while down, nor of the ended one.
    await c.request("task_cancel", { task_uid: later.task_uid });
    await waitFinal(c, later.task_uid as string);
    expect(runsOf(marks, "due-while-down")).toBe(1);
    expect(runsOf(marks, "ended")).toBe(1);
    expect(runsOf(marks, "later")).toBe(0);
  });
});
