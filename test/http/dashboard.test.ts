/**
 * The dashboard in a real headless browser (Debian's chromium driven by
 * puppeteer-core), in front of a real gateway and manager: log in with
 * `?token=`, open the environment, add a plan through the page's form, start
 * the queue and see the plan reach the history; a background task's progress
 * bar and a run's percent move, all from live updates (the page is never
 * reloaded). Then the task views: a failed task found by filter, its
 * traceback, retried from the page; a read-only key without the buttons (and
 * refused by the server); paging through 1,000 tasks; the flow chart during a
 * run of 2,000; a schedule paused, resumed and fired. With ZQS_SCREENSHOT=FILE
 * the chart's test saves a screenshot (`npm run screenshot` writes docs/dashboard.png).
 */
/// <reference lib="dom" />
import path from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ROOT, WORKER_API } from "../helpers/paths.js";
import { newGate } from "../helpers/startup.js";
import { ENV_OPEN_MS, GUARD_MS, waitUntil } from "../helpers/wait.js";
import { BFunc } from "../../src/client/index.js";
import { clientOf } from "../client/helpers.js";
import { launchBrowser } from "./browser.js";
import type { TestGateway } from "./helpers.js";
import { client, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

const STARTUP = `
import { existsSync } from "node:fs";
import { context, plan, sleep } from ${JSON.stringify(WORKER_API)};

export const count_steps = plan(
  async function* count_steps(steps, label = "demo") {
    for (let i = 0; i < steps; i++) yield { cmd: "checkpoint" };
  },
  {
    description: "Pass a number of checkpoints.",
    parameters: [
      { name: "steps", annotation: "int", description: "How many checkpoints." },
      { name: "label", annotation: "str", default: "demo", description: "A name for it." },
    ],
  },
);

async function until(file) {
  while (!existsSync(file)) await sleep(0.01);
}

/** Reports 25 %, waits for \`first\`, reports 75 % with an output, waits for \`second\`. */
export async function stepped(first, second) {
  const ctx = context();
  ctx.progress(25);
  ctx.message("a quarter done");
  await until(first);
  ctx.progress(75);
  ctx.message("three quarters done");
  ctx.output("rows", 3);
  await until(second);
  return "done";
}

/** Fails until \`file\` exists: a retry made after it appears completes. */
export async function flaky(file) {
  if (!existsSync(file)) throw new Error("the file is not there yet");
  return "fixed";
}

/** Nothing: many of it make a flow to page through and to draw. */
export async function tick() {
  return null;
}

/** Waits for \`gate\`: a task that stays running. */
export async function hold(gate) {
  await until(gate);
  return "held";
}

/** A task of a run: reports half its work, then waits for \`gate\`. */
export async function half(gate) {
  context().progress(50);
  await until(gate);
  return "ok";
}
`;

let m: RunningManager;
let g: TestGateway;
let browser: Browser;
let page: Page;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  m = await startManager({ startup: { "demo.mjs": STARTUP } });
  g = await startTestGateway(m);
  api = client(g.url, SINGLE_KEY);
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  page.setDefaultTimeout(GUARD_MS);
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
  await m?.stop();
});

/** Wait until `fn` (run in the page) is true; `arg` is handed to it. */
async function waitPage(fn: (arg: string) => boolean, arg = "", timeout = GUARD_MS): Promise<void> {
  await page.waitForFunction(fn, { timeout, polling: "mutation" }, arg);
}

/** The value the progress bar in `selector` shows (its aria-valuenow), or null when absent. */
function barValue(selector: string): Promise<number | null> {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel)?.getAttribute("aria-valuenow");
    return v === null || v === undefined ? null : Number(v);
  }, selector);
}

