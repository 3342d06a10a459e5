/**
 * The lists of plans and devices are known at start (issue 21, item 8), as the
 * Python server knows them from its startup folder: a new manager on a new
 * store reads them from the startup code in a short-lived worker process, so
 * that plans can be queued before any environment is opened; the process does
 * not stay, and no environment exists meanwhile. Startup code that changed
 * since the lists were stored is read again at the next start; code that does
 * not load leaves the manager running with empty lists. Real managers, real
 * worker processes, LMDB in temp dirs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  waitUntil,
  type RunningManager,
} from "../helpers/manager.js";
import { childPids } from "../helpers/process.js";
import { USER } from "../helpers/tasks.js";

const managers: RunningManager[] = [];
const clients: { close(): void }[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const m of managers.splice(0)) await m.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof startManager>[0]) {
  const m = await startManager(opts);
  managers.push(m);
  const c = new RawClient(m.controlAddr);
  clients.push(c);
  return { m, c };
}

const COUNT = { item_type: "plan", name: "count", args: [["det1"]], kwargs: { num: 1 } };
const GATED = { item_type: "plan", name: "gated" };

/**
 * Startup code whose loading waits until `open()` (a file appears), in every
 * process that loads it: the lists stay unread until the test says so.
 */
function gatedStartup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-gate-"));
  dirs.push(dir);
  const marker = path.join(dir, "open");
  return {
    files: {
      "gated.mjs": `
import { existsSync } from "node:fs";
await new Promise((resolve) => {
  const t = setInterval(() => existsSync(${JSON.stringify(marker)}) && (clearInterval(t), resolve()), 10);
});
export async function* gated() {}
`,
    },
    open: () => fs.writeFileSync(marker, ""),
  };
}

