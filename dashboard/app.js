// The zqs dashboard: one page over the HTTP gateway. It reads the manager's
// state with the API routes (the session cookie authenticates them) and stays
// live with /api/events (Server-Sent Events): `status` says what changed (its
// *_uid keys), `task` carries each QS_Task event, `console` the output.
import { readItem, renderParams } from "./params.js";

// ---- small helpers --------------------------------------------------------------------

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

/** A compact one-line text of a value (JSON, cut). */
function brief(v, max = 120) {
  let t;
  try {
    t = typeof v === "string" ? v : JSON.stringify(v);
  } catch {
    t = String(v);
  }
  if (t === undefined) t = String(v);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** `args` and `kwargs` of an item as one line: `[det1], num=3`. */
function paramsText(item) {
  const parts = [];
  for (const a of item.args ?? []) parts.push(brief(a, 40));
  for (const [k, v] of Object.entries(item.kwargs ?? {})) parts.push(`${k}=${brief(v, 40)}`);
  return parts.join(", ");
}

function timeText(sec) {
  if (typeof sec !== "number" || !Number.isFinite(sec)) return "";
  return new Date(sec * 1000).toLocaleTimeString();
}

function percent(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(100, n));
}

/** A progress bar: a labelled meter whose `data-value` the tests and screen readers read. */
function bar(value, cls = "") {
  const v = percent(value);
  const shown = Math.round(v * 10) / 10;
  return h(
    "div",
    {
      class: `bar ${cls}`,
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": shown,
      "data-value": shown,
    },
    h("div", { class: "bar-fill", style: `width: ${v}%` }),
    h("span", { class: "bar-text" }, `${shown}%`),
  );
}

function badge(text, state = text) {
  return h("span", { class: "badge", "data-state": state }, text);
}

// ---- talking to the gateway -------------------------------------------------------------

class ApiError extends Error {}

/** Whether the manager (or the gateway) does not know the method: the feature is absent. */
function isUnknown(err) {
  return err instanceof ApiError && (err.status === 404 || /unknown method/i.test(err.message));
}

/** Who is logged in, with the session's CSRF token (asked once, again after a failure). */
let whoamiReply;
function whoami() {
  whoamiReply ??= api("GET", "/api/auth/whoami").catch((err) => {
    whoamiReply = undefined;
    throw err;
  });
  return whoamiReply;
}

/**
 * One API call: GET routes without parameters; a change (POST, DELETE) with a
 * JSON body and the session's CSRF token in X-ZQS-CSRF, as the gateway wants
 * of a request made with the session cookie. A 401 means the session ended:
 * the page offers the login again. A reply with `success: false` throws its
 * `msg`.
 */
async function api(verb, path, body) {
  const init = { method: verb, headers: {}, credentials: "same-origin" };
  if (verb !== "GET") {
    init.headers["X-ZQS-CSRF"] = (await whoami()).csrf_token ?? "";
    body ??= {};
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`The gateway is unreachable (${err.message})`);
  }
  let data;
  try {
    data = await res.json();
  } catch {
    data = undefined;
  }
  if (res.status === 401) {
    showNotice("The session has ended: log in again.", true);
    throw Object.assign(new ApiError("Not authenticated"), { status: 401 });
  }
  if (!res.ok) {
    const detail = data?.detail ?? res.statusText;
    throw Object.assign(new ApiError(`${path}: ${brief(detail, 300)}`), { status: res.status });
  }
  if (data && data.success === false) {
    throw Object.assign(new ApiError(data.msg || `${path} failed`), { status: res.status });
  }
  return data;
}

let noticeTimer;
function showNotice(text, sticky = false) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  if (sticky) {
    n.append(" ", h("a", { href: "/" }, "Log in"));
  } else noticeTimer = setTimeout(() => (n.hidden = true), 8000);
}

