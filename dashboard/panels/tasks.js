// @ts-check
// The tasks the manager knows: filtered by state, name, user, run, worker or
// parent (the filter lives in the page's address: `#/tasks?state=failed`),
// paged through tasks_list with its cursor, newest first, with the counts by
// state (tasks_counts) as filters. The first page follows the live events.
import { TASK_EVENTS, TASK_STATES } from "../generated/routes.js";
import { call, isUnknown, load, throttle } from "../lib/api.js";
import { $, badge, bar, brief, emptyRow, h, input, link, timeText } from "../lib/dom.js";

/** @typedef {Record<string, any>} Entry  A tasks_list entry, with what events added. */
/**
 * @typedef {object} Filter
 * @property {string} [state]
 * @property {string} [name]
 * @property {string} [user]
 * @property {string} [run]
 * @property {string} [worker]
 * @property {string} [parent]
 */

/** Entries per page. */
export const PAGE_SIZE = 100;
/** The filter's fields: the form's inputs are `#filter-NAME`; `run` is tasks_list's `run_uid`. */
const FIELDS = /** @type {const} */ (["state", "name", "user", "run", "worker", "parent"]);
/** Outputs seen in events (tasks_list does not carry them), for this many tasks. */
const OUTPUTS_KEPT = 2000;

/** @type {Filter} */
let filter = {};
/** The cursors of the pages shown so far: [undefined] is the newest page. */
/** @type {(string | undefined)[]} */
let cursors = [undefined];
/** @type {string | null} */
let nextCursor = null;
/** @type {Entry[]} */
let rows = [];
/** @type {Map<string, Record<string, unknown>>} */
const outputs = new Map();
let listed = true;
/** Loads begun: the reply of one that a later load overtook is dropped. */
let loads = 0;

/** @param {Filter} f */
function params(f) {
  return {
    state: f.state,
    name: f.name,
    user: f.user,
    run_uid: f.run,
    worker: f.worker,
    parent: f.parent,
  };
}

/** The filter as the page's address. @param {Filter} f */
export function filterHash(f) {
  const q = new URLSearchParams();
  for (const k of FIELDS) if (f[k]) q.set(k, /** @type {string} */ (f[k]));
  const text = q.toString();
  return text ? `#/tasks?${text}` : "#/tasks";
}

