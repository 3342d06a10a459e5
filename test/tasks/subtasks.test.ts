/**
 * Subtasks (context().subtask / subtaskNoWait) and tasks_list / tasks_counts,
 * against a real manager and real workers: values, states, links and events
 * of a parent's children; cancelling a parent; a pool whose slots are all
 * held by parents waiting for children; README's example; paging while tasks
 * are added, on LMDB and on Redis, and after a restart (kill -9).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { gateModule, newGate } from "../helpers/startup.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import {
  durable,
  eventsOf,
  execute,
  fn,
  info,
  openEnvironment,
  USER,
  waitEvent,
  waitFinal,
  waitInfo,
  type Info,
} from "../helpers/tasks.js";
import { waitUntil } from "../helpers/wait.js";
import { json, zqs } from "../cli/helpers.js";
import { allPages, FAMILY, list, readmeStartup, type ListEntry } from "./subtasks-helpers.js";

type Links = Info & {
  parent: string | null;
  user: string | null;
  children: string[];
  children_counts: Record<string, number>;
};

async function links(c: RawClient, uid: string): Promise<Links> {
  return (await info(c, uid)) as Links;
}

async function result(c: RawClient, uid: string): Promise<Record<string, unknown>> {
  const r = await c.request("task_result", { task_uid: uid });
  return r.result as Record<string, unknown>;
}

const readme = readmeStartup();
const STARTUP = { "family.mjs": FAMILY, "gate.mjs": gateModule(), [readme.name]: readme.code };

/** Run `family` to its end; returns the parent's uid and its three children. */
async function runFamily(c: RawClient) {
  const parent = await execute(c, fn("family"), { run_in_background: true });
  const done = await waitFinal(c, parent);
  expect(done.state, done.message ?? "").toBe("completed");
  const value = (await result(c, parent)).return_value as {
    awaited: number;
    loose: string;
    failure: { name: string; uid: string; state: string; message: string };
  };
  const p = await links(c, parent);
  expect(p.children).toHaveLength(3);
  const [awaited, loose, failing] = p.children as [string, string, string];
  await waitFinal(c, loose);
  return { parent, value, awaited, loose, failing };
}

/** Every group may call everything, but 'limited' may call only \`refused\`. */
const PERMISSIONS = `
user_groups:
  root:
    allowed_plans: [null]
    forbidden_plans: [null]
    allowed_devices: [null]
    forbidden_devices: [null]
    allowed_functions: [null]
    forbidden_functions: [null]
  primary:
    allowed_plans: [null]
    forbidden_plans: [null]
    allowed_devices: [null]
    forbidden_devices: [null]
    allowed_functions: [null]
    forbidden_functions: [null]
  limited:
    allowed_plans: [null]
    forbidden_plans: [null]
    allowed_devices: [null]
    forbidden_devices: [null]
    allowed_functions: ["refused"]
    forbidden_functions: [null]
`;
const LIMITED = { user: "Limited User", user_group: "limited" };

