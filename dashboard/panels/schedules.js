// @ts-check
// Schedules: each with its timing, state, next fire and number of fires;
// pause, resume and fire now where the session may; a schedule's detail
// (schedule_get) lists its next fire times and its last fires with their
// tasks as links. Reloaded when tasks are made (a fire makes one).
import { TASK_EVENTS } from "../generated/routes.js";
import { allows, call, isUnknown, load, onClick, throttle, whoami } from "../lib/api.js";
import { $, badge, dateTimeText, emptyRow, h, link } from "../lib/dom.js";

/** @type {Record<string, any>[]} */
let schedules = [];
let listed = true;
/** The schedule whose detail is open. */
/** @type {string | null} */
let open = null;
/** @type {import("../lib/api.js").Whoami | undefined} */
let me;

/** @param {Record<string, any>} s */
function timing(s) {
  if (s.cron) return `cron ${s.cron}${s.tz ? ` (${s.tz})` : ""}`;
  if (s.every !== null && s.every !== undefined) return `every ${s.every} s`;
  return "—";
}

async function loadSchedules() {
  if (!listed) return;
  try {
    schedules = (await call("schedule_list")).schedules ?? [];
  } catch (err) {
    if (!isUnknown(err)) throw err;
    listed = false;
    $("schedules-note").textContent = "This manager has no schedules.";
    return;
  }
  me = await whoami().catch(() => undefined);
  render();
  if (open) await loadDetail(open);
}
const reload = throttle(loadSchedules, 500);

/**
 * @param {string} id
 * @param {string} text
 * @param {import("../lib/api.js").MethodName} method
 * @param {string} uid
 */
function actionButton(id, text, method, uid) {
  if (!allows(me, method)) return null;
  const b = h("button", { type: "button", class: `schedule-${id}` }, text);
  onClick(b, () => call(method, { schedule_uid: uid }), reload);
  return b;
}

function render() {
  $("schedules").replaceChildren(
    ...(schedules.length
      ? schedules.map((s) =>
          h(
            "tr",
            { "data-schedule": s.schedule_uid, "data-state": s.state },
            h(
              "td",
              { title: s.schedule_uid },
              h(
                "button",
                {
                  type: "button",
                  class: "link schedule-open",
                  onclick: () => {
                    open = open === s.schedule_uid ? null : s.schedule_uid;
                    if (open) load(() => loadDetail(s.schedule_uid));
                    else $("schedule-detail").replaceChildren();
                  },
                },
                s.name || String(s.schedule_uid).slice(0, 8),
              ),
            ),
            h("td", {}, timing(s)),
            h("td", {}, badge(String(s.state))),
            h("td", { class: "schedule-next" }, s.next_fire ? dateTimeText(s.next_fire) : "—"),
            h("td", { class: "num" }, String(s.fires ?? 0)),
            h("td", { class: "muted" }, s.last_fire ? dateTimeText(s.last_fire) : "—"),
            h(
              "td",
              { class: "buttons" },
              s.state === "paused"
                ? actionButton("resume", "Resume", "schedule_resume", s.schedule_uid)
                : s.state === "active"
                  ? actionButton("pause", "Pause", "schedule_pause", s.schedule_uid)
                  : null,
              actionButton("trigger", "Fire now", "schedule_trigger", s.schedule_uid),
            ),
          ),
        )
      : [emptyRow(7, "No schedules.")]),
  );
}

/** @param {string} uid */
async function loadDetail(uid) {
  const r = await call("schedule_get", { schedule_uid: uid });
  if (open !== uid) return;
  const s = r.schedule ?? {};
  /** @type {Record<string, any>[]} */
  const fires = s.last_fires ?? [];
  /** @type {number[]} */
  const next = s.next_fires ?? [];
  $("schedule-detail").replaceChildren(
    h("h3", {}, `${s.name || uid}: ${timing(s)}`),
    h(
      "p",
      { class: "muted" },
      `Next: ${next.length ? next.map((t) => dateTimeText(t)).join(", ") : "none"}`,
    ),
    h(
      "table",
      { class: "rows" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Fire"),
          h("th", {}, "At"),
          h("th", {}, "Task"),
          h("th", {}, "Outcome"),
        ),
      ),
      h(
        "tbody",
        { id: "schedule-fires" },
        ...(fires.length
          ? fires
              .slice()
              .reverse()
              .map((f) =>
                h(
                  "tr",
                  { "data-fire": f.seq },
                  h("td", {}, `#${f.seq} ${f.kind ?? ""}`),
                  h("td", {}, dateTimeText(f.time)),
                  h(
                    "td",
                    {},
                    f.task_uid ? link(`#/task/${encodeURIComponent(f.task_uid)}`, f.task_uid) : "—",
                  ),
                  h(
                    "td",
                    {},
                    badge(String(f.outcome ?? (f.success === false ? "refused" : "—"))),
                    f.msg ? ` ${f.msg}` : "",
                  ),
                ),
              )
          : [emptyRow(4, "No fires yet.")]),
      ),
    ),
  );
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  render();
  return {
    onConnect() {
      load(loadSchedules);
    },
    onTask(ev) {
      if (ev?.event === TASK_EVENTS.sent || ev?.event === TASK_EVENTS.succeeded) reload();
    },
  };
}