it("logs in, adds a plan through the page, runs it; a task's bar and a run's percent move live", async () => {
  // Log in: the token sets the session cookie and the page comes back without it.
  const res = await page.goto(`${g.url}/?token=${SINGLE_KEY}`);
  expect(res?.status()).toBe(200);
  expect(new URL(page.url()).search).toBe("");
  await page.waitForSelector('#live[data-live="yes"]');
  // Count navigations: the page must never reload from here on.
  let navigations = 0;
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations++;
  });

  // Open the environment from the page; the plan list arrives when it is open.
  await page.waitForSelector("#env-open:not([disabled])");
  await page.click("#env-open");
  await page.waitForSelector("#plan-select option[value=count_steps]", { timeout: ENV_OPEN_MS });
  await waitPage(() => document.getElementById("manager-state")?.textContent === "idle");

  // The form is built from the plan's parameter descriptions.
  await page.select("#plan-select", "count_steps");
  await page.waitForSelector("#param-steps[required]");
  expect(await page.$eval("#param-label", (el) => (el as HTMLInputElement).placeholder)).toContain(
    "demo",
  );
  await page.type("#param-steps", "3");
  await page.type("#param-label", "'from the browser'"); // a Python literal, as defaults are shown
  await page.click("#add-plan");
  await waitPage(() => document.querySelectorAll("#queue li.item").length === 1);
  const queued = await page.$eval("#queue li.item", (el) => el.textContent ?? "");
  expect(queued).toContain("count_steps");
  expect(queued).toContain("steps=3");
  // The manager has the item as the form made it.
  const q = (await api("GET", "/api/queue/get")).json as { items: Record<string, unknown>[] };
  expect(q.items).toHaveLength(1);
  expect(q.items[0]).toMatchObject({
    name: "count_steps",
    kwargs: { steps: 3, label: "from the browser" },
    user: "Single User",
  });

  // Start the queue from the page: the plan reaches the history as completed.
  await page.waitForSelector("#queue-start:not([disabled])");
  await page.click("#queue-start");
  await waitPage(() => {
    const row = document.querySelector("#history tr[data-uid]");
    return (
      !!row && /count_steps/.test(row.textContent ?? "") && /completed/.test(row.textContent ?? "")
    );
  });
  await waitPage(() => document.querySelectorAll("#queue li.item").length === 0);

  // A background task that reports progress: its bar moves 25 → 75 → 100.
  const first = newGate();
  const second = newGate();
  const fx = await api("POST", "/api/function/execute", {
    item: { item_type: "function", name: "stepped", args: [first.path, second.path] },
    run_in_background: true,
  });
  expect(fx.json).toMatchObject({ success: true });
  const uid = (fx.json as { task_uid: string }).task_uid;
  // Progress, message and outputs are separate calls of the user code (separate
  // events): the row is read once it shows all of one step.
  const taskBar = `#tasks tr[data-task="${uid}"] [role=progressbar]`;
  const rowShows = (value: string, texts: string[]) =>
    page.waitForFunction(
      (u: string, v: string, t: string[]) => {
        const row = document.querySelector(`#tasks tr[data-task="${u}"]`);
        const bar = row?.querySelector("[role=progressbar]");
        return (
          bar?.getAttribute("aria-valuenow") === v &&
          t.every((x) => (row?.textContent ?? "").includes(x))
        );
      },
      { timeout: GUARD_MS, polling: "mutation" },
      uid,
      value,
      texts,
    );
  await rowShows("25", ["a quarter done"]);
  first.open();
  await rowShows("75", ["three quarters done", '"rows":3']);

  // A run of three tasks: its percent moves while they report, and reaches 100.
  const gate = newGate();
  const run = await api("POST", "/api/run/create", {
    function: { item_type: "function", name: "half", args: [gate.path] },
    count: 3,
  });
  expect(run.json).toMatchObject({ success: true });
  const runUid = (run.json as { run_uid: string }).run_uid;
  const runBar = `#runs tr[data-run="${runUid}"] [role=progressbar]`;
  await waitPage((sel) => {
    const v = Number(document.querySelector(sel)?.getAttribute("aria-valuenow") ?? "NaN");
    return v > 0 && v < 100;
  }, runBar);
  const partial = await barValue(runBar);

  // Something in the queue, added through the page as well.
  await page.type("#param-steps", "5");
  await page.click("#add-plan");
  await waitPage(() => document.querySelectorAll("#queue li.item").length === 1);
  second.open();
  gate.open();
  await waitPage(
    (sel) =>
      document.querySelector(sel)?.getAttribute("aria-valuenow") === "100" &&
      document.querySelector(sel)?.closest("tr")?.getAttribute("data-state") === "completed",
    taskBar,
  );
  await waitPage(
    (sel) =>
      document.querySelector(sel)?.getAttribute("aria-valuenow") === "100" &&
      /3\/3/.test(document.querySelector(sel)?.closest("tr")?.textContent ?? ""),
    runBar,
  );
  expect(partial).toBeGreaterThan(0);
  expect(partial).toBeLessThan(100);
  expect(navigations).toBe(0);
});

