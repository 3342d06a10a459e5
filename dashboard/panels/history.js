// @ts-check
// The history of plans: each entry with its exit status, and a link to the
// tasks it submitted (its subtasks: tasks_list by parent).
import { call, load, onClick } from "../lib/api.js";
import { $, badge, brief, emptyRow, h, input, link, paramsText, timeText } from "../lib/dom.js";

/** @type {Record<string, any>[]} */
let history = [];
/** @type {unknown} */
let seen;

async function loadHistory() {
  const r = await call("history_get");
  history = r.items ?? [];
  render();
}

function render() {
  const rows = history
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
        h(
          "td",
          {},
          link(`#/tasks?parent=${encodeURIComponent(item.item_uid)}`, "tasks", {
            class: "history-tasks",
          }),
        ),
      );
    });
  $("history").replaceChildren(...(rows.length ? rows : [emptyRow(6, "No plan has run yet.")]));
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  onClick($("history-clear"), () => call("history_clear"));
  render();
  return {
    onConnect() {
      seen = undefined;
    },
    onStatus(s) {
      $("history-count").textContent = `(${s.items_in_history})`;
      input("history-clear").disabled = !(s.items_in_history > 0);
      if (seen !== s.plan_history_uid) {
        seen = s.plan_history_uid;
        load(loadHistory);
      }
    },
  };
}
