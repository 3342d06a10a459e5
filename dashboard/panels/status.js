// @ts-check
// The manager: its state and role, its facts, and the environment and run
// engine buttons (disabled where the state makes no sense of them).
import { call, onClick } from "../lib/api.js";
import { $, badge, h, input } from "../lib/dom.js";

/** @typedef {import("../lib/panel.js").Status} Status */

/** @type {Status | null} */
let status = null;

/** @param {Status} s */
function render(s) {
  const ms = $("manager-state");
  ms.textContent = s.manager_state;
  ms.dataset.state = s.manager_state;
  $("manager-msg").textContent = s.msg ?? "";
  const mode = s.plan_queue_mode ?? {};
  const lock = s.lock ?? {};
  /** @type {[string, string | Node][]} */
  const facts = [];
  // The role of a manager that has one (a standby pair): active or standby.
  if (s.manager_role !== undefined || s.role !== undefined) {
    const role = String(s.manager_role ?? s.role);
    facts.push(["Role", badge(role)]);
  }
  if (s.lease_holder) facts.push(["Lease holder", String(s.lease_holder)]);
  facts.push(
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
  );
  if (s.queue_stop_pending) facts.push(["Stop", "pending (after this plan)"]);
  if (s.pause_pending) facts.push(["Pause", "pending"]);
  $("status-facts").replaceChildren(
    ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k }, v)]),
  );
  renderControls();
}

/** Buttons that make no sense in the current state are disabled. */
export function renderControls() {
  const s = status;
  if (!s) return;
  const env = s.worker_environment_exists;
  const st = s.manager_state;
  /** @type {(id: string, on: boolean) => void} */
  const set = (id, on) => {
    input(id).disabled = !on;
  };
  set("env-open", !env && st === "idle");
  set("env-close", env && st === "idle");
  set("env-destroy", env);
  set("re-pause", st === "executing_queue");
  set("re-pause-now", st === "executing_queue");
  set("re-resume", st === "paused");
  set("re-stop", st === "paused");
  set("re-abort", st === "paused");
  set("re-halt", st === "paused");
}

/** @returns {import("../lib/panel.js").Panel} */
export function init() {
  /** @type {[string, () => unknown][]} */
  const buttons = [
    ["env-open", () => call("environment_open")],
    ["env-close", () => call("environment_close")],
    [
      "env-destroy",
      () =>
        confirm("Destroy the environment (kills the worker)?")
          ? call("environment_destroy")
          : undefined,
    ],
    ["re-pause", () => call("re_pause", { option: "deferred" })],
    ["re-pause-now", () => call("re_pause", { option: "immediate" })],
    ["re-resume", () => call("re_resume")],
    ["re-stop", () => call("re_stop")],
    ["re-abort", () => call("re_abort")],
    ["re-halt", () => call("re_halt")],
  ];
  for (const [id, fn] of buttons) onClick($(id), fn, renderControls);
  return {
    onStatus(s) {
      status = s;
      render(s);
    },
  };
}
