/**
 * Cross-origin requests with the dashboard's session cookie, in a real browser
 * (Debian's chromium) in front of a real gateway and manager. The cookie is
 * SameSite=Strict, but every port of a host is the same site: a page served
 * from another loopback port gets the cookie sent along. Such a page must not
 * act as the logged-in user (add to the queue, reach an admin route, read the
 * event streams); the dashboard itself must still work; `--allowed-origins`
 * lets a named origin use the session; requests with an API key and no cookie
 * are as before.
 */
/// <reference lib="dom" />
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { WORKER_API } from "../helpers/paths.js";
import { ENV_OPEN_MS, GUARD_MS } from "../helpers/wait.js";
import type { PageServer } from "./browser.js";
import { launchBrowser, servePage } from "./browser.js";
import type { TestGateway } from "./helpers.js";
import { call, client, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

const STARTUP = `
import { plan } from ${JSON.stringify(WORKER_API)};
export const tiny = plan(
  async function* tiny(steps) {
    for (let i = 0; i < steps; i++) yield { cmd: "checkpoint" };
  },
  { parameters: [{ name: "steps", annotation: "int", description: "How many checkpoints." }] },
);
`;

const PAGE = "<!doctype html><title>another origin</title><p>another page</p>";

let m: RunningManager;
let g: TestGateway;
let attacker: PageServer;
let friend: PageServer;
let browser: Browser;
let page: Page;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  m = await startManager({ startup: { "demo.mjs": STARTUP } });
  attacker = await servePage(PAGE);
  friend = await servePage(PAGE);
  g = await startTestGateway(m, { allowedOrigins: [friend.origin] });
  api = client(g.url, SINGLE_KEY);
  expect((await api("POST", "/api/environment/open")).json).toMatchObject({ success: true });
  await waitStatus(api, (s) => s.worker_environment_exists === true, ENV_OPEN_MS);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.setDefaultTimeout(GUARD_MS);
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
  await attacker?.close();
  await friend?.close();
  await m?.stop();
});

async function logIn(): Promise<void> {
  await page.goto(`${g.url}/?token=${SINGLE_KEY}`);
  await page.waitForSelector('#live[data-live="yes"]');
}

async function queueItems(): Promise<Record<string, unknown>[]> {
  return ((await api("GET", "/api/queue/get")).json as { items: Record<string, unknown>[] }).items;
}

interface Observed {
  add: string;
  admin: string;
  streams: Record<string, string>;
  sse: string;
}

/** Run in the page of the other origin: what a hostile page would try with the session. */
function attack(gw: string, perms: unknown): Promise<Observed> {
  const post = async (path: string, body: unknown): Promise<string> => {
    try {
      const r = await fetch(gw + path, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify(body),
      });
      return `answered ${r.status}`;
    } catch {
      return "failed";
    }
  };
  // "opened" as soon as the upgrade succeeds: an open stream reads the events.
  const ws = (path: string) =>
    new Promise<string>((resolve) => {
      const s = new WebSocket(gw.replace(/^http/, "ws") + path);
      s.onopen = () => {
        s.close();
        resolve("opened");
      };
      s.onclose = () => resolve("refused");
    });
  const sse = () =>
    new Promise<string>((resolve) => {
      const es = new EventSource(`${gw}/api/events`, { withCredentials: true });
      es.addEventListener("status", () => {
        es.close();
        resolve("read a status event");
      });
      es.onerror = () => {
        es.close();
        resolve("failed");
      };
    });
  return (async () => ({
    add: await post("/api/queue/item/add", {
      item: { item_type: "plan", name: "tiny", kwargs: { steps: 1 } },
    }),
    admin: await post("/api/permissions/set", { user_group_permissions: perms }),
    streams: {
      events: await ws("/api/events"),
      info: await ws("/api/info/ws"),
      console: await ws("/api/console_output/ws"),
    },
    sse: await sse(),
  }))();
}