/** The page's address as a filter. @param {string} query */
export function parseFilter(query) {
  const q = new URLSearchParams(query);
  /** @type {Filter} */
  const f = {};
  for (const k of FIELDS) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

async function loadPage() {
  if (!listed) return;
  const seq = ++loads;
  const cursor = cursors[cursors.length - 1];
  let r;
  try {
    r = await call("tasks_list", { ...params(filter), limit: PAGE_SIZE, cursor });
  } catch (err) {
    if (!isUnknown(err)) throw err;
    listed = false;
    $("tasks-note").textContent =
      "This manager has no tasks_list: tasks appear as their events arrive.";
    return;
  }
  if (seq !== loads) return;
  rows = r.tasks ?? [];
  nextCursor = r.cursor ?? null;
  render();
}
const reloadPage = throttle(loadPage, 400);

async function loadCounts() {
  let r;
  try {
    r = await call("tasks_counts");
  } catch (err) {
    if (isUnknown(err)) return;
    throw err;
  }
  const counts = /** @type {Record<string, number>} */ (r.counts ?? {});
  document.dispatchEvent(new CustomEvent("zqs:counts", { detail: counts }));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  $("tasks-count").textContent = `(${total})`;
  $("task-counts").replaceChildren(
    h(
      "button",
      {
        type: "button",
        class: `count-filter${filter.state ? "" : " selected"}`,
        "data-count-state": "",
        onclick: () => (location.hash = filterHash({ ...filter, state: undefined })),
      },
      `all ${total}`,
    ),
    ...Object.entries(counts).map(([state, n]) =>
      h(
        "button",
        {
          type: "button",
          class: `count-filter${filter.state === state ? " selected" : ""}`,
          "data-count-state": state,
          "data-count": n,
          onclick: () => (location.hash = filterHash({ ...filter, state })),
        },
        badge(state),
        ` ${n}`,
      ),
    ),
  );
}
const reloadCounts = throttle(loadCounts, 500);

/**
 * The time a task waits for (a delayed task), under whichever name the manager gives it.
 * @param {Entry} t
 */
function waitsUntil(t) {
  return t.not_before ?? t.scheduled_for ?? t.eta ?? t.run_at;
}

/** @param {Entry} t */
function row(t) {
  const out = outputs.get(t.task_uid);
  const until = waitsUntil(t);
  return h(
    "tr",
    { "data-task": t.task_uid, "data-state": t.state },
    h(
      "td",
      { title: t.task_uid },
      link(`#/task/${encodeURIComponent(t.task_uid)}`, [
        h("span", { class: "item-name" }, t.name || "task"),
        h("span", { class: "muted uid" }, ` ${String(t.task_uid).slice(0, 8)}`),
      ]),
    ),
    h(
      "td",
      {},
      badge(t.state),
      until !== undefined && until !== null
        ? h("span", { class: "muted task-until" }, ` at ${timeText(until)}`)
        : null,
    ),
    h("td", { class: "progress-col" }, bar(t.progress, "task-bar")),
    h("td", { class: "task-message" }, t.message ?? ""),
    h("td", { class: "task-outputs mono" }, out && Object.keys(out).length ? brief(out, 100) : ""),
    h("td", { class: "muted" }, t.user ?? ""),
    h("td", { class: "muted" }, t.worker ?? ""),
    h("td", { class: "muted" }, timeText(t.created_at)),
  );
}

/** @param {string} [empty] what the table says when it has no rows */
function render(empty = "No tasks match.") {
  $("tasks").replaceChildren(...(rows.length ? rows.map(row) : [emptyRow(8, empty)]));
  const page = cursors.length;
  $("tasks-page").textContent = `page ${page}`;
  input("tasks-newer").disabled = page === 1;
  input("tasks-newest").disabled = page === 1;
  input("tasks-older").disabled = nextCursor === null;
}

/**
 * The filter form shows the filter in force: set when the filter changes
 * (never on a reload, which would undo what the user is typing).
 */
function showFilter() {
  const select = input("filter-state");
  const st = filter.state;
  if (st && ![...select.querySelectorAll("option")].some((o) => o.value === st)) {
    select.append(h("option", { value: st }, st));
  }
  for (const k of FIELDS) input(`filter-${k}`).value = filter[k] ?? "";
}

/**
 * Show these tasks (from the page's address), from the newest page.
 * @param {Filter} f
 */
export function showTasks(f) {
  filter = f;
  showFilter();
  cursors = [undefined];
  // The rows of the filter before are not this one's: none until its first page comes.
  rows = [];
  nextCursor = null;
  render("Loading…");
  load(loadPage);
  load(loadCounts);
}

/**
 * A task event: its row changes in place; on the first page a task that is
 * new (or now matches or no longer matches) brings a reload.
 * @param {import("../lib/panel.js").TaskEvent} ev
 */
function onTask(ev) {
  if (!ev || typeof ev.task_uid !== "string") return;
  reloadCounts();
  if (ev.outputs && typeof ev.outputs === "object") {
    const o = outputs.get(ev.task_uid) ?? {};
    outputs.delete(ev.task_uid);
    outputs.set(ev.task_uid, Object.assign(o, ev.outputs));
    while (outputs.size > OUTPUTS_KEPT)
      outputs.delete(/** @type {string} */ (outputs.keys().next().value));
  }
  const i = rows.findIndex((r) => r.task_uid === ev.task_uid);
  const first = cursors.length === 1;
  if (i < 0) {
    if (first) reloadPage();
    return;
  }
  const t = { ...rows[i] };
  if (ev.state) t.state = ev.state;
  if (typeof ev.progress === "number") t.progress = ev.progress;
  if (ev.event === TASK_EVENTS.received) t.progress = 0;
  if (ev.event === TASK_EVENTS.succeeded) t.progress = 100;
  if (typeof ev.message === "string") t.message = ev.message;
  if (ev.worker) t.worker = ev.worker;
  rows[i] = t;
  const old = document.querySelector(`#tasks tr[data-task="${CSS.escape(t.task_uid)}"]`);
  old?.replaceWith(row(t));
  if (first && filter.state && t.state !== filter.state) reloadPage();
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  $("filter-state").replaceChildren(
    h("option", { value: "" }, "any"),
    ...TASK_STATES.map((s) => h("option", { value: s }, s)),
  );
  $("tasks-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    /** @type {Filter} */
    const f = {};
    for (const k of FIELDS) {
      const v = input(`filter-${k}`).value.trim();
      if (v) f[k] = v;
    }
    location.hash = filterHash(f);
  });
  $("tasks-filter").addEventListener("reset", (e) => {
    e.preventDefault();
    location.hash = filterHash({});
  });
  input("tasks-older").addEventListener("click", () => {
    if (nextCursor === null) return;
    cursors.push(nextCursor);
    load(loadPage);
  });
  input("tasks-newer").addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    load(loadPage);
  });
  input("tasks-newest").addEventListener("click", () => {
    cursors = [undefined];
    load(loadPage);
  });
  render();
  return {
    onConnect() {
      load(loadPage);
      load(loadCounts);
    },
    onTask,
  };
}
