/** plans/devices lists and user group permissions. */
import { pyRepr } from "../../protocol/index.js";
import type { Handlers } from "../rpc/dispatch.js";
import { RequestError } from "../errors.js";
import type { PermissionHandlersContext } from "./context.js";
import { PermissionsError } from "./permissions.js";

export function permissionHandlers(m: PermissionHandlersContext): Handlers {
  const group = (g: string | undefined): string => {
    if (g === undefined)
      throw new RequestError("Incorrect request format: user group is not specified");
    if (!m.access.hasGroup(g)) throw new RequestError(`Unknown user group: ${pyRepr(g)}`);
    return g;
  };
  // The lists may still be being read from the startup code at start: wait for them.
  return {
    plans_allowed: async ({ user_group }) => {
      const g = group(user_group);
      await m.access.requireLists();
      return {
        success: true,
        msg: "",
        plans_allowed: m.access.allowedLists(g).plans,
        plans_allowed_uid: m.state.marker("plans_allowed_uid"),
      };
    },
    devices_allowed: async ({ user_group }) => {
      const g = group(user_group);
      await m.access.requireLists();
      return {
        success: true,
        msg: "",
        devices_allowed: m.access.allowedLists(g).devices,
        devices_allowed_uid: m.state.marker("devices_allowed_uid"),
      };
    },
    plans_existing: async () => {
      await m.access.requireLists();
      return {
        success: true,
        msg: "",
        plans_existing: m.content().plans_existing,
        plans_existing_uid: m.state.marker("plans_existing_uid"),
      };
    },
    devices_existing: async () => {
      await m.access.requireLists();
      return {
        success: true,
        msg: "",
        devices_existing: m.content().devices_existing,
        devices_existing_uid: m.state.marker("devices_existing_uid"),
      };
    },
    permissions_get: () => ({
      success: true,
      msg: "",
      user_group_permissions: m.access.permissions.doc as unknown as Record<string, unknown>,
    }),
    permissions_set: ({ user_group_permissions }) => {
      try {
        m.access.setPermissions(user_group_permissions);
      } catch (err) {
        if (err instanceof PermissionsError) throw new RequestError(err.message);
        throw err;
      }
      return { success: true, msg: "" };
    },
    permissions_reload: ({ restore_permissions }) => {
      try {
        if (restore_permissions) m.access.reloadPermissions();
      } catch (err) {
        if (err instanceof PermissionsError) throw new RequestError(err.message);
        throw err;
      }
      return { success: true, msg: "" };
    },
  };
}
