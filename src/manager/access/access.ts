/**
 * Who may do what: the user group permissions (file, stored copy, permissions_set)
 * and, per group, the plans and devices it may use, cached until the lists or
 * the permissions change.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { RequestError } from "../errors.js";
import type { AccessContext } from "./context.js";
import type { AllowedLists, FunctionAccess, ListAccess } from "./types.js";
import {
  DEFAULT_PERMISSIONS,
  loadPermissionsFile,
  Permissions,
  validatePermissions,
} from "./permissions.js";

/** The permissions file: the option, else user_group_permissions.yaml of the startup dir. */
export function permissionsFile(o: {
  userGroupPermissions: string | undefined;
  startupDir: string | undefined;
}): string | undefined {
  if (o.userGroupPermissions) return o.userGroupPermissions;
  if (o.startupDir) {
    const f = path.join(o.startupDir, "user_group_permissions.yaml");
    if (existsSync(f)) return f;
  }
  return undefined;
}

export class AccessControl implements FunctionAccess, ListAccess {
  permissions: Permissions;
  private readonly cache = new Map<string, AllowedLists>();

  constructor(private readonly ctx: AccessContext) {
    this.permissions = new Permissions(this.load());
  }

  private load() {
    const file = this.ctx.permissionsFile;
    return file ? loadPermissionsFile(file) : structuredClone(DEFAULT_PERMISSIONS);
  }

  hasGroup(group: string): boolean {
    return this.permissions.hasGroup(group);
  }

  functionAllowed(group: string, name: string): boolean {
    return this.permissions.functionAllowed(group, name);
  }

  /** permissions_reload: the file (or the defaults) again. */
  reloadPermissions(): void {
    this.apply(this.load());
  }

  /** permissions_set; throws PermissionsError when the document is invalid. */
  setPermissions(doc: unknown): void {
    this.apply(validatePermissions(doc));
  }

  /** At start: the permissions the store kept (not written back); invalid ones are left out. */
  restore(doc: unknown): void {
    try {
      this.permissions = new Permissions(validatePermissions(doc));
      this.cache.clear();
    } catch (err) {
      this.ctx.log.error({ err }, "The stored permissions are invalid: the file is used instead");
    }
  }

  /** The lists of plans/devices changed: the allowed lists are made again when asked. */
  contentChanged(): void {
    this.cache.clear();
    this.ctx.state.bump("plans_allowed_uid", "devices_allowed_uid");
  }

  private apply(doc: ReturnType<typeof validatePermissions>): void {
    this.permissions = new Permissions(doc);
    this.ctx.writeInBackground([{ op: "set", key: "permissions", value: doc }]);
    this.cache.clear();
    this.ctx.state.bump("plans_allowed_uid", "devices_allowed_uid");
  }

  /**
   * Wait for the lists of plans and devices while they are being read from the
   * startup code at start; refused once --startup-lists-wait has passed.
   */
  async requireLists(): Promise<void> {
    const s = this.ctx.listsWaitSeconds;
    if (await this.ctx.listsKnown(s * 1000)) return;
    throw new RequestError(
      `The lists of plans and devices are still being read from the startup code (waited ${s} s, --startup-lists-wait): try again shortly`,
    );
  }

  /**
   * plans_allowed / devices_allowed of a group, and the device names plan
   * validation checks against, cached until lists or permissions change.
   */
  allowedLists(group: string): AllowedLists {
    let c = this.cache.get(group);
    if (!c) {
      const { plans_existing, devices_existing } = this.ctx.content();
      const p = this.permissions;
      c = {
        plans: p.allowedPlans(group, plans_existing),
        devices: p.allowedDevices(group, devices_existing),
        deviceNames: p.allowedDeviceNames(group, devices_existing),
        existingDeviceNames: p.allowedDeviceNames("root", devices_existing),
      };
      this.cache.set(group, c);
    }
    return c;
  }
}