/** A button's action: the call, then its failure (if any) shown at the top. */
function action(id, fn) {
  $(id).addEventListener("click", async () => {
    $(id).disabled = true;
    try {
      await fn();
    } catch (err) {
      showNotice(err.message);
    } finally {
      $(id).disabled = false;
      renderControls();
    }
  });
}

// ---- state ------------------------------------------------------------------------------

const state = {
  status: null,
  /** The uids of the lists last loaded (status says when they change). */
  seen: {},
  plans: {},
  queue: [],
  running: null,
  history: [],
  /** task_uid → {task_uid, name, state, progress, message, outputs, updated} */
  tasks: new Map(),
  runs: [],
  workers: null,
  features: { tasksList: true, workersList: true, runsList: true },
};

const TASKS_SHOWN = 50;
const TASKS_KEPT = 500;

// ---- loading the lists -----------------------------------------------------------------

/** Queue loads begun: the reply of one that a later load overtook is dropped. */
let queueLoads = 0;

async function loadQueue() {
  const seq = ++queueLoads;
  const r = await api("GET", "/api/queue/get");
  if (seq !== queueLoads) return;
  state.queue = r.items ?? [];
  state.running = r.running_item && Object.keys(r.running_item).length ? r.running_item : null;
  renderQueue();
  renderRunning();
}

async function loadHistory() {
  const r = await api("GET", "/api/history/get");
  state.history = r.items ?? [];
  renderHistory();
}

async function loadPlans() {
  const r = await api("GET", "/api/plans/allowed");
  state.plans = r.plans_allowed ?? {};
  renderPlanSelect();
}

async function loadTasks() {
  if (!state.features.tasksList) return;
  try {
    const r = await api("GET", "/api/tasks/list");
    for (const t of (r.tasks ?? []).slice().reverse()) {
      const known = state.tasks.get(t.task_uid);
      state.tasks.set(t.task_uid, { ...known, ...t, outputs: known?.outputs ?? {} });
    }
    renderTasks();
  } catch (err) {
    if (!isUnknown(err)) throw err;
    state.features.tasksList = false;
    $("tasks-note").textContent =
      "This manager has no tasks_list: tasks appear as their events arrive.";
  }
}

let runsFollowUp;
async function loadRuns() {
  if (!state.features.runsList) return;
  try {
    const r = await api("GET", "/api/runs/list");
    state.runs = r.runs ?? [];
    renderRuns();
    // Runs are counted from task events; while one is unfinished, look again
    // now and then as well, so that a last change is never missed.
    clearTimeout(runsFollowUp);
    if (state.runs.some((run) => run.num_done + run.num_failed < run.num_tasks)) {
      runsFollowUp = setTimeout(() => load(loadRuns), 2000);
    }
  } catch (err) {
    if (!isUnknown(err)) throw err;
    state.features.runsList = false;
    $("runs-note").textContent = "This manager does not list runs.";
  }
}

async function loadWorkers() {
  if (!state.features.workersList) return;
  try {
    const r = await api("GET", "/api/workers/list");
    state.workers = r.workers ?? [];
  } catch (err) {
    if (!isUnknown(err)) throw err;
    state.features.workersList = false;
    state.workers = null;
  }
  renderWorkers();
}

async function loadConsole() {
  const r = await api("GET", "/api/console_output");
  $("console").textContent = "";
  appendConsole(r.text ?? "");
}

/** Run a loader; its failure is shown, never thrown into an event handler. */
function load(fn) {
  fn().catch((err) => {
    if (err?.status !== 401) showNotice(err.message);
  });
}

/** Calls that follow a burst of events: one call per `ms`, the last event always followed. */
function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(fn), ms);
  };
}
const refreshRuns = debounce(loadRuns, 150);
const refreshWorkers = debounce(loadWorkers, 500);

// ---- live updates -----------------------------------------------------------------------