describe("in the browser", () => {
  it("a page of another port cannot add to the queue, reach an admin route or read the streams", async () => {
    await logIn();
    const before = (await api("GET", "/api/permissions/get")).json.user_group_permissions as {
      user_groups: Record<string, Record<string, unknown>>;
    };
    expect(before.user_groups.primary).toBeDefined();
    // What the attacker would set: no plan allowed for anyone.
    const hostile = structuredClone(before);
    for (const grp of Object.values(hostile.user_groups)) grp.allowed_plans = [];

    await page.goto(`${attacker.origin}/`);
    const seen = await page.evaluate(attack, g.url, hostile);
    // Nothing happened on the manager, and the page learned nothing (no CORS, no stream).
    expect(await queueItems()).toEqual([]);
    const after = (await api("GET", "/api/permissions/get")).json.user_group_permissions;
    expect(after).toEqual(before);
    expect(seen.add).toBe("failed");
    expect(seen.admin).toBe("failed");
    expect(seen.streams).toEqual({ events: "refused", info: "refused", console: "refused" });
    expect(seen.sse).toBe("failed");
  });

  it("the dashboard itself still adds a plan through its form, and removes it", async () => {
    await logIn();
    await page.waitForSelector("#plan-select option[value=tiny]");
    await page.select("#plan-select", "tiny");
    await page.waitForSelector("#param-steps[required]");
    await page.type("#param-steps", "2");
    await page.click("#add-plan");
    await page.waitForFunction(() => document.querySelectorAll("#queue li.item").length === 1, {
      polling: "mutation",
    });
    expect(await queueItems()).toMatchObject([
      { name: "tiny", kwargs: { steps: 2 }, user: "Single User" },
    ]);
    // Removing it from the page (a write with the CSRF token) works as well.
    await page.click('#queue li.item button[title="Remove"]');
    await page.waitForFunction(() => document.querySelectorAll("#queue li.item").length === 0, {
      polling: "mutation",
    });
    expect(await queueItems()).toEqual([]);
  });

  it("--allowed-origins lets the named origin use the session, with the CSRF token", async () => {
    await logIn();
    await page.goto(`${friend.origin}/`);
    const seen = await page.evaluate(async (gw: string) => {
      const who = (await (
        await fetch(`${gw}/api/auth/whoami`, { credentials: "include" })
      ).json()) as {
        csrf_token?: string;
      };
      const token = who.csrf_token ?? "";
      const add = await fetch(`${gw}/api/queue/item/add`, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json", "x-zqs-csrf": token },
        body: JSON.stringify({ item: { item_type: "plan", name: "tiny", kwargs: { steps: 3 } } }),
      });
      const added = (await add.json()) as { success?: boolean };
      // Without the token the same write is refused, even from an allowed origin.
      const bare = await fetch(`${gw}/api/queue/item/add`, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ item: { item_type: "plan", name: "tiny", kwargs: { steps: 4 } } }),
      });
      const frame = await new Promise<string>((resolve) => {
        const s = new WebSocket(`${gw.replace(/^http/, "ws")}/api/info/ws`);
        s.onmessage = (e) => {
          s.close();
          resolve(String(e.data).slice(0, 200));
        };
        s.onclose = () => resolve("closed");
      });
      return {
        token: token.length,
        added: add.status,
        success: added.success,
        bare: bare.status,
        frame,
      };
    }, g.url);
    expect(seen.token).toBeGreaterThan(20);
    expect(seen).toMatchObject({ added: 200, success: true, bare: 403 });
    expect(seen.frame).toContain("manager_state");
    expect(await queueItems()).toMatchObject([{ kwargs: { steps: 3 }, user: "Single User" }]);
    expect((await api("POST", "/api/queue/clear")).json).toMatchObject({ success: true });
  });

  it("a page of another port cannot log the browser in with a key of its choosing", async () => {
    const session = async () =>
      (await page.cookies(g.url)).find((c) => c.name === "zqs_session")?.value;
    await logIn();
    const mine = await session();
    expect(mine).toBeTruthy();
    // The attacker's page sends the browser to the login link with its own key.
    await page.goto(`${attacker.origin}/`);
    await Promise.all([
      page.waitForNavigation(),
      page.evaluate((url: string) => {
        location.href = url;
      }, `${g.url}/?token=${SINGLE_KEY}`),
    ]);
    expect(await page.$eval("#login-error", (e) => e.textContent)).toContain("Log-in link refused");
    // The browser's session is still the one it had: no cookie was set.
    expect(await session()).toBe(mine);
    // Typed into the address bar (no page started it), the same link logs in.
    await logIn();
  });
});