it("moves and removes queue items from the page", async () => {
  // On its own too: logged in, with the environment open.
  if (!(await page.$('#live[data-live="yes"]'))) {
    await page.goto(`${g.url}/?token=${SINGLE_KEY}`);
    await page.waitForSelector('#live[data-live="yes"]');
  }
  const s = (await api("GET", "/api/status")).json as { worker_environment_exists: boolean };
  if (!s.worker_environment_exists) {
    expect((await api("POST", "/api/environment/open")).json).toMatchObject({ success: true });
    await waitStatus(api, (st) => st.worker_environment_exists === true, ENV_OPEN_MS);
  }
  const before = (await api("GET", "/api/queue/get")).json as { items: { item_uid: string }[] };
  const uids = before.items.map((i) => i.item_uid);
  for (const steps of [6, 7]) {
    const add = await api("POST", "/api/queue/item/add", {
      item: { item_type: "plan", name: "count_steps", kwargs: { steps } },
    });
    expect(add.json).toMatchObject({ success: true });
    uids.push((add.json as { item: { item_uid: string } }).item.item_uid);
  }
  const added = uids.at(-1) as string;
  await waitPage(
    (n) => document.querySelectorAll("#queue li.item").length === Number(n),
    String(uids.length),
  );
  const order = async () =>
    ((await api("GET", "/api/queue/get")).json as { items: { item_uid: string }[] }).items.map(
      (i) => i.item_uid,
    );

  // The last item moves up one place.
  await clickNow(page, `#queue li[data-uid="${added}"] button[title="Move up"]`);
  const moved = [...uids.slice(0, -2), added, uids.at(-2) as string];
  await waitPage(
    (want) =>
      Array.from(document.querySelectorAll("#queue li.item"))
        .map((li) => li.getAttribute("data-uid"))
        .join() === want,
    moved.join(),
  );
  expect(await order()).toEqual(moved);

  // And is removed.
  await clickNow(page, `#queue li[data-uid="${added}"] button[title="Remove"]`);
  await waitPage((uid) => !document.querySelector(`#queue li[data-uid="${uid}"]`), added);
  expect(await order()).toEqual(uids.slice(0, -1));
});

it("asks for the key when there is no session, and logs in with it", async () => {
  const ctx = await browser.createBrowserContext();
  try {
    const p = await ctx.newPage();
    await p.goto(`${g.url}/`);
    await p.waitForSelector("#login-form #token");
    expect(await p.$("#live")).toBeNull();
    await p.type("#token", SINGLE_KEY);
    await Promise.all([p.waitForNavigation(), p.click("#login-form button[type=submit]")]);
    await p.waitForSelector('#live[data-live="yes"]');
    expect(new URL(p.url()).search).toBe("");
    await p.waitForFunction(
      () => document.getElementById("whoami")?.textContent?.includes("Single User") === true,
    );
  } finally {
    await ctx.close();
  }
});

/** Logged in as the single user, with the environment open (each test may run alone). */
async function ready(): Promise<void> {
  if (!(await page.$('#live[data-live="yes"]'))) {
    await page.goto(`${g.url}/?token=${SINGLE_KEY}`);
    await page.waitForSelector('#live[data-live="yes"]');
  }
  const s = (await api("GET", "/api/status")).json as { worker_environment_exists: boolean };
  if (!s.worker_environment_exists) {
    expect((await api("POST", "/api/environment/open")).json).toMatchObject({ success: true });
    await waitStatus(api, (st) => st.worker_environment_exists === true, ENV_OPEN_MS);
  }
}

/** Start a background call; its task uid. */
async function background(name: string, args: unknown[] = []): Promise<string> {
  const r = await api("POST", "/api/function/execute", {
    item: { item_type: "function", name, args },
    run_in_background: true,
  });
  expect(r.json, r.text).toMatchObject({ success: true });
  return (r.json as { task_uid: string }).task_uid;
}

/**
 * Click in the page in one step: lists re-render on events, and one that does so between
 * a lookup and a click from outside leaves the click on a detached element.
 */
async function clickNow(p: Page, selector: string): Promise<void> {
  await p.$eval(selector, (e) => (e as HTMLElement).click());
}