/** What each *_uid key of the status reloads when it changes. */
const ON_CHANGE = {
  plan_queue_uid: loadQueue,
  running_item_uid: loadQueue,
  plan_history_uid: loadHistory,
  plans_allowed_uid: loadPlans,
};

function onStatus(s) {
  const prev = state.status;
  state.status = s;
  renderStatus();
  for (const [key, fn] of Object.entries(ON_CHANGE)) {
    if (state.seen[key] !== s[key]) {
      state.seen[key] = s[key];
      if (prev !== null || key !== "running_item_uid") load(fn);
    }
  }
  if (state.workers === null) renderWorkers();
  else if (prev && prev.worker_environment_exists !== s.worker_environment_exists) {
    refreshWorkers();
  }
}

function onTask(ev) {
  if (!ev || typeof ev.task_uid !== "string") return;
  const t = state.tasks.get(ev.task_uid) ?? {
    task_uid: ev.task_uid,
    name: ev.name ?? "",
    state: "pending",
    progress: 0,
    message: null,
    outputs: {},
  };
  if (ev.name) t.name = ev.name;
  if (ev.state) t.state = ev.state;
  if (typeof ev.progress === "number") t.progress = ev.progress;
  if (ev.event === "task-received") t.progress = 0;
  if (ev.event === "task-succeeded") t.progress = 100;
  if (typeof ev.message === "string") t.message = ev.message;
  if (ev.outputs && typeof ev.outputs === "object") Object.assign(t.outputs, ev.outputs);
  if (ev.worker) t.worker = ev.worker;
  t.updated = Date.now();
  state.tasks.delete(ev.task_uid);
  state.tasks.set(ev.task_uid, t);
  while (state.tasks.size > TASKS_KEPT) state.tasks.delete(state.tasks.keys().next().value);
  renderTask(t);
  refreshRuns();
  if (ev.event === "task-received" || /succeeded|failed|revoked|timeout|expired/.test(ev.event)) {
    refreshWorkers();
  }
}

