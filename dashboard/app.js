// @ts-check
// The zqs dashboard: one page over the HTTP gateway, one module per panel
// (panels/). It reads the manager's state with the API routes (the session
// cookie authenticates them; their paths come from the generated table) and
// stays live with /api/events (Server-Sent Events): `status` says what
// changed (its *_uid keys), `task` carries each QS_Task event, `console` the
// output. The address says what is shown: `#/task/UID` a task's detail,
// `#/tasks?state=failed&...` the tasks filtered.
import { OWN_ROUTES, STREAM_EVENTS } from "./generated/routes.js";
import { forgetWhoami, load, own, whoami } from "./lib/api.js";
import { $ } from "./lib/dom.js";
import * as chart from "./panels/chart.js";
import { appendConsole, loadConsole } from "./panels/console.js";
import * as history from "./panels/history.js";
import * as queue from "./panels/queue.js";
import * as runs from "./panels/runs.js";
import * as schedules from "./panels/schedules.js";
import * as status from "./panels/status.js";
import * as taskDetail from "./panels/task-detail.js";
import * as tasks from "./panels/tasks.js";
import * as workers from "./panels/workers.js";

/** @typedef {import("./lib/panel.js").Panel} Panel */

/** @type {Panel[]} */
const panels = [
  status.init(),
  queue.init(),
  history.init(),
  workers.init(),
  runs.init(),
  tasks.init(),
  taskDetail.init(),
  chart.init(),
  schedules.init(),
];

/** @type {import("./lib/panel.js").Status | null} */
let lastStatus = null;

/** @param {import("./lib/panel.js").Status} s */
function onStatus(s) {
  const prev = lastStatus;
  lastStatus = s;
  for (const p of panels) p.onStatus?.(s, prev);
}

/** @param {unknown} ev */
function onTask(ev) {
  if (!ev || typeof ev !== "object") return;
  for (const p of panels) p.onTask?.(/** @type {import("./lib/panel.js").TaskEvent} */ (ev));
}

/** The handlers of the stream's event kinds (every kind the gateway sends has one). */
/** @type {Record<(typeof STREAM_EVENTS)[number], (msg: any) => void>} */
const ON_EVENT = {
  status: (msg) => msg?.status && onStatus(msg.status),
  task: onTask,
  console: (msg) => appendConsole(String(msg ?? "")),
};

function connect() {
  const es = new EventSource(OWN_ROUTES.events.path);
  const live = $("live");
  es.addEventListener("open", () => {
    live.dataset.live = "yes";
    live.textContent = "live";
    lastStatus = null;
    for (const p of panels) p.onConnect?.();
  });
  es.addEventListener("error", () => {
    live.dataset.live = "no";
    live.textContent = "reconnecting";
    // EventSource reconnects by itself; a 401 closes it for good.
    if (es.readyState === EventSource.CLOSED) {
      live.textContent = "disconnected";
      load(async () => {
        forgetWhoami(); // the session may have changed
        await whoami();
        setTimeout(connect, 2000);
      });
    }
  });
  for (const kind of STREAM_EVENTS) {
    es.addEventListener(kind, (e) => ON_EVENT[kind](JSON.parse(e.data)?.msg));
  }
}

/** Show what the address names: a task's detail, the tasks filtered. */
function route() {
  const hash = decodeURIComponent(location.hash);
  const task = /^#\/task\/(.+)$/.exec(location.hash);
  if (task?.[1]) {
    taskDetail.showTask(decodeURIComponent(task[1]));
    return;
  }
  taskDetail.showTask(null);
  if (hash.startsWith("#/tasks")) {
    tasks.showTasks(tasks.parseFilter(location.hash.split("?")[1] ?? ""));
    $("tasks-panel").scrollIntoView({ block: "start" });
  }
}

async function start() {
  $("logout").addEventListener("click", async () => {
    await own("logout").catch(() => {});
    location.href = "/";
  });
  window.addEventListener("hashchange", route);
  try {
    const me = await whoami();
    $("whoami").textContent = [me.user, me.user_group].filter(Boolean).join(" · ");
  } catch {
    // shown by the api when the session is gone
  }
  route();
  load(loadConsole);
  connect();
}

void start();
