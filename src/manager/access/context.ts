/** What the access area (permissions, allowed lists, lock) uses: nothing else of the manager. */
import type { Logger } from "pino";
import type { EnvironmentContent } from "../../protocol/ipc.js";
import type { StatusState } from "../state.js";
import type { StoreOp } from "../store/types.js";
import type { LockInfo } from "../../protocol/index.js";
import type { LockReply, LockRequest } from "./locks.js";
import type { PermissionsDoc } from "./permissions.js";
import type { ListAccess } from "./types.js";

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
  access: ListAccess & {
    /** The permissions in force (their document). */
    readonly permissions: { readonly doc: PermissionsDoc };
    /** Check and apply a new document (PermissionsError when it is not one). */
    setPermissions(doc: unknown): void;
    /** Read the permissions file again. */
    reloadPermissions(): void;
  };
  content(): EnvironmentContent;
  state: Pick<StatusState, "marker">;
}

/** What the lock handlers use. */
export interface LockHandlersContext {
  locks: {
    lock(req: LockRequest): Promise<LockReply>;
    unlock(lockKey: string | undefined): Promise<LockReply>;
    /** lock_info (a wrong key is refused). */
    lockInfo(lockKey: string | undefined): LockReply;
    info(): LockInfo;
    /** lock_info_uid */
    readonly uid: string;
    readonly locked: boolean;
  };
  log: Pick<Logger, "info">;
}
