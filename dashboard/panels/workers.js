// @ts-check
// The workers: local processes and remote ones, with their slots; each links
// to the tasks it ran. The task detail asks here for a worker's host and pid.
import { TASK_EVENTS } from "../generated/routes.js";
import { call, debounce, isUnknown, load } from "../lib/api.js";
import { $, badge, emptyRow, h, link } from "../lib/dom.js";

/** @typedef {{name: string, hostname?: string, pid?: number | null, state: string, slots: number, busy: number, tags?: string[]}} Worker */

/** @type {Worker[] | null} */
let workers = null;
let listed = true;
/** @type {import("../lib/panel.js").Status | null} */
let status = null;

/** The ends of a task that free a slot. */
const ENDS = new Set([
  TASK_EVENTS.received,
  TASK_EVENTS.succeeded,
  TASK_EVENTS.failed,
  TASK_EVENTS.revoked,
  TASK_EVENTS.timeout,
  TASK_EVENTS.expired,
]);

/**
 * A worker as last listed (its host and pid), if any.
 * @param {string} name
 */
export function workerNamed(name) {
  return workers?.find((w) => w.name === name);
}

async function loadWorkers() {
  if (!listed) return;
  try {
    workers = (await call("workers_list")).workers ?? [];
  } catch (err) {
    if (!isUnknown(err)) throw err;
    listed = false;
    workers = null;
  }
  render();
}
const refresh = debounce(loadWorkers, 500);

function render() {
  const tbody = $("workers");
  const note = $("workers-note");
  if (workers === null) {
    const s = status;
    note.textContent = listed ? "" : "This manager does not list its workers (workers_list).";
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
    ...(workers.length
      ? workers.map((w) =>
          h(
            "tr",
            { "data-worker": w.name },
            h(
              "td",
              {},
              link(`#/tasks?worker=${encodeURIComponent(w.name)}`, w.name),
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
      : [emptyRow(4, "No workers.")]),
  );
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  return {
    onConnect() {
      load(loadWorkers);
    },
    onStatus(s, prev) {
      status = s;
      if (workers === null) render();
      else if (prev && prev.worker_environment_exists !== s.worker_environment_exists) refresh();
    },
    onTask(ev) {
      if (ENDS.has(ev.event)) refresh();
    },
  };
}
