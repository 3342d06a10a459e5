/** `zqs plans|devices allowed|existing`, `zqs permissions get|reload` (area: permissions). */
import type { Command } from "commander";
import { command, group } from "../command.js";

/** The names of a reply's map, one a line. */
const names = (map: Record<string, unknown>) => Object.keys(map).sort().join("\n");

export function registerPermissions(program: Command): void {
  const plans = group(program, "plans", "the plans of the environment");
  command(plans, { name: "allowed", method: "plans_allowed" }, async ({ call, show }) => {
    const r = await call({}, { reload: true });
    show(r, () => names(r.plans_allowed));
  });
  command(plans, { name: "existing", method: "plans_existing" }, async ({ call, show }) => {
    const r = await call({}, { reload: true });
    show(r, () => names(r.plans_existing));
  });

  const devices = group(program, "devices", "the devices of the environment");
  command(devices, { name: "allowed", method: "devices_allowed" }, async ({ call, show }) => {
    const r = await call({}, { reload: true });
    show(r, () => names(r.devices_allowed));
  });
  command(devices, { name: "existing", method: "devices_existing" }, async ({ call, show }) => {
    const r = await call({}, { reload: true });
    show(r, () => names(r.devices_existing));
  });

  const permissions = group(program, "permissions", "user group permissions");
  command(
    permissions,
    { name: "get", method: "permissions_get", description: "print the permissions in force" },
    async ({ call, show }) => {
      const r = await call();
      show(r, () => JSON.stringify(r.user_group_permissions, null, 2));
    },
  );
  // The CLI reloads the file only (the method can also restore the plan and device lists).
  command(permissions, {
    name: "reload",
    method: "permissions_reload",
    description: "reload the permissions file",
  });
}
