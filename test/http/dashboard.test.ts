/**
 * The dashboard in a real headless browser (Debian's chromium driven by
 * puppeteer-core), in front of a real gateway and manager: log in with
 * `?token=`, open the environment, add a plan through the page's form, start
 * the queue and see the plan reach the history; a background task's progress
 * bar and a run's percent move, all from live updates (the page is never
 * reloaded). With ZQS_SCREENSHOT=FILE it saves a screenshot of the page
 * mid-way (`npm run screenshot` writes docs/dashboard.png).
 */
/// <reference lib="dom" />
import path from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ROOT, WORKER_API } from "../helpers/paths.js";
import { newGate } from "../helpers/startup.js";
import { ENV_OPEN_MS, GUARD_MS } from "../helpers/wait.js";
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

  // Something in the queue for the picture, added through the page as well.
  await page.type("#param-steps", "5");
  await page.click("#add-plan");
  await waitPage(() => document.querySelectorAll("#queue li.item").length === 1);
  const shot = process.env.ZQS_SCREENSHOT;
  if (shot) {
    await page.screenshot({ path: path.resolve(ROOT, shot), fullPage: true });
  }

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
  await page.click(`#queue li[data-uid="${added}"] button[title="Move up"]`);
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
  await page.click(`#queue li[data-uid="${added}"] button[title="Remove"]`);
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