/** Wait until the manager says the task is in `state`. */
async function taskState(uid: string, state: string): Promise<void> {
  await waitUntil(async () => {
    const r = await api("GET", `/api/task/info?task_uid=${uid}`);
    return (r.json as { task_info?: { state?: string } }).task_info?.state === state;
  });
}

/** The detail of task `uid` is shown and loaded (in `p`). */
async function detailShown(p: Page, uid: string, state?: string): Promise<void> {
  await p.waitForFunction(
    (u: string, st: string) => {
      const box = document.getElementById("task-detail");
      return (
        !!box &&
        !box.hidden &&
        box.dataset.task === u &&
        (st === "" ? (box.dataset.state ?? "") !== "" : box.dataset.state === st)
      );
    },
    { timeout: GUARD_MS, polling: "mutation" },
    uid,
    state ?? "",
  );
}

it("finds a failed task by filtering, reads its traceback, retries it: the retry is linked and completes", async () => {
  await ready();
  const gate = newGate();
  const uid = await background("flaky", [gate.path]);
  await taskState(uid, "failed");

  // Filter on `failed` with the form: only failed tasks are listed, this one among them.
  await page.goto(`${g.url}/#/tasks`);
  await page.waitForSelector('#live[data-live="yes"]');
  await page.select("#filter-state", "failed");
  await page.click("#filter-apply");
  await waitPage((u) => {
    const rows = Array.from(document.querySelectorAll("#tasks tr[data-task]"));
    return (
      location.hash === "#/tasks?state=failed" &&
      rows.some((r) => r.getAttribute("data-task") === u) &&
      rows.every((r) => r.getAttribute("data-state") === "failed")
    );
  }, uid);
  // The count of failed tasks is a filter too, and says how many there are (the counts load
  // beside the list: wait for them).
  await page.waitForSelector('[data-count-state="failed"]');
  const failedCount = await page.$eval('[data-count-state="failed"]', (b) =>
    Number(b.getAttribute("data-count")),
  );
  expect(failedCount).toBeGreaterThanOrEqual(1);

  // Its detail: the error and its traceback.
  await clickNow(page, `#tasks tr[data-task="${uid}"] a`);
  await detailShown(page, uid, "failed");
  expect(new URL(page.url()).hash).toBe(`#/task/${uid}`);
  await page.waitForSelector("#task-traceback");
  expect(await page.$eval("#task-error", (e) => e.textContent)).toContain(
    "the file is not there yet",
  );
  const traceback = await page.$eval("#task-traceback", (e) => e.textContent ?? "");
  expect(traceback).toContain("the file is not there yet");
  expect(traceback).toMatch(/flaky/);
  expect(await page.$eval("#task-call", (e) => e.textContent ?? "")).toContain(gate.path);
  // A final task has no cancel button; the single user may retry it.
  expect(await page.$("#task-cancel")).toBeNull();

  // Retry from the page, now that the file is there: the retry is listed under Retries.
  gate.open();
  await clickNow(page, "#task-retry");
  await page.waitForSelector("#task-retries a");
  const retry = await page.$eval("#task-retries a", (a) => a.textContent ?? "");
  expect(retry).not.toBe(uid);
  const info = (await api("GET", `/api/task/info?task_uid=${retry}`)).json as {
    task_info: { retry_of: string; name: string; args: unknown[] };
  };
  expect(info.task_info).toMatchObject({ retry_of: uid, name: "flaky", args: [gate.path] });

  // Its own detail links back, and shows it completed with its return value.
  await clickNow(page, "#task-retries a");
  await detailShown(page, retry, "completed");
  expect(await page.$eval('[data-fact="Retry of"]', (e) => e.textContent)).toBe(uid);
  await page.waitForSelector("#task-return");
  expect(await page.$eval("#task-return", (e) => e.textContent)).toBe('"fixed"');
});

