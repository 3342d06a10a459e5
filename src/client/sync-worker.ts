/**
 * The I/O thread of REManagerAPISync: runs an async REManagerAPI and answers
 * the blocking caller's requests (see sync.ts for the handshake).
 */
import { workerData } from "node:worker_threads";
import { REManagerAPI } from "./api.js";
import { ClientClosedError, RequestError, serializeError } from "./errors.js";
import type { InfoMonitor } from "./info.js";
import type { SwitchNotice, SyncRequest, SyncResponse, WorkerData } from "./sync.js";
import { FATAL_ID, SWITCH_ID, SYNC_CALLABLE } from "./sync.js";

const { port, signal } = workerData as WorkerData;
let api: REManagerAPI | undefined;
const monitors = new Map<number, InfoMonitor<unknown>>();
let nextMonitor = 1;

function answer(res: SyncResponse): void {
  port.postMessage(res);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function client(): REManagerAPI {
  if (!api) throw new ClientClosedError("The client is not open");
  return api;
}

function monitor(id: number): InfoMonitor<unknown> {
  const m = monitors.get(id);
  if (!m) throw new RequestError(`No monitor ${id} (closed?)`);
  return m;
}

async function handle(req: SyncRequest): Promise<unknown> {
  switch (req.op) {
    case "init":
      api = new REManagerAPI({
        ...req.options,
        onManagerSwitch: (event) => {
          const notice: SwitchNotice = { id: SWITCH_ID, event };
          port.postMessage(notice);
        },
      });
      return null;
    case "call": {
      const c = client();
      if (!SYNC_CALLABLE.has(req.name)) throw new TypeError(`Unknown client method '${req.name}'`);
      const fn = (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.name];
      if (typeof fn !== "function") throw new TypeError(`Unknown client method '${req.name}'`);
      return await fn.apply(c, req.args);
    }
    case "set":
      if (req.key === "lockKey") client().lockKey = req.value;
      else client()[req.key] = req.value ?? "";
      return null;
    case "lateReplies":
      return client().lateReplies;
    case "monitorOpen": {
      const c = client();
      const m =
        req.kind === "console"
          ? c.consoleMonitor()
          : req.kind === "info"
            ? c.systemInfoMonitor()
            : c.taskEvents(req.filter ? { filter: req.filter } : {});
      const id = nextMonitor++;
      monitors.set(id, m as InfoMonitor<unknown>);
      return id;
    }
    case "monitorNext":
      return (await monitor(req.monitor).nextMessage(req.timeout ?? undefined)) ?? null;
    case "monitorDrain":
      return monitor(req.monitor).drain();
    case "monitorReady": {
      const m = monitor(req.monitor);
      let timer: NodeJS.Timeout | undefined;
      const ok = await Promise.race([
        m.ready.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), req.timeout * 1000))),
      ]);
      clearTimeout(timer);
      return ok;
    }
    case "monitorClose":
      monitors.get(req.monitor)?.close();
      monitors.delete(req.monitor);
      return null;
    case "close":
      for (const m of monitors.values()) m.close();
      monitors.clear();
      await api?.close();
      api = undefined;
      return null;
  }
}

port.on("message", (req: SyncRequest) => {
  handle(req).then(
    (value) => answer({ id: req.id, ok: true, value }),
    (err: unknown) => answer({ id: req.id, ok: false, error: serializeError(err) }),
  );
});

process.on("uncaughtException", (err) => {
  answer({ id: FATAL_ID, ok: false, error: serializeError(err) });
});
