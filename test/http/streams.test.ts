/**
 * The streams through the gateway: console output polled
 * (`/api/console_output_update`) and pushed (`/api/console_output/ws`), the
 * status on `/api/info/ws`, and `/api/events` (SSE and WebSocket) with QS_Task
 * events; then a manager that goes away (408 with a detail) and comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startManager, type RunningManager } from "../helpers/manager.js";
import { ENV_OPEN_MS, GUARD_MS, waitUntil } from "../helpers/wait.js";
import type { TestGateway } from "./helpers.js";
import { call, client, readSse, SINGLE_KEY, startTestGateway, waitStatus } from "./helpers.js";

/** Collect a WebSocket's JSON frames until `until` holds. */
function readWs(
  url: string,
  until: (frames: Record<string, unknown>[]) => boolean,
  onOpen: () => Promise<unknown> = async () => undefined,
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const frames: Record<string, unknown>[] = [];
    const ws = new WebSocket(url.replace(/^http/, "ws"), {
      headers: { Authorization: `ApiKey ${SINGLE_KEY}` },
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`ws: timed out; got ${JSON.stringify(frames).slice(0, 2000)}`));
    }, GUARD_MS);
    ws.on("open", () => void onOpen().catch(reject));
    ws.on("message", (data) => {
      frames.push(JSON.parse(data.toString("utf8")) as Record<string, unknown>);
      if (until(frames)) {
        clearTimeout(timer);
        ws.close();
        resolve(frames);
      }
    });
    ws.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const func = (name: string, args: unknown[] = []) => ({ item_type: "function", name, args });

describe.each(["json", "msgpack"] as const)("streams, manager encoding %s", (encoding) => {
  let m: RunningManager;
  let g: TestGateway;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    m = await startManager({ encoding });
    g = await startTestGateway(m, { encoding });
    api = client(g.url, SINGLE_KEY);
    // The gateway hears the info socket once the manager's status reaches it.
    await waitUntil(() => g.gateway.events.lastStatus !== undefined);
  });
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("console output: polled after a uid, and pushed on /api/console_output/ws", async () => {
    const first = await api("GET", "/api/console_output_update", { last_msg_uid: "" });
    expect(first.status).toBe(200);
    const uid0 = first.json.last_msg_uid as string;
    const pushed = readWs(
      `${g.url}/api/console_output/ws`,
      (fs) => fs.some((f) => String(f.msg).includes("Opening the worker environment")),
      () => api("POST", "/api/environment/open"),
    );
    const frames = await pushed;
    expect(typeof frames[0]?.time).toBe("number");
    await waitStatus(
      api,
      (s) => s.worker_environment_exists === true && s.manager_state === "idle",
      ENV_OPEN_MS,
    );
    const ex = await api("POST", "/api/function/execute", {
      item: func("function_sleep", [0.01]),
      run_in_background: true,
    });
    expect(ex.json.success, String(ex.json.msg)).toBe(true);
    // Polled: what came after uid0 includes the function's own output, in order.
    const msgs = await waitUntil(async () => {
      const r = await api("GET", "/api/console_output_update", { last_msg_uid: uid0 });
      const list = r.json.console_output_msgs as { time: number; msg: string }[];
      const text = list.map((x) => x.msg).join("");
      return text.includes("Finished the function 'function_sleep'") ? r.json : undefined;
    });
    const list = msgs.console_output_msgs as { time: number; msg: string }[];
    const text = list.map((x) => x.msg).join("");
    expect(text.indexOf("Starting the function")).toBeLessThan(
      text.indexOf("Finished the function"),
    );
    expect(text).toContain("Opening the worker environment");
    // Nothing new after the last uid.
    const none = await api("GET", "/api/console_output_update", {
      last_msg_uid: msgs.last_msg_uid,
    });
    expect(none.json.console_output_msgs).toEqual([]);
    expect((await api("GET", "/api/console_output/uid")).json.console_output_uid).toBe(
      msgs.last_msg_uid,
    );
    expect((await api("GET", "/api/console_output", { nlines: 1 })).json.text).toMatch(
      /^[^\n]*\n?$/,
    );
  });

  it("/api/info/ws: the status as published, and its changes", async () => {
    const frames = await readWs(
      `${g.url}/api/info/ws`,
      (fs) =>
        fs.some(
          (f) => (f.msg as { status: { items_in_queue: number } }).status.items_in_queue === 1,
        ),
      () =>
        api("POST", "/api/queue/item/add", {
          item: { item_type: "plan", name: "count", args: [["det1"]] },
        }),
    );
    const st = (frames[0]?.msg as { status: Record<string, unknown> }).status;
    expect(typeof frames[0]?.time).toBe("number");
    expect(st.manager_state).toBeDefined();
    expect((await api("POST", "/api/queue/clear")).json.success).toBe(true);
  });

  it("/api/events: task events and status over SSE and over a WebSocket", async () => {
    let uid = "";
    const sse = readSse(g.url, "/api/events", SINGLE_KEY, (evs) =>
      evs.some(
        (e) =>
          e.event === "task" &&
          (e.data as { msg: { event: string; task_uid: string } }).msg.task_uid === uid &&
          (e.data as { msg: { event: string } }).msg.event === "task-succeeded",
      ),
    );
    const ws = readWs(`${g.url}/api/events`, (fs) =>
      fs.some(
        (f) =>
          f.type === "task" &&
          (f.payload as { msg: { task_uid: string; event: string } }).msg.task_uid === uid &&
          (f.payload as { msg: { event: string } }).msg.event === "task-succeeded",
      ),
    );
    // Both streams are open once they delivered the status they start with.
    await waitUntil(() => g.gateway.events.subscribers >= 2);
    const ex = await api("POST", "/api/function/execute", {
      item: func("function_sleep", [0.01]),
      run_in_background: true,
    });
    uid = ex.json.task_uid as string;
    const evs = await sse;
    expect(evs[0]?.event).toBe("status");
    const names = evs
      .filter(
        (e) => e.event === "task" && (e.data as { msg: { task_uid: string } }).msg.task_uid === uid,
      )
      .map((e) => (e.data as { msg: { event: string } }).msg.event);
    expect(names).toContain("task-started");
    expect(names.at(-1)).toBe("task-succeeded");
    const frames = await ws;
    expect(frames[0]?.type).toBe("status");
  });
});

describe("a manager that goes away", () => {
  let m: RunningManager;
  let g: TestGateway;
  afterAll(async () => {
    await g?.close();
    await m?.stop();
  });

  it("408 with a detail while it is gone; answers again when it is back", async () => {
    m = await startManager({ examples: false, startup: {} });
    const { controlAddr, infoAddr } = m;
    g = await startTestGateway(m, { timeout: 5 });
    const api = client(g.url, SINGLE_KEY);
    expect((await api("GET", "/api/status")).status).toBe(200);
    await m.kill9();
    const gone = await api("GET", "/api/status");
    expect(gone.status).toBe(408);
    expect(gone.detail).toMatch(/manager at tcp:\/\/127\.0\.0\.1:\d+ does not answer/);
    const metrics = await call(g.url, "GET", "/metrics", { key: SINGLE_KEY });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain("zqs_manager_up 0");
    await m.stop();
    m = await startManager({ examples: false, startup: {}, controlAddr, infoAddr });
    const back = await waitUntil(async () => {
      const r = await api("GET", "/api/status");
      return r.status === 200 ? r : undefined;
    });
    expect(back.json.manager_state).toBe("idle");
    expect((await call(g.url, "GET", "/metrics", { key: SINGLE_KEY })).text).toContain(
      "zqs_manager_up 1",
    );
  });
});
