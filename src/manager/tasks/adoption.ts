/**
 * The tasks found running at start that ran on a worker on another host (a
 * start mark names it): each waits up to --adopt-wait for that worker to take
 * it back (`claim`, from the worker's hello). This file keeps who waits and
 * checks the claims; the lifecycle (lifecycle.ts) decides what follows — a
 * task taken back is its worker's again, one not taken back in time is
 * retried or cut off (AdoptionHost).
 */
import type { Logger } from "pino";
import { clear } from "./lifecycle-context.js";
import type { HeldTask } from "./task-restore.js";
import type { StartMark } from "./task-store.js";
import type { RemoteIdentity } from "../workers/types.js";

/** What the adoption asks of the lifecycle. */
export interface AdoptionHost {
  /** A task found running at start is the lifecycle's again (its life, its job for the dealer). */
  keep(h: HeldTask): void;
  /** Not taken back (no start mark, or not in time): retried if it may be, else cut off. */
  unadopted(uid: string): void;
  /** Taken back by `worker`: it runs there from now on. */
  adopted(uid: string, worker: string): void;
  log: Pick<Logger, "warn" | "info">;
}

export class Adoption {
  /** Tasks found running at start that wait for their worker on another host: their start marks. */
  private readonly unclaimed = new Map<string, StartMark>();
  /** Ends the wait of the tasks found running at start (--adopt-wait). */
  private adoptTimer: NodeJS.Timeout | undefined;

  constructor(private readonly host: AdoptionHost) {}

  /**
   * At start: the function tasks that ran when the manager stopped, `running`
   * on no worker. One dealt to a worker on another host (a start mark) waits
   * up to `waitMs` for that worker to take it back (`claim`); the others (the
   * old manager's own workers, a mark lost in the crash) and those not taken
   * back in time are retried where their options allow, else end cut off.
   */
  resumeRunning(list: readonly HeldTask[], waitMs: number): void {
    const now: string[] = [];
    for (const h of list) {
      this.host.keep(h);
      if (h.start) this.unclaimed.set(h.uid, h.start);
      else now.push(h.uid);
    }
    for (const uid of now) this.host.unadopted(uid);
    if (this.unclaimed.size === 0) return;
    this.host.log.info(
      `${this.unclaimed.size} task(s) ran on workers on other hosts when the manager stopped: ` +
        `they wait up to ${waitMs / 1000} s (--adopt-wait) for their workers to take them back`,
    );
    this.adoptTimer = setTimeout(() => {
      this.adoptTimer = undefined;
      for (const uid of [...this.unclaimed.keys()]) this.host.unadopted(uid);
    }, waitMs);
  }

  /**
   * A worker on another host says (in its hello) that it runs `uids`. Those
   * found running at start whose start mark names this worker (its name,
   * instance and, with CURVE, key) are its own again (AdoptionHost.adopted).
   * Any other claim (a worker that borrows another's name, or guesses uids)
   * is ignored and logged (unless `quiet`). The tasks taken back, with their
   * attempts.
   */
  claim(
    worker: RemoteIdentity,
    uids: readonly string[],
    quiet = false,
  ): { uid: string; attempt: number }[] {
    const taken: { uid: string; attempt: number }[] = [];
    const ignored: string[] = [];
    for (const uid of uids) {
      const start = this.unclaimed.get(uid);
      if (
        start?.worker !== worker.name ||
        start.instance !== worker.instance ||
        start.key !== worker.key
      ) {
        ignored.push(uid);
        continue;
      }
      this.unclaimed.delete(uid);
      this.host.adopted(uid, worker.name);
      taken.push({ uid, attempt: start.attempt });
    }
    if (taken.length > 0) {
      this.host.log.info(`Worker '${worker.name}' took back ${taken.length} running task(s)`);
    }
    if (ignored.length > 0 && !quiet) {
      const some = ignored.slice(0, 5).map((u) => `'${u}'`);
      this.host.log.warn(
        `Ignored worker '${worker.name}''s claim of ${ignored.length} running task(s) ` +
          `(${some.join(", ")}${ignored.length > 5 ? ", ..." : ""}): not dealt to it, or not waiting to be taken back`,
      );
    }
    if (this.unclaimed.size === 0) this.adoptTimer = clear(this.adoptTimer);
    return taken;
  }

  /** The task no longer waits to be taken back (cancelled, retried, cut off): true if it did. */
  drop(uid: string): boolean {
    return this.unclaimed.delete(uid);
  }

  close(): void {
    this.adoptTimer = clear(this.adoptTimer);
  }
}