const CONSOLE_KEEP = 200_000;
function appendConsole(text) {
  const pre = $("console");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  let all = pre.textContent + text;
  if (all.length > CONSOLE_KEEP) all = all.slice(all.length - CONSOLE_KEEP);
  pre.textContent = all;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

/** Everything at once: on the first connection and after the stream reconnects. */
function loadAll() {
  state.seen = {};
  for (const fn of [loadQueue, loadHistory, loadPlans, loadTasks, loadRuns, loadWorkers]) load(fn);
}

function connect() {
  const es = new EventSource("/api/events");
  const live = $("live");
  es.addEventListener("open", () => {
    live.dataset.live = "yes";
    live.textContent = "live";
    loadAll();
  });
  es.addEventListener("error", () => {
    live.dataset.live = "no";
    live.textContent = "reconnecting";
    // EventSource reconnects by itself; a 401 closes it for good.
    if (es.readyState === EventSource.CLOSED) {
      live.textContent = "disconnected";
      load(async () => {
        whoamiReply = undefined; // the session may have changed
        await whoami();
        setTimeout(connect, 2000);
      });
    }
  });
  es.addEventListener("status", (e) => {
    const s = JSON.parse(e.data)?.msg?.status;
    if (s) onStatus(s);
  });
  es.addEventListener("task", (e) => onTask(JSON.parse(e.data)?.msg));
  es.addEventListener("console", (e) => appendConsole(String(JSON.parse(e.data)?.msg ?? "")));
}

// ---- rendering --------------------------------------------------------------------------

function renderStatus() {
  const s = state.status;
  if (!s) return;
  const ms = $("manager-state");
  ms.textContent = s.manager_state;
  ms.dataset.state = s.manager_state;
  $("manager-msg").textContent = s.msg ?? "";
  const mode = s.plan_queue_mode ?? {};
  const lock = s.lock ?? {};
  const facts = [
    ["Environment", badge(s.worker_environment_state ?? "", s.worker_environment_state)],
    ["Run engine", s.re_state ?? "—"],
    ["Queue", `${s.items_in_queue} item(s)`],
    ["History", `${s.items_in_history} item(s)`],
    ["Background tasks", String(s.worker_background_tasks ?? 0)],
    [
      "Queue mode",
      [mode.loop ? "loop" : null, mode.ignore_failures ? "ignore failures" : null]
        .filter(Boolean)
        .join(", ") || "default",
    ],
    ["Autostart", s.queue_autostart_enabled ? "on" : "off"],
    [
      "Lock",
      [lock.environment ? "environment" : null, lock.queue ? "queue" : null]
        .filter(Boolean)
        .join(", ") || "none",
    ],
  ];
  if (s.queue_stop_pending) facts.push(["Stop", "pending (after this plan)"]);
  if (s.pause_pending) facts.push(["Pause", "pending"]);
  $("status-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  $("queue-count").textContent = `(${s.items_in_queue})`;
  $("history-count").textContent = `(${s.items_in_history})`;
  renderControls();
}

/** Buttons that make no sense in the current state are disabled. */
function renderControls() {
  const s = state.status;
  if (!s) return;
  const env = s.worker_environment_exists;
  const st = s.manager_state;
  const set = (id, on) => ($(id).disabled = !on);
  set("env-open", !env && st === "idle");
  set("env-close", env && st === "idle");
  set("env-destroy", env);
  set("queue-start", env && st === "idle" && s.items_in_queue > 0);
  set("queue-stop", st === "executing_queue" && !s.queue_stop_pending);
  set("queue-stop-cancel", s.queue_stop_pending);
  set("queue-clear", s.items_in_queue > 0);
  set("history-clear", s.items_in_history > 0);
  set("re-pause", st === "executing_queue");
  set("re-pause-now", st === "executing_queue");
  set("re-resume", st === "paused");
  set("re-stop", st === "paused");
  set("re-abort", st === "paused");
  set("re-halt", st === "paused");
}

/** The queue as last rendered: a reload that finds it unchanged leaves the page alone. */
let renderedQueue;

function renderQueue() {
  // Replacing the list for nothing would also drop a click on one of its buttons.
  const key = JSON.stringify(state.queue);
  if (key === renderedQueue) return;
  renderedQueue = key;
  const list = $("queue");
  if (state.queue.length === 0) {
    list.replaceChildren(h("li", { class: "empty" }, "The queue is empty."));
    return;
  }
  const n = state.queue.length;
  list.replaceChildren(
    ...state.queue.map((item, i) =>
      h(
        "li",
        { class: "item", "data-uid": item.item_uid },
        h("span", { class: "item-name" }, item.name ?? item.item_type),
        h("span", { class: "item-params" }, paramsText(item)),
        h("span", { class: "muted item-user" }, item.user ?? ""),
        h(
          "span",
          { class: "item-actions" },
          h(
            "button",
            {
              type: "button",
              class: "icon",
              title: "Move up",
              "aria-label": "Move up",
              disabled: i === 0,
              onclick: () => itemMove(item.item_uid, { before_uid: state.queue[i - 1]?.item_uid }),
            },
            "↑",
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon",
              title: "Move down",
              "aria-label": "Move down",
              disabled: i === n - 1,
              onclick: () => itemMove(item.item_uid, { after_uid: state.queue[i + 1]?.item_uid }),
            },
            "↓",
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon danger",
              title: "Remove",
              "aria-label": "Remove",
              onclick: () => itemRemove(item.item_uid),
            },
            "✕",
          ),
        ),
      ),
    ),
  );
}

function itemMove(uid, where) {
  load(() => api("POST", "/api/queue/item/move", { uid, ...where }));
}

function itemRemove(uid) {
  load(() => api("POST", "/api/queue/item/remove", { uid }));
}

