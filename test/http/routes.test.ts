/**
 * Every route of the gateway comes from the method table, and the Python
 * methods' routes are exactly those the Python client's HTTP flavour uses
 * (verb and path, as listed from bluesky_queueserver_api 0.0.13).
 */
import { expect, it } from "vitest";
import { METHOD_ROUTES, OWN_ROUTES, scopeOf } from "../../src/http/routes.js";
import { METHOD_NAMES, methods } from "../../src/protocol/index.js";

/** The Python client's routes (bluesky_queueserver_api.http, v0.0.13). */
const PYTHON = `
ping GET /api/ping · status GET /api/status · config_get GET /api/config/get ·
queue_start POST /api/queue/start · queue_stop POST /api/queue/stop ·
queue_stop_cancel POST /api/queue/stop/cancel · queue_get GET /api/queue/get ·
queue_clear POST /api/queue/clear · queue_autostart POST /api/queue/autostart ·
queue_mode_set POST /api/queue/mode/set · queue_item_add POST /api/queue/item/add ·
queue_item_add_batch POST /api/queue/item/add/batch · queue_item_get GET /api/queue/item/get ·
queue_item_update POST /api/queue/item/update · queue_item_remove POST /api/queue/item/remove ·
queue_item_remove_batch POST /api/queue/item/remove/batch · queue_item_move POST /api/queue/item/move ·
queue_item_move_batch POST /api/queue/item/move/batch · queue_item_execute POST /api/queue/item/execute ·
history_get GET /api/history/get · history_clear POST /api/history/clear ·
environment_open POST /api/environment/open · environment_close POST /api/environment/close ·
environment_destroy POST /api/environment/destroy · environment_update POST /api/environment/update ·
re_pause POST /api/re/pause · re_resume POST /api/re/resume · re_stop POST /api/re/stop ·
re_abort POST /api/re/abort · re_halt POST /api/re/halt · re_runs POST /api/re/runs ·
re_metadata GET /api/re/metadata · plans_allowed GET /api/plans/allowed ·
devices_allowed GET /api/devices/allowed · plans_existing GET /api/plans/existing ·
devices_existing GET /api/devices/existing · permissions_reload POST /api/permissions/reload ·
permissions_get GET /api/permissions/get · permissions_set POST /api/permissions/set ·
script_upload POST /api/script/upload · function_execute POST /api/function/execute ·
task_status GET /api/task/status · task_result GET /api/task/result · lock POST /api/lock ·
unlock POST /api/unlock · lock_info GET /api/lock/info · kernel_interrupt POST /api/kernel/interrupt ·
manager_stop POST /api/manager/stop · manager_kill POST /api/test/manager/kill`;

const python = PYTHON.split("·")
  .map((s) => s.trim().split(/\s+/))
  .map(([name, verb, path]) => ({ name: name as string, route: `${verb} ${path}` }));

it("gives each Python method the Python client's verb and path", () => {
  expect(python).toHaveLength(49);
  for (const { name, route } of python) {
    expect(METHOD_NAMES, name).toContain(name);
    expect(methods[name as keyof typeof methods].http, name).toBe(route);
  }
});

it("gives every method a route, each verb+path once, zqs extensions in the same style", () => {
  expect(METHOD_ROUTES.map((r) => r.method)).toEqual(METHOD_NAMES);
  const all = [
    ...METHOD_ROUTES.map((r) => `${r.verb} ${r.path}`),
    ...OWN_ROUTES.map((r) => `${r.verb} ${r.path}`),
  ];
  expect(new Set(all).size).toBe(all.length);
  for (const r of METHOD_ROUTES) {
    expect(r.path).toMatch(/^\/api\/[a-z_]+(\/[a-z_]+)*$/);
    const d = methods[r.method];
    if ("extension" in d && d.extension) {
      // task_info → /api/task/info, run_create → /api/run/create, runs_list → /api/runs/list
      expect(r.path).toBe(`/api/${r.method.replace(/_/g, "/")}`);
    }
  }
});

it("needs read for GET routes, admin for the manager and permission changes, write otherwise", () => {
  const scope = Object.fromEntries(METHOD_ROUTES.map((r) => [r.method, r.scope]));
  expect(scope.status).toBe("read");
  expect(scope.task_info).toBe("read");
  expect(scope.queue_item_add).toBe("write");
  expect(scope.run_create).toBe("write");
  expect(scope.permissions_set).toBe("admin");
  expect(scope.manager_stop).toBe("admin");
  expect(scopeOf("permissions_get", "GET")).toBe("read");
  for (const r of METHOD_ROUTES) if (r.verb === "GET") expect(r.scope).toBe("read");
});
