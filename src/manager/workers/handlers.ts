/**
 * `workers_list` (zqs): every worker, local processes of this host and
 * workers on other hosts, with what each is doing and has done.
 */
import type { Handlers } from "../rpc/dispatch.js";
import type { WorkerHandlersContext } from "./context.js";
import type { WorkerRow } from "./remote-worker.js";
import { LOCAL_HOSTNAME } from "./types.js";

/** Done and failed counts of the local worker processes, by id. */
class LocalCounts {
  private readonly counts = new Map<string, { done: number; failed: number }>();
  constructor(tasks: WorkerHandlersContext["tasks"]) {
    tasks.events.on("final", (r) => {
      if (r.worker === null || r.attempts === 0) return;
      let c = this.counts.get(r.worker);
      if (!c) this.counts.set(r.worker, (c = { done: 0, failed: 0 }));
      if (r.state === "completed") c.done++;
      else c.failed++;
    });
  }
  get(id: string): { done: number; failed: number } {
    return this.counts.get(id) ?? { done: 0, failed: 0 };
  }
  /** Forget the processes that are gone. */
  keep(ids: ReadonlySet<string>): void {
    for (const id of this.counts.keys()) if (!ids.has(id)) this.counts.delete(id);
  }
}

export function workerHandlers(m: WorkerHandlersContext): Handlers {
  const counts = new LocalCounts(m.tasks);
  return {
    workers_list: () => {
      const busy = new Map<string, number>();
      for (const r of m.tasks.activeRecords()) {
        if (r.state === "running" && r.worker !== null)
          busy.set(r.worker, (busy.get(r.worker) ?? 0) + 1);
      }
      const local = m.env.localWorkers();
      counts.keep(new Set(local.map((w) => w.id)));
      const rows: WorkerRow[] = local.map((w) => ({
        name: w.id,
        kind: "local",
        hostname: LOCAL_HOSTNAME,
        pid: w.pid ?? null,
        // JSON has no Infinity: a worker taking every task shows -1.
        slots: m.localSlots === Infinity ? -1 : m.localSlots,
        busy: busy.get(w.id) ?? 0,
        tags: [],
        state: "online",
        connected_at: null,
        last_seen: null,
        tasks_done: counts.get(w.id).done,
        tasks_failed: counts.get(w.id).failed,
      }));
      return { success: true, msg: "", workers: [...rows, ...(m.remote?.rows() ?? [])] };
    },
  };
}