it("a user with a read-only key sees no cancel or retry buttons, and the server refuses them anyway", async () => {
  await ready();
  const failed = await background("flaky", ["/nonexistent/never"]);
  const gate = newGate();
  const running = await background("hold", [gate.path]);
  await taskState(failed, "failed");
  await taskState(running, "running");
  // The single user (write) sees each button where it applies.
  await page.goto(`${g.url}/#/task/${running}`);
  await detailShown(page, running, "running");
  await page.waitForSelector("#task-cancel");
  await page.goto(`${g.url}/#/task/${failed}`);
  await detailShown(page, failed, "failed");
  await page.waitForSelector("#task-retry");

  const reader = g.keys.create({
    user: "reader",
    userGroup: "primary",
    scopes: ["read"],
    expiresIn: 3600,
  });
  const ctx = await browser.createBrowserContext();
  try {
    const p = await ctx.newPage();
    p.setDefaultTimeout(GUARD_MS);
    await p.goto(`${g.url}/?token=${reader.secret}`);
    await p.waitForSelector('#live[data-live="yes"]');
    for (const [uid, state] of [
      [running, "running"],
      [failed, "failed"],
    ] as const) {
      await p.goto(`${g.url}/#/task/${uid}`);
      await detailShown(p, uid, state);
      // The buttons are decided once the detail is drawn (with its facts).
      await p.waitForSelector('[data-fact="State"]');
      expect(await p.$("#task-cancel")).toBeNull();
      expect(await p.$("#task-retry")).toBeNull();
    }
    // The page's own session, with its CSRF token, is refused both.
    const refused = await p.evaluate(
      async (r: string, f: string) => {
        const who = (await (await fetch("/api/auth/whoami")).json()) as { csrf_token: string };
        const post = async (path: string, body: unknown) => {
          const res = await fetch(path, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-ZQS-CSRF": who.csrf_token },
            body: JSON.stringify(body),
          });
          return { status: res.status, detail: ((await res.json()) as { detail?: string }).detail };
        };
        return [
          await post("/api/task/cancel", { task_uid: r }),
          await post("/api/task/retry", { task_uid: f }),
        ];
      },
      running,
      failed,
    );
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.detail).toMatch(/write/);
    }
  } finally {
    await ctx.close();
  }
  // Nothing was done: the task still runs, and the failed one has no retry.
  const held = (await api("GET", `/api/task/info?task_uid=${running}`)).json as {
    task_info: { state: string };
  };
  expect(held.task_info.state).toBe("running");
  const f = (await api("GET", `/api/task/info?task_uid=${failed}`)).json as {
    task_info: { retries: string[] };
  };
  expect(f.task_info.retries).toEqual([]);
  gate.open();
  await taskState(running, "completed");
});

it("pages through 1,000 tasks to the oldest, each once", async () => {
  await ready();
  const zqs = clientOf(m);
  let uids: string[];
  try {
    // Pipelined on one connection: every request in flight at once.
    const replies = await Promise.all(
      Array.from({ length: 1000 }, () =>
        zqs.functionExecute(new BFunc("tick"), { run_in_background: true }),
      ),
    );
    uids = replies.map((r) => r.task_uid as string);
  } finally {
    await zqs.close();
  }
  await waitUntil(async () => {
    const c = (await api("GET", "/api/tasks/counts")).json as {
      by_name: Record<string, Record<string, number>>;
    };
    return c.by_name.tick?.completed === 1000;
  });
  // The oldest by the manager's own creation times.
  const oldest = (await api("GET", "/api/tasks/list?name=tick&limit=1000")).json as {
    tasks: { task_uid: string }[];
  };
  const oldestUid = oldest.tasks.at(-1)?.task_uid;

  await page.goto(`${g.url}/#/tasks?name=tick`);
  await waitPage(() => document.getElementById("tasks-page")?.textContent === "page 1");
  const seen: string[] = [];
  for (let n = 1; ; n++) {
    // Page n of these tasks (not rows the page showed before: another filter's, on a busy machine).
    await waitPage(
      (arg) => {
        const { want, uids } = JSON.parse(arg) as { want: string; uids: string[] };
        const ours = new Set(uids);
        const rows = Array.from(document.querySelectorAll("#tasks tr[data-task]"));
        return (
          document.getElementById("tasks-page")?.textContent === want &&
          rows.length > 0 &&
          rows.every((r) => ours.has(r.getAttribute("data-task") ?? ""))
        );
      },
      JSON.stringify({ want: `page ${n}`, uids }),
    );
    const rows = await page.$$eval("#tasks tr[data-task]", (trs) =>
      trs.map((tr) => tr.getAttribute("data-task") ?? ""),
    );
    seen.push(...rows);
    if (await page.$eval("#tasks-older", (b) => (b as HTMLButtonElement).disabled)) break;
    await page.click("#tasks-older");
  }
  expect(seen).toHaveLength(1000);
  expect(new Set(seen).size).toBe(1000);
  expect([...seen].sort()).toEqual([...uids].sort());
  expect(seen.at(-1)).toBe(oldestUid);
  // And back to the newest.
  await page.click("#tasks-newest");
  await waitPage(() => document.getElementById("tasks-page")?.textContent === "page 1");
});

