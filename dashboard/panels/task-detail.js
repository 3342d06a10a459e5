// @ts-check
// One task in full (`#/task/UID`): its state and times, its call (function,
// arguments, options), its outcome (return value, or error and traceback),
// attempts, progress, message and outputs, its worker (name, host, pid), its
// parent, children, the task it retries and its retries, as links; cancel and
// retry where the session's scopes allow them. It follows the task's events.
import { call, load, onClick, showNotice, throttle, whoami, allows } from "../lib/api.js";
import { TASK_EVENTS } from "../generated/routes.js";
import { $, badge, bar, dateTimeText, h, link, pretty } from "../lib/dom.js";
import { workerNamed } from "./workers.js";

/** @type {string | null} */
let shown = null;
/** Loads begun: the reply of one that a later load overtook is dropped. */
let loads = 0;
/** What the task's events said of its worker (host and pid), by task. */
/** @type {Map<string, {hostname?: string, pid?: number}>} */
const whereSeen = new Map();

const FINAL = new Set(["completed", "failed", "cancelled", "timed_out", "expired"]);

/** @param {string} uid */
const taskLink = (uid) => link(`#/task/${encodeURIComponent(uid)}`, uid, { class: "mono" });

/**
 * @param {string} label
 * @param {import("../lib/dom.js").Children} value
 * @param {string} [key]
 */
const fact = (label, value, key = label) => [
  h("dt", {}, label),
  h("dd", { "data-fact": key }, value),
];

/** @param {string[]} uids @param {string} id */
function links(uids, id) {
  return uids.length
    ? h("span", { id, class: "links" }, ...uids.flatMap((u, i) => [i ? ", " : "", taskLink(u)]))
    : h("span", { id, class: "muted" }, "none");
}

async function loadTask() {
  const uid = shown;
  if (uid === null) return;
  const seq = ++loads;
  const [info, result, me] = await Promise.all([
    call("task_info", { task_uid: uid }),
    call("task_result", { task_uid: uid }),
    whoami().catch(() => undefined),
  ]);
  if (seq !== loads || shown !== uid) return;
  render(info.task_info ?? {}, result.result ?? {}, me);
}
const reload = throttle(loadTask, 200);

/**
 * @param {Record<string, any>} t  task_info
 * @param {Record<string, any>} r  task_result's result
 * @param {import("../lib/api.js").Whoami | undefined} me
 */
function render(t, r, me) {
  const box = $("task-detail");
  box.dataset.task = t.task_uid;
  box.dataset.state = t.state;
  $("task-detail-title").textContent = `${t.name ?? "task"} ${t.task_uid}`;
  const where = t.worker ? (workerNamed(t.worker) ?? whereSeen.get(t.task_uid)) : undefined;
  const worker = t.worker
    ? [
        link(`#/tasks?worker=${encodeURIComponent(t.worker)}`, t.worker),
        where ? ` on ${where.hostname ?? "?"}${where.pid ? `, pid ${where.pid}` : ""}` : "",
      ]
    : "—";
  const ended = "success" in r;
  const facts = [
    ...fact("State", badge(t.state)),
    ...fact("Created", dateTimeText(t.created_at)),
    ...fact("Started", dateTimeText(t.started_at)),
    ...fact("Ended", dateTimeText(t.ended_at)),
    ...fact("Attempts", String(t.attempts ?? 0)),
    ...fact("Progress", bar(t.progress, "task-bar")),
    ...fact("Message", t.message ?? "—"),
    ...fact("User", t.user ?? "—"),
    ...fact("Worker", worker),
    ...fact(
      "Run",
      t.run_uid ? link(`#/tasks?run=${encodeURIComponent(t.run_uid)}`, t.run_uid) : "—",
    ),
    ...fact("Parent", t.parent ? taskLink(t.parent) : "—"),
    ...fact("Children", links(t.children ?? [], "task-children")),
    ...fact("Retry of", t.retry_of ? taskLink(t.retry_of) : "—"),
    ...fact("Retries", links(t.retries ?? [], "task-retries")),
  ];
  $("task-facts").replaceChildren(...facts);
  const call_ =
    t.args !== undefined ? { args: t.args, kwargs: t.kwargs, options: t.options } : null;
  $("task-call").textContent = call_ ? pretty(call_) : "(not kept: accepted before a restart)";
  $("task-outputs").textContent = pretty(t.outputs ?? {});
  const outcome = $("task-outcome");
  if (!ended) outcome.replaceChildren(h("p", { class: "muted" }, "It has not ended."));
  else if (r.success) {
    outcome.replaceChildren(
      h("h4", {}, "Return value"),
      h("pre", { id: "task-return", class: "mono block" }, pretty(r.return_value)),
    );
  } else {
    outcome.replaceChildren(
      h("h4", {}, "Error"),
      h("p", { id: "task-error", class: "error" }, r.msg ?? ""),
      h("pre", { id: "task-traceback", class: "mono block" }, r.traceback ?? ""),
    );
  }
  const final =
    FINAL.has(t.state) || (!["pending", "running", "retrying"].includes(t.state) && ended);
  const buttons = $("task-buttons");
  buttons.replaceChildren(
    ...(allows(me, "task_cancel") && !final
      ? [h("button", { type: "button", id: "task-cancel", class: "danger" }, "Cancel")]
      : []),
    ...(allows(me, "task_retry") && final && t.state !== "not_found"
      ? [h("button", { type: "button", id: "task-retry", class: "primary" }, "Retry")]
      : []),
  );
  const cancel = document.getElementById("task-cancel");
  if (cancel) onClick(cancel, () => call("task_cancel", { task_uid: t.task_uid }), reload);
  const retry = document.getElementById("task-retry");
  if (retry) {
    onClick(
      retry,
      async () => {
        const r2 = await call("task_retry", { task_uid: t.task_uid });
        showNotice(`Retried as ${r2.task_uid}`);
      },
      reload,
    );
  }
}

/**
 * Show one task (or none: `null`).
 * @param {string | null} uid
 */
export function showTask(uid) {
  shown = uid;
  const box = $("task-detail");
  box.hidden = uid === null;
  if (uid === null) return;
  box.dataset.task = uid;
  box.dataset.state = "";
  $("task-facts").replaceChildren();
  $("task-outcome").replaceChildren(h("p", { class: "muted" }, "Loading…"));
  load(loadTask);
  box.scrollIntoView({ block: "start" });
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  $("task-close").addEventListener("click", () => {
    location.hash = "#/tasks";
  });
  return {
    onConnect() {
      if (shown) load(loadTask);
    },
    onTask(ev) {
      if (typeof ev?.task_uid !== "string") return;
      if (ev.hostname) whereSeen.set(ev.task_uid, { hostname: ev.hostname, pid: ev.pid });
      if (whereSeen.size > 1000)
        whereSeen.delete(/** @type {string} */ (whereSeen.keys().next().value));
      // Its own events, and a new task (it may be a retry of this one).
      if (ev.task_uid === shown || ev.event === TASK_EVENTS.sent) reload();
    },
  };
}
