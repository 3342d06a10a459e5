// @ts-check
// The flow of tasks: started, completed and failed per second over the last
// minutes, and the number of tasks waiting for a worker (queue depth), drawn
// as plain SVG from the live task events (nothing fetched from elsewhere).
// The depth is set from tasks_counts whenever the tasks panel reads them
// (the `zqs:counts` event of the document) and follows the events between.
import { TASK_EVENTS } from "../generated/routes.js";
import { $, h, svg } from "../lib/dom.js";

/** Seconds shown. */
export const WINDOW_SEC = 120;
const W = 600;
const H = 150;
const PAD = 24;

/** @typedef {{started: number, completed: number, failed: number, depth: number}} Second */

/** Per second (epoch seconds) what happened. */
/** @type {Map<number, Second>} */
const seconds = new Map();
let depth = 0;

const SERIES = /** @type {const} */ ([
  ["started", "Started"],
  ["completed", "Completed"],
  ["failed", "Failed"],
]);

/** @param {number} sec */
function at(sec) {
  let s = seconds.get(sec);
  if (!s) seconds.set(sec, (s = { started: 0, completed: 0, failed: 0, depth }));
  return s;
}

const now = () => Math.floor(Date.now() / 1000);

/** @param {import("../lib/panel.js").TaskEvent} ev */
function count(ev) {
  const s = at(now());
  switch (ev.event) {
    case TASK_EVENTS.sent:
    case TASK_EVENTS.requeued:
      depth++;
      break;
    case TASK_EVENTS.received:
      s.started++;
      depth = Math.max(0, depth - 1);
      break;
    case TASK_EVENTS.succeeded:
      s.completed++;
      break;
    case TASK_EVENTS.failed:
    case TASK_EVENTS.timeout:
      s.failed++;
      break;
    case TASK_EVENTS.expired:
      depth = Math.max(0, depth - 1);
      break;
    default:
      break;
  }
  s.depth = depth;
}

/**
 * The points of a line through one value per second of the window.
 * @param {number[]} values
 * @param {number} max
 */
function line(values, max) {
  return values
    .map((v, i) => {
      const x = PAD + (i * (W - 2 * PAD)) / (WINDOW_SEC - 1);
      const y = H - PAD - (v / max) * (H - 2 * PAD);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

function render() {
  const to = now();
  const from = to - WINDOW_SEC + 1;
  for (const k of seconds.keys()) if (k < from) seconds.delete(k);
  at(to);
  /** @type {Record<string, number>} */
  const totals = { started: 0, completed: 0, failed: 0 };
  let maxRate = 1;
  let maxDepth = 1;
  for (const [k, s] of seconds) {
    if (k < from) continue;
    for (const [key] of SERIES) {
      totals[key] = (totals[key] ?? 0) + s[key];
      maxRate = Math.max(maxRate, s[key]);
    }
    maxDepth = Math.max(maxDepth, s.depth);
  }
  // A second with no event of its own keeps the depth of the last one before it.
  let last = 0;
  /** @type {number[]} */
  const depths = [];
  /** @type {Record<string, number[]>} */
  const rates = { started: [], completed: [], failed: [] };
  for (let i = from; i <= to; i++) {
    const s = seconds.get(i);
    if (s) last = s.depth;
    depths.push(last);
    for (const [key] of SERIES) rates[key]?.push(s ? s[key] : 0);
  }
  const chart = $("flow-chart");
  chart.dataset.started = String(totals.started);
  chart.dataset.completed = String(totals.completed);
  chart.dataset.failed = String(totals.failed);
  chart.dataset.depth = String(depth);
  const axis = svg(
    "g",
    { class: "axis" },
    svg("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }),
    svg("line", { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD }),
  );
  const label = (
    /** @type {string} */ text,
    /** @type {number} */ x,
    /** @type {number} */ y,
    anchor = "start",
  ) => {
    const t = svg("text", { x, y, "text-anchor": anchor });
    t.textContent = text;
    return t;
  };
  chart.replaceChildren(
    axis,
    label(`${maxRate}/s`, PAD + 4, PAD - 6),
    label(`depth ${maxDepth}`, W - PAD, PAD - 6, "end"),
    label(`−${WINDOW_SEC} s`, PAD, H - 6),
    label("now", W - PAD, H - 6, "end"),
    svg("polyline", {
      class: "series depth",
      "data-series": "depth",
      points: line(depths, maxDepth),
    }),
    ...SERIES.map(([key]) =>
      svg("polyline", {
        class: `series ${key}`,
        "data-series": key,
        points: line(rates[key] ?? [], maxRate),
      }),
    ),
  );
  $("flow-legend").replaceChildren(
    ...SERIES.map(([key, text]) => h("span", { class: `legend ${key}` }, `${text} ${totals[key]}`)),
    h("span", { class: "legend depth" }, `Waiting ${depth}`),
  );
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let pending;
function renderSoon() {
  pending ??= setTimeout(() => {
    pending = undefined;
    render();
  }, 250);
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  $("flow-chart").setAttribute("viewBox", `0 0 ${W} ${H}`);
  document.addEventListener("zqs:counts", (e) => {
    const counts = /** @type {CustomEvent<Record<string, number>>} */ (e).detail;
    depth = counts.pending ?? 0;
    at(now()).depth = depth;
    renderSoon();
  });
  // The time axis moves on even when no event comes.
  setInterval(render, 1000);
  render();
  return {
    onTask(ev) {
      count(ev);
      renderSoon();
    },
  };
}