describe("the checks, request by request", () => {
  let cookie: string;
  let csrf: string;
  beforeAll(async () => {
    const login = await call(g.url, "GET", `/?token=${SINGLE_KEY}`);
    cookie = String(login.headers["set-cookie"]).split(";")[0] as string;
    const who = await call(g.url, "GET", "/api/auth/whoami", { cookie });
    csrf = String(who.json.csrf_token);
  });
  const item = { item: { item_type: "plan", name: "tiny", kwargs: { steps: 1 } } };
  const host = () => new URL(g.url).host;

  it("a cookie request from another origin is a 403 naming the origin and --allowed-origins", async () => {
    const r = await call(g.url, "GET", "/api/status", {
      cookie,
      headers: { Origin: "http://127.0.0.1:8000" },
    });
    expect(r.status).toBe(403);
    expect(r.detail).toContain("Origin http://127.0.0.1:8000");
    expect(r.detail).toContain("--allowed-origins");
    const site = await call(g.url, "GET", "/api/status", {
      cookie,
      headers: { "Sec-Fetch-Site": "same-site" },
    });
    expect(site.status).toBe(403);
    expect(site.detail).toContain("Sec-Fetch-Site");
    const nul = await call(g.url, "POST", "/api/auth/logout", {
      cookie,
      headers: { Origin: "null" },
    });
    expect(nul.status).toBe(403);
    // The gateway's own origin, and a GET without a body, pass.
    const own = await call(g.url, "GET", "/api/status", {
      cookie,
      headers: { Origin: `http://${host()}`, "Sec-Fetch-Site": "same-origin" },
    });
    expect(own.status).toBe(200);
  });

  it("a cookie write needs the CSRF token and a JSON body", async () => {
    const none = await call(g.url, "POST", "/api/queue/item/add", { cookie, body: item });
    expect(none.status).toBe(403);
    expect(none.detail).toContain("X-ZQS-CSRF");
    const wrong = await call(g.url, "POST", "/api/queue/item/add", {
      cookie,
      body: item,
      headers: { "X-ZQS-CSRF": "x".repeat(43) },
    });
    expect(wrong.status).toBe(403);
    expect(wrong.detail).toContain("X-ZQS-CSRF");
    const text = await call(g.url, "POST", "/api/queue/item/add", {
      cookie,
      body: item,
      headers: { "X-ZQS-CSRF": csrf, "Content-Type": "text/plain" },
    });
    expect(text.status).toBe(415);
    expect(text.detail).toContain("application/json");
    expect(await queueItems()).toEqual([]);
    const ok = await call(g.url, "POST", "/api/queue/item/add", {
      cookie,
      body: item,
      headers: { "X-ZQS-CSRF": csrf },
    });
    expect(ok.json).toMatchObject({ success: true });
    expect((await api("POST", "/api/queue/clear")).json).toMatchObject({ success: true });
  });

  it("requests with an API key and no cookie are as before", async () => {
    const r = await call(g.url, "POST", "/api/queue/item/add", {
      key: SINGLE_KEY,
      body: item,
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: "http://elsewhere" },
    });
    expect(r.json).toMatchObject({ success: true });
    const get = await call(g.url, "GET", "/api/queue/get", { key: SINGLE_KEY, body: {} });
    expect(get.json.items).toHaveLength(1);
    expect((await api("POST", "/api/queue/clear")).json).toMatchObject({ success: true });
  });
});
