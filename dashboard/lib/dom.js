// @ts-check
// Building the page. `h` is the only way text reaches the page: it makes
// elements and text nodes, so nothing given to it is ever parsed as HTML (a
// test greps the dashboard for any other way).

/** @typedef {Node | string | number | boolean | null | undefined} Child */
/** @typedef {Child | Child[]} Children */
/** @typedef {Record<string, unknown>} Attrs */

/**
 * An element with attributes and children. `on*` attributes given functions
 * become listeners; `false`, `null` and `undefined` attributes are left out;
 * strings and numbers become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An SVG element (the chart) with attributes. */
/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...SVGElement} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/**
 * The element of the page with this id (the page is ours: a missing one is a bug).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`The page has no #${id}`);
  return el;
}

/**
 * An input, select or button of the page by id.
 * @param {string} id
 * @returns {HTMLInputElement}
 */
export function input(id) {
  return /** @type {HTMLInputElement} */ ($(id));
}

/**
 * A compact one-line text of a value (JSON, cut).
 * @param {unknown} v
 * @param {number} [max]
 */
export function brief(v, max = 120) {
  let t;
  try {
    t = typeof v === "string" ? v : JSON.stringify(v);
  } catch {
    t = String(v);
  }
  if (t === undefined) t = String(v);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/**
 * A value as indented JSON (for a detail view).
 * @param {unknown} v
 */
export function pretty(v) {
  try {
    return JSON.stringify(v, null, 2) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * `args` and `kwargs` of an item as one line: `[det1], num=3`.
 * @param {{args?: unknown[], kwargs?: Record<string, unknown>}} item
 */
export function paramsText(item) {
  /** @type {string[]} */
  const parts = [];
  for (const a of item.args ?? []) parts.push(brief(a, 40));
  for (const [k, v] of Object.entries(item.kwargs ?? {})) parts.push(`${k}=${brief(v, 40)}`);
  return parts.join(", ");
}

/**
 * A time of day from seconds since the epoch, or an ISO text.
 * @param {unknown} t
 */
export function timeText(t) {
  const ms = typeof t === "number" ? t * 1000 : typeof t === "string" ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) return "";
  return new Date(ms).toLocaleTimeString();
}

/**
 * A date and time from seconds since the epoch, or an ISO text.
 * @param {unknown} t
 */
export function dateTimeText(t) {
  const ms = typeof t === "number" ? t * 1000 : typeof t === "string" ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) return "—";
  return new Date(ms).toLocaleString();
}

/** @param {unknown} v */
function percent(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(100, n));
}

/**
 * A progress bar: a labelled meter whose `aria-valuenow` the tests and screen readers read.
 * @param {unknown} value
 * @param {string} [cls]
 */
export function bar(value, cls = "") {
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

/**
 * A state badge (any state: unknown ones are shown as they are).
 * @param {string} text
 * @param {string} [state]
 */
export function badge(text, state = text) {
  return h("span", { class: "badge", "data-state": state }, text);
}

/**
 * A link to a place of the page (`#/task/UID`...).
 * @param {string} hash
 * @param {Children} text
 * @param {Attrs} [attrs]
 */
export function link(hash, text, attrs = {}) {
  return h("a", { href: hash, ...attrs }, text);
}

/**
 * A table row saying there is nothing to show.
 * @param {number} cols
 * @param {string} text
 */
export function emptyRow(cols, text) {
  return h("tr", {}, h("td", { colspan: cols, class: "empty" }, text));
}
