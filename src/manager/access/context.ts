/** What the access area (permissions, allowed lists, lock) uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { EnvironmentContent } from "../../protocol/ipc.js";
import type { StatusState } from "../state.js";
import type { StoreOp } from "../store/types.js";
import type { AccessControl } from "./access.js";
import type { LockManager } from "./locks.js";

/** What AccessControl needs. */
export interface AccessContext {
  /** The permissions file, if any (else the defaults). */
  permissionsFile: string | undefined;
  /** The lists of plans and devices the worker found. */
  content(): EnvironmentContent;
  /** Resolves true once the lists are known, false when `ms` passed first (see StartupLists). */
  listsKnown(ms: number): Promise<boolean>;
  /** How long a request waits for the lists (--startup-lists-wait), in seconds. */
  listsWaitSeconds: number;
  state: Pick<StatusState, "bump">;
  /** Write changes no reply waits for (the store writer's background mode). */
  writeInBackground(ops: StoreOp[]): void;
  log: Pick<Logger, "error">;
}

/** What the permission and list handlers use. */
export interface PermissionHandlersContext {
  access: Pick<
    AccessControl,
    | "permissions"
    | "hasGroup"
    | "allowedLists"
    | "requireLists"
    | "setPermissions"
    | "reloadPermissions"
  >;
  content(): EnvironmentContent;
  state: Pick<StatusState, "marker">;
}

/** What the lock handlers use. */
export interface LockHandlersContext {
  locks: Pick<LockManager, "lock" | "unlock" | "lockInfo" | "info" | "uid" | "locked">;
  log: Pick<Logger, "info">;
}