it("the flow chart moves while a run of 2,000 tasks passes", async () => {
  await ready();
  const chart = () =>
    page.$eval("#flow-chart", (svg) => ({
      started: Number(svg.getAttribute("data-started")),
      completed: Number(svg.getAttribute("data-completed")),
      line: svg.querySelector('[data-series="completed"]')?.getAttribute("points") ?? "",
    }));
  const before = await chart();
  const run = await api("POST", "/api/run/create", {
    function: { item_type: "function", name: "tick" },
    count: 2000,
  });
  expect(run.json, run.text).toMatchObject({ success: true });
  // The chart follows the run's events: its completed line moves...
  await waitPage((b) => {
    const svg = document.getElementById("flow-chart");
    const done = Number(svg?.getAttribute("data-completed"));
    const line = svg?.querySelector('[data-series="completed"]')?.getAttribute("points");
    return done > Number(b) && line !== undefined;
  }, String(before.completed));
  const during = await chart();
  expect(during.line).not.toBe(before.line);
  // ...and counts every task of it.
  await waitPage(
    (want) =>
      Number(document.getElementById("flow-chart")?.getAttribute("data-completed")) >= Number(want),
    String(before.completed + 2000),
  );
  const after = await chart();
  expect(after.started).toBeGreaterThanOrEqual(before.started + 2000);

  // The picture for README: the last task of the run in detail, over the page (not reloaded:
  // the chart keeps what it drew).
  const shot = process.env.ZQS_SCREENSHOT;
  if (shot) {
    const last = (run.json as { task_uids: string[] }).task_uids.at(-1) ?? "";
    await page.evaluate((u) => (location.hash = `#/task/${u}`), last);
    await detailShown(page, last, "completed");
    await page.waitForSelector("#task-return");
    await page.evaluate(() => window.scrollTo(0, 0));
    // The top of the page: the detail, the manager, the queue, the chart and the first tasks.
    await page.screenshot({
      path: path.resolve(ROOT, shot),
      clip: { x: 0, y: 0, width: 1280, height: 2200 },
      captureBeyondViewport: true,
    });
  }
});

it("shows a schedule's next fire and last fires; pauses, resumes and fires it from the page", async () => {
  await ready();
  const made = await api("POST", "/api/schedule/create", {
    name: "hourly tick",
    every: 3600,
    task: { item_type: "function", name: "tick", options: { run_in_background: true } },
  });
  expect(made.json, made.text).toMatchObject({ success: true });
  const uid = (made.json as { schedule_uid: string }).schedule_uid;
  await page.goto(`${g.url}/`);
  await page.waitForSelector('#live[data-live="yes"]');
  const row = `#schedules tr[data-schedule="${uid}"]`;
  await page.waitForSelector(`${row}[data-state="active"]`);
  const next = await page.$eval(`${row} .schedule-next`, (e) => e.textContent ?? "");
  expect(next).not.toBe("—");

  await clickNow(page, `${row} .schedule-pause`);
  await page.waitForSelector(`${row}[data-state="paused"]`);
  await clickNow(page, `${row} .schedule-resume`);
  await page.waitForSelector(`${row}[data-state="active"]`);

  // Fire it now: its detail lists the fire with its task, which links to the task's detail.
  await clickNow(page, `${row} .schedule-open`);
  await clickNow(page, `${row} .schedule-trigger`);
  await page.waitForSelector("#schedule-fires tr[data-fire] a");
  const fired = await page.$eval("#schedule-fires tr[data-fire] a", (a) => a.textContent ?? "");
  const s = (await api("GET", `/api/schedule/get?schedule_uid=${uid}`)).json as {
    schedule: { last_fires: { task_uid: string }[] };
  };
  expect(s.schedule.last_fires.map((f) => f.task_uid)).toEqual([fired]);
  await clickNow(page, "#schedule-fires tr[data-fire] a");
  await detailShown(page, fired);
});
