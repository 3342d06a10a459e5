/** lock, unlock, lock_info (the lock check of other methods is the dispatcher's checkLock). */
import type { Handlers } from "../rpc/dispatch.js";
import { RequestError } from "../errors.js";
import { LockError } from "./locks.js";
import type { LockReply } from "./locks.js";
import type { LockHandlersContext } from "./context.js";

export function lockHandlers(m: LockHandlersContext): Handlers {
  const locks = m.locks;

  /** A refusal: `Error: ` + message; lock_info/lock_info_uid filled where Python fills them. */
  const refuse = (err: unknown): never => {
    if (err instanceof LockError) {
      throw new RequestError(
        err.message,
        err.withInfo ? { lock_info: locks.info(), lock_info_uid: locks.uid } : undefined,
      );
    }
    throw err;
  };
  const ok = (r: LockReply) => ({ success: true, msg: "", ...r });

  return {
    lock: async (p) => {
      try {
        const r = await locks.lock(p);
        m.log.info(
          `RE Manager was locked by the user '${r.lock_info.user ?? ""}': ` +
            `environment=${String(r.lock_info.environment)} queue=${String(r.lock_info.queue)}`,
        );
        return ok(r);
      } catch (err) {
        return refuse(err);
      }
    },
    unlock: async ({ lock_key }) => {
      try {
        const wasLocked = locks.locked;
        const r = await locks.unlock(lock_key);
        if (wasLocked && !locks.locked) m.log.info("RE Manager is unlocked");
        return ok(r);
      } catch (err) {
        return refuse(err);
      }
    },
    lock_info: ({ lock_key }) => {
      try {
        return ok(locks.lockInfo(lock_key));
      } catch (err) {
        return refuse(err);
      }
    },
  };
}
