// @ts-check
// Runs of many tasks: their counts and percent done; each links to its tasks.
import { call, debounce, isUnknown, load } from "../lib/api.js";
import { $, bar, emptyRow, h, link } from "../lib/dom.js";

/** @type {Record<string, any>[]} */
let runs = [];
let listed = true;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let followUp;

async function loadRuns() {
  if (!listed) return;
  try {
    runs = (await call("runs_list")).runs ?? [];
  } catch (err) {
    if (!isUnknown(err)) throw err;
    listed = false;
    $("runs-note").textContent = "This manager does not list runs.";
    return;
  }
  render();
  // Runs are counted from task events; while one is unfinished, look again
  // now and then as well, so that a last change is never missed.
  clearTimeout(followUp);
  if (runs.some((run) => run.num_done + run.num_failed < run.num_tasks)) {
    followUp = setTimeout(() => load(loadRuns), 2000);
  }
}
const refresh = debounce(loadRuns, 150);

function render() {
  const rows = runs
    .slice()
    .reverse()
    .map((r) =>
      h(
        "tr",
        { "data-run": r.run_uid },
        h(
          "td",
          { title: r.run_uid },
          link(`#/tasks?run=${encodeURIComponent(r.run_uid)}`, [
            h("span", { class: "item-name" }, r.name ?? "run"),
            h("span", { class: "muted uid" }, ` ${String(r.run_uid).slice(0, 8)}`),
          ]),
        ),
        h("td", { class: "num" }, `${r.num_done}/${r.num_tasks}`),
        h("td", { class: "num" }, String(r.num_failed)),
        h("td", { class: "num" }, String(r.num_computing)),
        h("td", { class: "num" }, String(r.num_waiting)),
        h("td", { class: "progress-col" }, bar(r.percent_done, "run-bar")),
      ),
    );
  $("runs").replaceChildren(...(rows.length ? rows : [emptyRow(6, "No runs.")]));
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  render();
  return {
    onConnect() {
      load(loadRuns);
    },
    onTask() {
      refresh();
    },
  };
}