describe("the lists of plans and devices at start", () => {
  it("a new manager on a new store queues an allowed plan without opening an environment", async () => {
    // A long wait for the lists: the test is about their being known, not how soon.
    const { m, c } = await start({
      args: ["--startup-lists-wait", "600"],
      infoInterval: BRISK_INFO_INTERVAL,
    });
    const info = new InfoListener(m.infoAddr, ["QS_Info"]);
    clients.push(info);
    // Sent at once: the request waits for the lists rather than being refused.
    const add = await c.request("queue_item_add", { item: COUNT, ...USER });
    expect(add.success, String(add.msg)).toBe(true);
    expect(add.item).toMatchObject({ name: "count", user_group: "primary" });

    const allowed = await c.request("plans_allowed", { user_group: "primary" });
    expect(Object.keys(allowed.plans_allowed as object)).toContain("count");
    const devices = await c.request("devices_allowed", { user_group: "primary" });
    expect(Object.keys(devices.devices_allowed as object)).toContain("det1");
    const existing = await c.request("plans_existing");
    expect(existing.plans_existing).toHaveProperty("count");

    // The reading process is gone, and no environment was ever there.
    await waitUntil(() => m.proc.pid !== undefined && childPids(m.proc.pid).length === 0);
    const s = await c.request("status");
    expect(s).toMatchObject({ worker_environment_exists: false, items_in_queue: 1 });
    await info.ready();
    const statuses = info.messages.map(
      (x) => (x.payload.msg as { status: Record<string, unknown> }).status,
    );
    expect(statuses.length).toBeGreaterThan(0);
    for (const st of statuses) expect(st.worker_environment_exists).toBe(false);
    expect(m.output()).toMatch(/Read the plans and devices of the startup code \(\d+ plans/);
  });

  it("startup code changed since the lists were stored is read again at start", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zqs-lists-"));
    dirs.push(dir);
    const startup = path.join(dir, "startup");
    fs.mkdirSync(startup);
    const args = [
      "--startup-dir",
      startup,
      "--store-path",
      path.join(dir, "store"),
      "--startup-lists-wait",
      "600",
    ];
    const plans = async (c: RawClient) =>
      Object.keys((await c.request("plans_existing")).plans_existing as object).sort();
    const restart = async () => {
      for (const x of clients.splice(0)) x.close();
      for (const x of managers.splice(0)) await x.stop();
      return start({ examples: false, args });
    };

    fs.writeFileSync(path.join(startup, "plans.mjs"), "export async function* first() {}\n");
    let { m, c } = await restart();
    expect(await plans(c)).toEqual(["first"]);
    expect(m.output()).toMatch(/Reading the plans and devices of the startup code/);

    // Unchanged: the stored lists serve, nothing is read.
    ({ m, c } = await restart());
    expect(await plans(c)).toEqual(["first"]);
    expect(m.output()).not.toMatch(/Reading the plans and devices/);

    // Changed (a file's content, and a new file in a folder beside it): read again.
    fs.mkdirSync(path.join(startup, "lib"));
    fs.writeFileSync(path.join(startup, "lib", "more.mjs"), "export async function* third() {}\n");
    fs.writeFileSync(
      path.join(startup, "plans.mjs"),
      'export async function* second() {}\nexport { third } from "./lib/more.mjs";\n',
    );
    ({ m, c } = await restart());
    expect(await plans(c)).toEqual(["second", "third"]);
    expect(m.output()).toMatch(/Reading the plans and devices of the startup code/);
  });

  it("a request waits at most --startup-lists-wait for the lists, then is refused naming it", async () => {
    const gate = gatedStartup();
    const { c } = await start({ startup: gate.files, args: ["--startup-lists-wait", "0.5"] });
    const add = await c.request("queue_item_add", { item: COUNT, ...USER });
    expect(add.success).toBe(false);
    expect(String(add.msg)).toMatch(
      /still being read from the startup code \(waited 0\.5 s, --startup-lists-wait\)/,
    );
    // Status does not wait.
    expect((await c.request("status")).manager_state).toBe("idle");
    gate.open();
    await waitUntil(async () => (await c.request("plans_existing")).success === true);
    const again = await c.request("queue_item_add", { item: GATED, ...USER });
    expect(again.success, String(again.msg)).toBe(true);
  });

  it("an environment opened while the lists are read replaces the reader; requests wait for its lists", async () => {
    const gate = gatedStartup();
    const { m, c } = await start({ startup: gate.files, args: ["--startup-lists-wait", "600"] });
    const pid = m.proc.pid as number;
    const reader = await waitUntil(() => childPids(pid)[0]);
    const c2 = new RawClient(m.controlAddr);
    clients.push(c2);
    const add = c2.request("queue_item_add", { item: GATED, ...USER });
    expect(await c.request("environment_open")).toEqual({ success: true, msg: "" });
    // The reader is gone; only the environment's worker remains, still loading.
    await waitUntil(() => {
      const kids = childPids(pid);
      return kids.length === 1 && kids[0] !== reader;
    });
    expect(m.output()).toMatch(/An environment is opening: its lists replace those being read/);
    gate.open();
    const r = await add;
    expect(r.success, String(r.msg)).toBe(true);
    const s = await c.request("status");
    expect(s.worker_environment_exists).toBe(true);
  });

  it("startup code that does not load: the manager runs on with empty lists and says why", async () => {
    const { m, c } = await start({
      startup: { "broken.mjs": 'throw new Error("the beamline is not here");\n' },
      args: ["--startup-lists-wait", "600"],
    });
    const existing = await c.request("plans_existing");
    expect(existing).toMatchObject({ success: true, plans_existing: {} });
    expect(m.output()).toMatch(/Failed to load the startup code: .*the beamline is not here/);
    expect(m.output()).toMatch(/lists of plans and devices stay as they were/);
    const add = await c.request("queue_item_add", { item: COUNT, ...USER });
    expect(add.success).toBe(false);
    expect(String(add.msg)).toMatch(/not in the list of allowed plans/);
    const s = await c.request("status");
    expect(s.manager_state).toBe("idle");
  });
});