function renderRunning() {
  const box = $("running");
  const item = state.running;
  if (!item) {
    box.replaceChildren(h("p", { class: "muted" }, "No plan is running."));
    return;
  }
  box.replaceChildren(
    h(
      "div",
      { class: "running-item", "data-uid": item.item_uid },
      h("span", { class: "item-name" }, item.name ?? item.item_type),
      h("span", { class: "item-params" }, paramsText(item)),
      h("span", { class: "muted" }, item.user ?? ""),
    ),
  );
}

function renderHistory() {
  const rows = state.history
    .slice()
    .reverse()
    .map((item) => {
      const r = item.result ?? {};
      const exit = r.exit_status ?? "unknown";
      return h(
        "tr",
        { "data-uid": item.item_uid },
        h("td", { class: "item-name" }, item.name ?? item.item_type),
        h("td", { class: "item-params" }, paramsText(item)),
        h("td", { class: "muted" }, item.user ?? ""),
        h(
          "td",
          { title: r.msg ?? "" },
          badge(exit),
          r.msg ? h("span", { class: "muted msg" }, ` ${brief(r.msg, 80)}`) : null,
        ),
        h("td", { class: "muted" }, timeText(r.time_stop)),
      );
    });
  $("history").replaceChildren(
    ...(rows.length
      ? rows
      : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No plan has run yet."))]),
  );
}

function taskRow(t) {
  const outputs = Object.keys(t.outputs ?? {}).length ? brief(t.outputs, 100) : "";
  return h(
    "tr",
    { "data-task": t.task_uid, "data-state": t.state },
    h(
      "td",
      { title: t.task_uid },
      h("span", { class: "item-name" }, t.name || "task"),
      h("span", { class: "muted uid" }, ` ${t.task_uid.slice(0, 8)}`),
    ),
    h("td", {}, badge(t.state)),
    h("td", { class: "progress-col" }, bar(t.progress, "task-bar")),
    h("td", { class: "task-message" }, t.message ?? ""),
    h("td", { class: "task-outputs mono" }, outputs),
  );
}

/** One task's row, replaced in place (or the table rebuilt when it is new). */
function renderTask(t) {
  const row = document.querySelector(`#tasks tr[data-task="${CSS.escape(t.task_uid)}"]`);
  if (row && row === $("tasks").firstElementChild) row.replaceWith(taskRow(t));
  else renderTasks();
}

function renderTasks() {
  const all = [...state.tasks.values()].reverse();
  $("tasks-count").textContent = `(${state.tasks.size})`;
  const rows = all.slice(0, TASKS_SHOWN).map(taskRow);
  $("tasks").replaceChildren(
    ...(rows.length
      ? rows
      : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No tasks yet."))]),
  );
}

function renderRuns() {
  const rows = state.runs
    .slice()
    .reverse()
    .map((r) =>
      h(
        "tr",
        { "data-run": r.run_uid },
        h(
          "td",
          { title: r.run_uid },
          h("span", { class: "item-name" }, r.name ?? "run"),
          h("span", { class: "muted uid" }, ` ${String(r.run_uid).slice(0, 8)}`),
        ),
        h("td", { class: "num" }, `${r.num_done}/${r.num_tasks}`),
        h("td", { class: "num" }, String(r.num_failed)),
        h("td", { class: "num" }, String(r.num_computing)),
        h("td", { class: "num" }, String(r.num_waiting)),
        h("td", { class: "progress-col" }, bar(r.percent_done, "run-bar")),
      ),
    );
  $("runs").replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No runs."))]),
  );
}

function renderWorkers() {
  const tbody = $("workers");
  const note = $("workers-note");
  if (state.workers === null) {
    const s = state.status;
    note.textContent = "This manager does not list its workers (workers_list).";
    tbody.replaceChildren(
      h(
        "tr",
        {},
        h("td", {}, "environment"),
        h("td", { class: "muted" }, "local"),
        h("td", {}, badge(s?.worker_environment_state ?? "unknown")),
        h("td", { class: "num" }, `${s?.worker_background_tasks ?? 0} background task(s)`),
      ),
    );
    return;
  }
  note.textContent = "";
  tbody.replaceChildren(
    ...(state.workers.length
      ? state.workers.map((w) =>
          h(
            "tr",
            { "data-worker": w.name },
            h(
              "td",
              {},
              w.name,
              w.tags?.length ? h("span", { class: "muted" }, ` [${w.tags.join(", ")}]`) : null,
            ),
            h("td", { class: "muted" }, `${w.hostname ?? ""}${w.pid ? ` · ${w.pid}` : ""}`),
            h("td", {}, badge(w.state)),
            h(
              "td",
              { class: "num" },
              w.slots < 0 ? `${w.busy} (no limit)` : `${w.busy}/${w.slots}`,
            ),
          ),
        )
      : [h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No workers."))]),
  );
}

function renderPlanSelect() {
  const select = $("plan-select");
  const current = select.value;
  const names = Object.keys(state.plans).sort();
  select.replaceChildren(
    ...(names.length
      ? names.map((n) => h("option", { value: n }, n))
      : [h("option", { value: "" }, "(no plans allowed: open the environment)")]),
  );
  if (names.includes(current)) select.value = current;
  $("add-plan").disabled = names.length === 0;
  renderPlanForm();
}

let formOf = "";
/** The form of the selected plan, rebuilt only when the plan or its description changed. */
function renderPlanForm() {
  const plan = state.plans[$("plan-select").value];
  const key = JSON.stringify(plan ?? null);
  if (key === formOf) return;
  formOf = key;
  $("plan-description").textContent = plan?.description
    ? String(plan.description).split("\n")[0]
    : "";
  renderParams($("plan-params"), plan, h);
}

// ---- wiring -----------------------------------------------------------------------------

function wire() {
  $("plan-select").addEventListener("change", renderPlanForm);
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("plan-select").value;
    if (!name) return;
    try {
      const item = readItem($("plan-params"), name);
      await api("POST", "/api/queue/item/add", { item });
      for (const input of $("plan-params").querySelectorAll("input")) input.value = "";
    } catch (err) {
      showNotice(err.message);
    }
  });
  action("env-open", () => api("POST", "/api/environment/open"));
  action("env-close", () => api("POST", "/api/environment/close"));
  action("env-destroy", () => {
    if (!confirm("Destroy the environment (kills the worker)?")) return undefined;
    return api("POST", "/api/environment/destroy");
  });
  action("queue-start", () => api("POST", "/api/queue/start"));
  action("queue-stop", () => api("POST", "/api/queue/stop"));
  action("queue-stop-cancel", () => api("POST", "/api/queue/stop/cancel"));
  action("queue-clear", () => api("POST", "/api/queue/clear"));
  action("history-clear", () => api("POST", "/api/history/clear"));
  action("re-pause", () => api("POST", "/api/re/pause", { option: "deferred" }));
  action("re-pause-now", () => api("POST", "/api/re/pause", { option: "immediate" }));
  action("re-resume", () => api("POST", "/api/re/resume"));
  action("re-stop", () => api("POST", "/api/re/stop"));
  action("re-abort", () => api("POST", "/api/re/abort"));
  action("re-halt", () => api("POST", "/api/re/halt"));
  $("logout").addEventListener("click", async () => {
    await api("POST", "/api/auth/logout").catch(() => {});
    location.href = "/";
  });
}

async function start() {
  wire();
  renderQueue();
  renderRunning();
  renderHistory();
  renderTasks();
  renderRuns();
  try {
    const me = await whoami();
    $("whoami").textContent = [me.user, me.user_group].filter(Boolean).join(" · ");
  } catch {
    // shown by api() when the session is gone
  }
  load(loadConsole);
  connect();
}

void start();
