/**
 * `/metrics` through the gateway: the manager's numbers (tasks by state,
 * queue, history, worker slots, environment state, its request and store
 * write histograms) and the gateway's own request counts and latencies.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS, waitUntil } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, client, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

let m: RunningManager;
let g: TestGateway;
beforeAll(async () => {
  m = await startManager({ args: ["--workers", "2"] });
  g = await startTestGateway(m);
});
afterAll(async () => {
  await g?.close();
  await m?.stop();
});

/** The value of one sample line (`name{labels}`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it("reports the manager's state, tasks, slots and histograms, and the gateway's requests", async () => {
  const api = client(g.url, SINGLE_KEY);
  expect((await api("POST", "/api/environment/open")).json.success).toBe(true);
  await waitStatus(
    api,
    (s) => s.worker_environment_exists === true && s.manager_state === "idle",
    ENV_OPEN_MS,
  );
  const ex = await api("POST", "/api/function/execute", {
    item: { item_type: "function", name: "function_sleep", args: [0.01] },
    run_in_background: true,
  });
  const uid = ex.json.task_uid as string;
  await waitUntil(
    async () =>
      (await api("GET", "/api/task/status", { task_uid: uid })).json.status === "completed",
  );
  const add = await api("POST", "/api/queue/item/add", {
    item: { item_type: "plan", name: "count", args: [["det1"]] },
  });
  expect(add.json.success).toBe(true);

  const r = await call(g.url, "GET", "/metrics", { key: SINGLE_KEY });
  expect(r.status).toBe(200);
  expect(r.headers["content-type"]).toContain("text/plain");
  const t = r.text;
  expect(sample(t, "zqs_manager_up")).toBe(1);
  expect(sample(t, "zqs_queue_items")).toBe(1);
  expect(sample(t, "zqs_history_items")).toBe(0);
  expect(sample(t, 'zqs_tasks{state="completed"}')).toBe(1);
  expect(sample(t, 'zqs_tasks{state="running"}')).toBe(0);
  expect(sample(t, "zqs_workers")).toBe(2);
  expect(sample(t, "zqs_worker_slots_busy")).toBe(0);
  expect(sample(t, "zqs_worker_slots_free")).toBe(2);
  expect(sample(t, 'zqs_environment_state{state="idle"}')).toBe(1);
  expect(sample(t, 'zqs_environment_state{state="closed"}')).toBe(0);
  expect(sample(t, 'zqs_manager_state{state="idle"}')).toBe(1);
  // The gateway's own counts and latency histogram, by method and status.
  expect(sample(t, 'zqs_http_requests_total{method="queue_item_add",code="200"}')).toBe(1);
  expect(sample(t, 'zqs_http_request_duration_seconds_count{method="function_execute"}')).toBe(1);
  // The manager's histograms (every client's requests; the store's writes).
  expect(sample(t, 'zqs_manager_request_duration_seconds_count{method="queue_item_add"}')).toBe(1);
  expect(
    sample(t, 'zqs_manager_request_duration_seconds_bucket{method="queue_item_add",le="+Inf"}'),
  ).toBe(1);
  expect(
    sample(t, 'zqs_store_write_duration_seconds_count{mode="durable"}'),
  ).toBeGreaterThanOrEqual(1);
  expect(t).toContain("# TYPE zqs_store_write_duration_seconds histogram");
});

it("counts the schedules by state and their fires", async () => {
  const api = client(g.url, SINGLE_KEY);
  const task = { item_type: "plan", name: "count", args: [["det1"]] };
  const a = await api("POST", "/api/schedule/create", { cron: "0 3 * * *", task });
  const b = await api("POST", "/api/schedule/create", { every: 3600, task });
  expect([a.json.success, b.json.success]).toEqual([true, true]);
  expect(
    (await api("POST", "/api/schedule/pause", { schedule_uid: b.json.schedule_uid })).json,
  ).toMatchObject({ success: true });
  const fired = await api("POST", "/api/schedule/trigger", { schedule_uid: a.json.schedule_uid });
  expect(fired.json.success, String(fired.json.msg)).toBe(true);
  const t = (await call(g.url, "GET", "/metrics", { key: SINGLE_KEY })).text;
  expect(sample(t, 'zqs_schedules{state="active"}')).toBe(1);
  expect(sample(t, 'zqs_schedules{state="paused"}')).toBe(1);
  expect(sample(t, 'zqs_schedules{state="ended"}')).toBe(0);
  expect(sample(t, 'zqs_schedule_fires_total{outcome="submitted"}')).toBe(1);
  expect(sample(t, 'zqs_schedule_fires_total{outcome="refused"}')).toBe(0);
  expect(sample(t, "zqs_schedule_missed")).toBe(0);
  expect(sample(t, "zqs_schedule_misfires_total")).toBe(0);
});

it("counts the tasks held by a rate limit", async () => {
  const api = client(g.url, SINGLE_KEY);
  const sleep0 = {
    item: { item_type: "function", name: "function_sleep", args: [0] },
    run_in_background: true,
    rate_limit: "1/h",
  };
  const first = await api("POST", "/api/function/execute", sleep0);
  const held = await api("POST", "/api/function/execute", sleep0);
  expect([first.json.success, held.json.success]).toEqual([true, true]);
  const scrape = async () => (await call(g.url, "GET", "/metrics", { key: SINGLE_KEY })).text;
  expect(sample(await scrape(), "zqs_tasks_rate_limited")).toBe(1);
  await api("POST", "/api/task/cancel", { task_uid: held.json.task_uid });
  expect(sample(await scrape(), "zqs_tasks_rate_limited")).toBe(0);
});
