// @ts-check
// The queue (move, remove, start, stop, clear), the running plan, and the
// "add a plan" form built from the allowed plans' descriptions.
import { call, load, onClick, showNotice } from "../lib/api.js";
import { $, h, input, paramsText } from "../lib/dom.js";
import { readItem, renderParams } from "./plan-form.js";

/** @typedef {Record<string, any>} Item */

/** @type {Item[]} */
let queue = [];
/** @type {Item | null} */
let running = null;
/** @type {Record<string, any>} */
let plans = {};
/** @type {import("../lib/panel.js").Status | null} */
let status = null;
/** Queue loads begun: the reply of one that a later load overtook is dropped. */
let queueLoads = 0;
/** The queue as last rendered: a reload that finds it unchanged leaves the page alone. */
let renderedQueue = "";
/** The plan whose form is shown (and its description): rebuilt only when it changes. */
let formOf = "";

async function loadQueue() {
  const seq = ++queueLoads;
  const r = await call("queue_get");
  if (seq !== queueLoads) return;
  queue = r.items ?? [];
  running = r.running_item && Object.keys(r.running_item).length ? r.running_item : null;
  renderQueue();
  renderRunning();
}

async function loadPlans() {
  const r = await call("plans_allowed");
  plans = r.plans_allowed ?? {};
  renderPlanSelect();
}

/**
 * @param {string} uid
 * @param {Record<string, unknown>} where
 */
function itemMove(uid, where) {
  load(() => call("queue_item_move", { uid, ...where }));
}

/**
 * @param {string} label
 * @param {string} text
 * @param {boolean} disabled
 * @param {() => void} fn
 * @param {string} [cls]
 */
function iconButton(label, text, disabled, fn, cls = "icon") {
  return h(
    "button",
    { type: "button", class: cls, title: label, "aria-label": label, disabled, onclick: fn },
    text,
  );
}

function renderQueue() {
  // Replacing the list for nothing would also drop a click on one of its buttons.
  const key = JSON.stringify(queue);
  if (key === renderedQueue) return;
  renderedQueue = key;
  const list = $("queue");
  if (queue.length === 0) {
    list.replaceChildren(h("li", { class: "empty" }, "The queue is empty."));
    return;
  }
  const n = queue.length;
  list.replaceChildren(
    ...queue.map((item, i) =>
      h(
        "li",
        { class: "item", "data-uid": item.item_uid },
        h("span", { class: "item-name" }, item.name ?? item.item_type),
        h("span", { class: "item-params" }, paramsText(item)),
        h("span", { class: "muted item-user" }, item.user ?? ""),
        h(
          "span",
          { class: "item-actions" },
          iconButton("Move up", "↑", i === 0, () =>
            itemMove(item.item_uid, { before_uid: queue[i - 1]?.item_uid }),
          ),
          iconButton("Move down", "↓", i === n - 1, () =>
            itemMove(item.item_uid, { after_uid: queue[i + 1]?.item_uid }),
          ),
          iconButton(
            "Remove",
            "✕",
            false,
            () => load(() => call("queue_item_remove", { uid: item.item_uid })),
            "icon danger",
          ),
        ),
      ),
    ),
  );
}

function renderRunning() {
  const box = $("running");
  const item = running;
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
      " ",
      h("a", { href: `#/tasks?parent=${encodeURIComponent(item.item_uid)}` }, "its tasks"),
    ),
  );
}

function renderPlanSelect() {
  const select = input("plan-select");
  const current = select.value;
  const names = Object.keys(plans).sort();
  select.replaceChildren(
    ...(names.length
      ? names.map((n) => h("option", { value: n }, n))
      : [h("option", { value: "" }, "(no plans allowed: open the environment)")]),
  );
  if (names.includes(current)) select.value = current;
  input("add-plan").disabled = names.length === 0;
  renderPlanForm();
}

function renderPlanForm() {
  const plan = plans[input("plan-select").value];
  const key = JSON.stringify(plan ?? null);
  if (key === formOf) return;
  formOf = key;
  $("plan-description").textContent = plan?.description
    ? String(plan.description).split("\n")[0]
    : "";
  renderParams($("plan-params"), plan);
}

function renderControls() {
  const s = status;
  if (!s) return;
  const env = s.worker_environment_exists;
  const st = s.manager_state;
  /** @type {(id: string, on: boolean) => void} */
  const set = (id, on) => {
    input(id).disabled = !on;
  };
  set("queue-start", env && st === "idle" && s.items_in_queue > 0);
  set("queue-stop", st === "executing_queue" && !s.queue_stop_pending);
  set("queue-stop-cancel", s.queue_stop_pending);
  set("queue-clear", s.items_in_queue > 0);
}

/** What each *_uid key of the status reloads when it changes. */
const ON_CHANGE = {
  plan_queue_uid: loadQueue,
  running_item_uid: loadQueue,
  plans_allowed_uid: loadPlans,
};
/** @type {Record<string, unknown>} */
let seen = {};

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  input("plan-select").addEventListener("change", renderPlanForm);
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = input("plan-select").value;
    if (!name) return;
    try {
      const item = readItem($("plan-params"), name);
      await call("queue_item_add", { item });
      for (const i of $("plan-params").querySelectorAll("input")) i.value = "";
    } catch (err) {
      showNotice(/** @type {Error} */ (err).message);
    }
  });
  onClick($("queue-start"), () => call("queue_start"), renderControls);
  onClick($("queue-stop"), () => call("queue_stop"), renderControls);
  onClick($("queue-stop-cancel"), () => call("queue_stop_cancel"), renderControls);
  onClick($("queue-clear"), () => call("queue_clear"), renderControls);
  renderQueue();
  renderRunning();
  return {
    onConnect() {
      seen = {};
    },
    onStatus(s, prev) {
      status = s;
      $("queue-count").textContent = `(${s.items_in_queue})`;
      renderControls();
      for (const [key, fn] of Object.entries(ON_CHANGE)) {
        if (seen[key] !== s[key]) {
          seen[key] = s[key];
          // The queue is loaded once for both of its markers at the start.
          if (prev !== null || key !== "running_item_uid") load(fn);
        }
      }
    },
  };
}