describe("subtasks with one worker", () => {
  let m: RunningManager;
  let c: RawClient;
  let events: InfoListener;
  let permsDir: string;
  beforeAll(async () => {
    permsDir = mkdtempSync(path.join(os.tmpdir(), "zqs-perms-"));
    const perms = path.join(permsDir, "permissions.yaml");
    writeFileSync(perms, PERMISSIONS);
    m = await startManager({
      infoInterval: BRISK_INFO_INTERVAL,
      startup: STARTUP,
      args: ["--user-group-permissions", perms],
    });
    c = new RawClient(m.controlAddr);
    events = await new InfoListener(m.infoAddr, ["QS_Task"]).ready();
    await openEnvironment(c);
  });
  afterAll(async () => {
    events.close();
    c.close();
    await m.stop();
    rmSync(permsDir, { recursive: true, force: true });
  });

  it("a parent with three children: values, states, links and events", async () => {
    const { parent, value, awaited, loose, failing } = await runFamily(c);
    // The awaited child's value; the loose one's uid; the failing one's rejection, caught.
    expect(value.awaited).toBe(42);
    expect(value.loose).toBe(loose);
    expect(value.failure).toMatchObject({ name: "SubtaskError", uid: failing, state: "failed" });
    expect(value.failure.message).toContain("bad child");
    expect(await result(c, loose)).toMatchObject({ success: true, return_value: 10 });
    expect(await result(c, failing)).toMatchObject({ success: false });

    const p = await links(c, parent);
    expect(p.parent).toBeNull();
    expect(p.children_counts).toEqual({ completed: 2, failed: 1 });
    for (const [child, name, state] of [
      [awaited, "double", "completed"],
      [loose, "double", "completed"],
      [failing, "boom", "failed"],
    ] as const) {
      const i = await links(c, child);
      expect(i).toMatchObject({ parent, name, state, user: USER.user, children: [] });
      // Every event of a child names its parent; the parent's name none.
      await waitEvent(events, child, state === "completed" ? "task-succeeded" : "task-failed");
      const evs = eventsOf(events, child);
      expect(evs.map((e) => e.event)).toEqual([
        "task-sent",
        "task-received",
        "task-started",
        state === "completed" ? "task-succeeded" : "task-failed",
      ]);
      for (const e of evs) expect(e.parent).toBe(parent);
    }
    await waitEvent(events, parent, "task-succeeded");
    for (const e of eventsOf(events, parent)) expect(e).not.toHaveProperty("parent");
    // tasks_list by parent: the three, newest first.
    const page = await list(c, { parent });
    expect(page.tasks.map((t) => t.task_uid).sort()).toEqual([awaited, loose, failing].sort());
    expect(page.tasks[0]).not.toHaveProperty("outputs");
  });

  it("a child's failure let through fails the parent", async () => {
    const parent = await execute(c, fn("careless"), { run_in_background: true });
    const p = await waitFinal(c, parent);
    expect(p.state).toBe("failed");
    expect(p.message).toContain("let through");
    const [child] = (await links(c, parent)).children as [string];
    expect((await links(c, child)).state).toBe("failed");
  });

  it("refuses a subtask function_execute would refuse (the parent's group), and bad options", async () => {
    const direct = await c.request("function_execute", { item: fn("double", [1]), ...LIMITED });
    expect(direct.msg).toContain("Function 'double' is not allowed for users from 'limited' group");
    const a = await execute(c, fn("refused", ["double"]), {
      ...LIMITED,
      run_in_background: true,
    });
    await waitFinal(c, a);
    const ra = (await result(c, a)).return_value as { name: string; message: string };
    expect(ra.name).toBe("SubtaskError");
    expect(ra.message).toContain("Function 'double' is not allowed for users from 'limited' group");
    const b = await execute(c, fn("refused", ["double", { timeout: -1 }]), {
      run_in_background: true,
    });
    await waitFinal(c, b);
    const rb = (await result(c, b)).return_value as { message: string };
    expect(rb.message).toContain("Invalid subtask options: 'timeout'");
    const d = await execute(c, fn("refused", ["double", { after: ["nobody"] }]), {
      run_in_background: true,
    });
    await waitFinal(c, d);
    expect(((await result(c, d)).return_value as { message: string }).message).toContain(
      "Unknown task in 'after': 'nobody'",
    );
    // Nothing was submitted.
    expect((await links(c, a)).children).toEqual([]);
  });

  it("cancelling a parent mid-way cancels its unfinished children", async () => {
    const gate = newGate();
    const parent = await execute(c, fn("stuck_parent", [gate.path]), { run_in_background: true });
    const p = await waitInfo(c, parent, (i) => (i as Links).children_counts.running === 2);
    const children = (p as Links).children;
    expect(children).toHaveLength(2);
    const r = await c.request("task_cancel", { task_uid: parent });
    expect(r.result).toBe("cancelling");
    expect((await waitFinal(c, parent)).state).toBe("cancelled");
    for (const child of children) {
      const i = await waitFinal(c, child);
      expect(i.state).toBe("cancelled");
    }
    expect((await links(c, parent)).children_counts).toEqual({ cancelled: 2 });
    gate.open();
  });

  it("a parent that times out cancels its unfinished children", async () => {
    const gate = newGate();
    const parent = await execute(c, fn("stuck_parent", [gate.path]), {
      run_in_background: true,
      timeout: 1,
    });
    const p = await waitFinal(c, parent);
    expect(p.state).toBe("timed_out");
    const children = (await links(c, parent)).children;
    expect(children).toHaveLength(2);
    for (const child of children) expect((await waitFinal(c, child)).state).toBe("cancelled");
    gate.open();
  });

  it("the CLI lists failed tasks (--json), counts them, and shows a parent's tree", async () => {
    const { parent, awaited, loose, failing } = await runFamily(c);
    const at = ["-a", m.controlAddr, "--timeout", "60"];
    const listed = json<{ tasks: { task_uid: string; state: string }[]; cursor: string | null }>(
      await zqs([...at, "--json", "task", "list", "--state", "failed", "--parent", parent]),
    );
    expect(listed.tasks.map((t) => t.task_uid)).toEqual([failing]);
    expect(listed.cursor).toBeNull();
    const text = await zqs([...at, "task", "list", "--limit", "2"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/more: --cursor \S+/);
    const counts = json<{ counts: Record<string, number> }>(
      await zqs([...at, "--json", "task", "counts"]),
    );
    expect(counts.counts.failed).toBeGreaterThanOrEqual(1);
    const tree = await zqs([...at, "task", "info", parent, "--tree"]);
    expect(tree.code, tree.stderr).toBe(0);
    const lines = tree.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`${parent}  completed  family`);
    expect(lines.slice(1).sort()).toEqual(
      [
        `  ${awaited}  completed  double`,
        `  ${loose}  completed  double`,
        `  ${failing}  failed  boom`,
      ].sort(),
    );
    const bad = await zqs([...at, "task", "list", "--state", "sleeping"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("state");
  });

  it("runs README's example", async () => {
    const uid = await execute(c, fn("sum_of_squares", [[1, 2, 3, 4]]), {
      run_in_background: true,
    });
    expect((await waitFinal(c, uid)).state).toBe("completed");
    expect((await result(c, uid)).return_value).toBe(30);
    expect((await links(c, uid)).children_counts).toEqual({ completed: 4 });
  });

  it("a plan submits a subtask with its item's user", async () => {
    const add = await c.request("queue_item_add", {
      item: { item_type: "plan", name: "plan_with_child", args: [4] },
      ...USER,
    });
    expect(add.success, String(add.msg)).toBe(true);
    const itemUid = (add.item as { item_uid: string }).item_uid;
    expect((await c.request("queue_start")).success).toBe(true);
    const child = await waitUntil(async () => (await list(c, { parent: itemUid })).tasks[0]);
    const done = await waitFinal(c, child.task_uid);
    expect(done.state).toBe("completed");
    expect(await result(c, child.task_uid)).toMatchObject({ return_value: 8 });
    expect(child).toMatchObject({ name: "double", user: USER.user, parent: itemUid });
    await waitUntil(async () => {
      const h = await c.request("history_get");
      const items = h.items as { item_uid: string; result?: { exit_status?: string } }[];
      return items.find((i) => i.item_uid === itemUid)?.result?.exit_status === "completed";
    });
  });

  it("a plan aborted while its subtask runs cancels the subtask", async () => {
    const gate = newGate();
    const add = await c.request("queue_item_add", {
      item: { item_type: "plan", name: "plan_with_gated_child", args: [gate.path] },
      ...USER,
    });
    expect(add.success, String(add.msg)).toBe(true);
    const itemUid = (add.item as { item_uid: string }).item_uid;
    expect((await c.request("queue_start")).success).toBe(true);
    const child = await waitUntil(async () => {
      const t = (await list(c, { parent: itemUid, state: "running" })).tasks[0];
      return t;
    });
    expect((await c.request("re_pause", { option: "immediate" })).success).toBe(true);
    await waitUntil(async () => (await c.request("status")).manager_state === "paused");
    const abort = await c.request("re_abort");
    expect(abort.success, String(abort.msg)).toBe(true);
    expect((await waitFinal(c, child.task_uid)).state).toBe("cancelled");
    await waitUntil(async () => (await c.request("status")).manager_state === "idle");
    // The aborted plan went back to the queue: take it out for the tests after this one.
    expect((await c.request("queue_clear")).success).toBe(true);
    gate.open();
  });

  it("tasks_list filters by state, name, user, run and worker; tasks_counts adds up", async () => {
    // Strictly after: a millisecond before now.
    const before = (Date.now() - 1) / 1000;
    const a = await execute(c, fn("double", [1]), { run_in_background: true });
    const b = await execute(c, fn("boom", ["x"]), { run_in_background: true });
    await waitFinal(c, a);
    await waitFinal(c, b);
    const run = await c.request("run_create", { ...USER, function: fn("double", [3]), count: 3 });
    expect(run.success, String(run.msg)).toBe(true);
    const runTasks = run.task_uids as string[];
    for (const t of runTasks) await waitFinal(c, t);

    const recent = await list(c, { created_after: before });
    expect(recent.tasks.map((t) => t.task_uid).sort()).toEqual([...runTasks, a, b].sort());
    const times = recent.tasks.map((t) => Date.parse(t.created_at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    const failed = await list(c, { state: "failed", created_after: before });
    expect(failed.tasks.map((t) => t.task_uid)).toEqual([b]);
    const both = await list(c, { state: ["failed", "completed"], name: "boom" });
    expect(both.tasks.map((t) => t.task_uid)).toContain(b);
    expect(both.tasks.every((t) => t.name === "boom")).toBe(true);
    expect((await list(c, { run_uid: run.run_uid })).tasks.map((t) => t.task_uid).sort()).toEqual(
      [...runTasks].sort(),
    );
    const iso = new Date(before * 1000).toISOString();
    expect(
      (await list(c, { created_before: iso, name: "double" })).tasks.map((t) => t.task_uid),
    ).not.toContain(a);
    expect((await list(c, { user: "Nobody" })).tasks).toEqual([]);
    const worker = (await info(c, a)).worker as string;
    expect((await list(c, { worker, created_after: before })).tasks).toHaveLength(5);

    const all = await allPages(c, { limit: 1000 });
    const counts = await c.request("tasks_counts");
    expect(counts.success).toBe(true);
    const total = Object.values(counts.counts as Record<string, number>).reduce((x, y) => x + y);
    expect(total).toBe(all.uids.length);
    const byName = counts.by_name as Record<string, Record<string, number>>;
    expect(byName.boom?.failed).toBeGreaterThanOrEqual(3);
    expect((counts.counts as Record<string, number>).failed).toBe(
      Object.values(byName).reduce((n, s) => n + (s.failed ?? 0), 0),
    );

    // Bad input: a clear refusal.
    const bad = await c.request("tasks_list", { state: "sleeping", limit: 5000 });
    expect(bad.success).toBe(false);
    expect(bad.msg).toMatch(/state|limit/);
    const badCursor = await c.request("tasks_list", { cursor: "not-a-cursor" });
    expect(badCursor).toMatchObject({ success: false, tasks: [], cursor: null });
    expect(badCursor.msg).toContain("Invalid 'cursor'");
  });
});

describe("a pool of 2 slots", () => {
  let m: RunningManager;
  let c: RawClient;
  beforeAll(async () => {
    m = await startManager({ startup: STARTUP, args: ["--workers", "2", "--worker-slots", "1"] });
    c = new RawClient(m.controlAddr);
    await openEnvironment(c);
  });
  afterAll(async () => {
    c.close();
    await m.stop();
  });

  it("4 parents each awaiting 2 children complete (a waiting parent lends its slot)", async () => {
    const parents: string[] = [];
    for (let i = 0; i < 4; i++) {
      parents.push(await execute(c, fn("fan", [2]), { run_in_background: true }));
    }
    for (const p of parents) {
      const i = await waitFinal(c, p);
      expect(i.state, i.message ?? "").toBe("completed");
      expect(await result(c, p)).toMatchObject({ return_value: [0, 2] });
      expect((await links(c, p)).children_counts).toEqual({ completed: 2 });
    }
  });
});

describe.each(STORES)("tasks_list and links on the %s store", (_label, makeStore) => {
  let store: StoreSetup;
  const managers: RunningManager[] = [];
  const clients: RawClient[] = [];
  async function start(): Promise<RawClient> {
    const m = await startManager({ startup: STARTUP, args: store.args });
    managers.push(m);
    const c = new RawClient(m.controlAddr);
    clients.push(c);
    await openEnvironment(c);
    return c;
  }
  beforeEach(async () => {
    store = await makeStore();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const m of managers.splice(0)) await m.stop();
    await store.cleanup();
  });

  /** Pages of 7 while 3 more tasks are added after each page: no entry twice, none skipped. */
  async function pagesWhileAdding(c: RawClient, known: string[]): Promise<void> {
    const added: string[] = [];
    const { uids, pages } = await allPages(c, { limit: 7 }, async () => {
      for (let i = 0; i < 3; i++) {
        added.push(await execute(c, fn("double", [i]), { run_in_background: true }));
      }
    });
    expect(pages).toBeGreaterThan(2);
    expect(new Set(uids).size).toBe(uids.length);
    for (const k of known) expect(uids).toContain(k);
    // Added after the first page began: newer than every entry listed, so none is listed.
    for (const a of added) expect(uids).not.toContain(a);
    // Newest first.
    const first = await list(c, { limit: 1000 });
    const times = first.tasks.map((t: ListEntry) => Date.parse(t.created_at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    for (const a of added) await waitFinal(c, a);
  }

  it("pages consistently while tasks are added, and keeps links after a restart", async () => {
    const c1 = await start();
    const fam = await runFamily(c1);
    const known = [fam.parent, fam.awaited, fam.loose, fam.failing];
    for (let i = 0; i < 12; i++) {
      known.push(await execute(c1, fn("double", [i]), { run_in_background: true }));
    }
    for (const k of known) await waitFinal(c1, k);
    await pagesWhileAdding(c1, known);

    await durable(c1, fn("double", [0]));
    await (managers[managers.length - 1] as RunningManager).kill9();
    const c2 = await start();
    const p = await links(c2, fam.parent);
    expect([...p.children].sort()).toEqual([fam.awaited, fam.loose, fam.failing].sort());
    expect(p.children_counts).toEqual({ completed: 2, failed: 1 });
    expect((await links(c2, fam.failing)).parent).toBe(fam.parent);
    const byParent = await list(c2, { parent: fam.parent });
    expect(byParent.tasks.map((t) => t.task_uid).sort()).toEqual(
      [fam.awaited, fam.loose, fam.failing].sort(),
    );
    expect(
      (await list(c2, { user: USER.user, name: "family" })).tasks.map((t) => t.task_uid),
    ).toEqual([fam.parent]);
    await pagesWhileAdding(c2, known);
  });
});
