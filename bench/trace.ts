/**
 * bench:trace (also `npm run bench -- --profile`): where the time of one
 * no-op task goes, function_execute → completed, one task at a time.
 *
 * It reads the times the manager and the worker already record and publish,
 * and sets them beside the client's own clock (all on one host, on the clock
 * of `Date.now()`):
 *   - `task_info`: created_at (the manager accepted the task), started_at (the
 *     worker began the call), ended_at (the manager recorded the completion);
 *   - `task_result`: time_start (the manager handed the task to the worker),
 *     time_stop (the worker's call returned);
 *   - QS_Task events on the info socket: the manager's time of publishing
 *     `task-started` (when it heard the worker began) and when the client
 *     received `task-succeeded`.
 * These are whole milliseconds (`Date.now()`): each counts half a millisecond
 * more on average, and the means over a few hundred tasks are exact to a few
 * hundredths of a millisecond. Finer stages (decode and validation, the store
 * write, the IPC message's own costs) need times taken inside the processes:
 * when `task_info` carries a `trace` map (name → epoch milliseconds), its
 * marks are shown too.
 */
import { Subscriber } from "zeromq";
import { decode, TOPIC_TASK } from "../src/protocol/index.js";
import {
  epochMs,
  fmt,
  median,
  noopExecute,
  sleep,
  spread,
  startNoopManager,
  type Spread,
  writeBenchJson,
} from "./lib.js";

type Clock = "client" | "manager" | "worker";

export interface TraceMark {
  name: string;
  clock: Clock;
  /** Milliseconds after the client sent function_execute: mean and median over the tasks. */
  meanMs: number;
  medianMs: number;
}

export interface TraceStage {
  name: string;
  from: string;
  to: string;
  meanMs: number;
}

export interface TraceResult {
  n: number;
  /** Sent → the client's poll saw `completed`. */
  total: Spread;
  marks: TraceMark[];
  stages: TraceStage[];
}

/** The marks every run has, in the order of the task's path. */
const MARKS: Record<string, { clock: Clock; label: string }> = {
  sent: { clock: "client", label: "client sends function_execute" },
  accepted: { clock: "manager", label: "manager accepts the task (task_info.created_at)" },
  dispatched: {
    clock: "manager",
    label: "manager hands it to the worker (task_result.time_start)",
  },
  replied: { clock: "client", label: "client has the function_execute reply" },
  call_begins: { clock: "worker", label: "worker begins the call (task_info.started_at)" },
  begin_heard: { clock: "manager", label: "manager hears it began (QS_Task task-started time)" },
  call_returns: { clock: "worker", label: "worker's call returns (task_result.time_stop)" },
  completed: { clock: "manager", label: "manager records completion (task_info.ended_at)" },
  seen: { clock: "client", label: "client's task_result poll says completed" },
  event_seen: { clock: "client", label: "client receives QS_Task task-succeeded" },
};

/** Stages along the path: consecutive marks. */
const STAGES: [string, string, string][] = [
  ["request in: send, transport, decode, validate, handler", "sent", "accepted"],
  ["scheduling: accepted → handed to the worker", "accepted", "dispatched"],
  ["IPC to the worker, until the call begins", "dispatched", "call_begins"],
  ["the call (a no-op)", "call_begins", "call_returns"],
  ["IPC back and the change of state", "call_returns", "completed"],
  ["until the client's poll sees it", "completed", "seen"],
  ["(side) reply of function_execute after acceptance", "accepted", "replied"],
  ["(side) worker → manager, one way (task_started)", "call_begins", "begin_heard"],
  ["(side) QS_Task event to the client", "completed", "event_seen"],
];

/**
 * Finer stages, from the marks the manager and the worker take with
 * ZQS_TRACE_TASKS=1 (sub-millisecond, one clock on one host).
 */
const TRACE_STAGES: [string, string, string][] = [
  ["request: client → the manager's dispatcher", "sent", "trace.request_in"],
  ["decode, validate, handler, until accepted", "trace.request_in", "trace.accepted"],
  ["accepted → dealt to the worker", "trace.accepted", "trace.dispatched"],
  ["IPC: dealt → the worker has it", "trace.dispatched", "trace.worker_received"],
  ["worker: received → the call begins", "trace.worker_received", "trace.worker_begins"],
  ["the call (a no-op)", "trace.worker_begins", "trace.worker_returns"],
  ["IPC: the call returned → the manager has the end", "trace.worker_returns", "trace.end_heard"],
  ["the result's commit, until visible", "trace.end_heard", "trace.visible"],
  ["until the client's poll sees it", "trace.visible", "seen"],
  ["(side) accepted → reply sent (accepted mark durable)", "trace.accepted", "trace.replied"],
  ["(side) reply sent → the client has it", "trace.replied", "replied"],
];

/** Half of the last millisecond a `Date.now()` time leaves out, on average. */
const FLOOR = 0.5;

function ms(iso: unknown): number {
  if (typeof iso !== "string") throw new Error(`expected an ISO time, got ${String(iso)}`);
  return Date.parse(iso) + FLOOR;
}

function sec(t: unknown): number {
  if (typeof t !== "number") throw new Error(`expected a time in seconds, got ${String(t)}`);
  return Math.round(t * 1000) + FLOOR;
}

export async function benchTrace(n = 300, args: string[] = []): Promise<TraceResult> {
  // The manager and its worker take their own marks too (task_info.trace).
  const z = await startNoopManager({
    info: true,
    timeoutMs: 5000,
    args,
    env: { ZQS_TRACE_TASKS: "1" },
  });
  const sub = new Subscriber({ linger: 0 });
  /** uid → event → [manager's publish time, client's receipt time]. */
  const events = new Map<string, Map<string, [number, number]>>();
  sub.connect(z.m.infoAddr);
  sub.subscribe(TOPIC_TASK);
  const reading = (async () => {
    for await (const [, payload] of sub) {
      const at = epochMs();
      const p = decode(payload as Buffer, "json") as {
        time: number;
        msg: { event: string; task_uid: string };
      };
      let e = events.get(p.msg.task_uid);
      if (!e) events.set(p.msg.task_uid, (e = new Map<string, [number, number]>()));
      e.set(p.msg.event, [Math.round(p.time * 1000) + FLOOR, at]);
    }
  })().catch(() => undefined);
  try {
    const params = noopExecute(false);
    // A subscription takes a moment to reach the publisher: the warm-up tasks cover it.
    const warmup = 30;
    const samples: Record<string, number>[] = [];
    for (let i = 0; i < n + warmup; i++) {
      const sent = epochMs();
      const r = await z.c.request("function_execute", params);
      const replied = epochMs();
      const uid = r.task_uid as string;
      let res: Record<string, unknown>;
      for (;;) {
        res = await z.c.request("task_result", { task_uid: uid });
        if (res.status === "completed") break;
      }
      const seen = epochMs();
      if (i < warmup) continue;
      const info = (await z.c.request("task_info", { task_uid: uid })).task_info as Record<
        string,
        unknown
      >;
      const result = res.result as Record<string, unknown>;
      // The events may come after the poll's reply (another socket): wait for them (2 s at most).
      let ev = events.get(uid);
      for (let k = 0; k < 1000 && !ev?.get("task-succeeded"); k++) {
        await sleep(2);
        ev = events.get(uid);
      }
      const started = ev?.get("task-started");
      const succeeded = ev?.get("task-succeeded");
      if (!started || !succeeded) throw new Error(`no QS_Task events of task ${uid}`);
      const s: Record<string, number> = {
        sent,
        accepted: ms(info.created_at),
        dispatched: sec(result.time_start),
        replied,
        call_begins: ms(info.started_at),
        begin_heard: started[0],
        call_returns: sec(result.time_stop),
        completed: ms(info.ended_at),
        seen,
        event_seen: succeeded[1],
      };
      // Times taken inside the manager and the worker, when they expose them.
      const trace = info.trace;
      if (trace && typeof trace === "object") {
        for (const [k, v] of Object.entries(trace)) if (typeof v === "number") s[`trace.${k}`] = v;
      }
      samples.push(s);
      events.delete(uid);
    }
    const names = Object.keys(samples[0] ?? {});
    const marks: TraceMark[] = names.map((name) => {
      const d = samples.map((s) => (s[name] ?? NaN) - (s.sent ?? NaN));
      const known = MARKS[name];
      const clock: Clock = known?.clock ?? (name.startsWith("trace.worker") ? "worker" : "manager");
      return {
        name: known?.label ?? name,
        clock,
        meanMs: d.reduce((a, b) => a + b, 0) / d.length,
        medianMs: median(d),
      };
    });
    const meanOf = (key: string) => {
      const d = samples.map((s) => (s[key] ?? NaN) - (s.sent ?? NaN));
      return d.reduce((a, b) => a + b, 0) / d.length;
    };
    const traced = names.includes("trace.visible");
    const stages = (traced ? TRACE_STAGES : STAGES).map(([name, from, to]) => ({
      name,
      from,
      to,
      meanMs: meanOf(to) - meanOf(from),
    }));
    const total = spread(samples.map((s) => (s.seen ?? NaN) - (s.sent ?? NaN)));
    return { n, total, marks: marks.sort((a, b) => a.meanMs - b.meanMs), stages };
  } finally {
    sub.close();
    await reading;
    await z.stop();
  }
}

export function printTrace(t: TraceResult): void {
  console.log(
    `\nWhere the time of a no-op task goes (${t.n} tasks one at a time, info socket on; sent → completed seen: median ${fmt(t.total.median)} ms, mean ${fmt(t.total.mean)} ms)`,
  );
  const w = Math.max(...t.marks.map((m) => m.name.length));
  console.log(`  ${"mark".padEnd(w)}  clock    mean ms  median ms  since previous`);
  let prev = 0;
  for (const m of t.marks) {
    console.log(
      `  ${m.name.padEnd(w)}  ${m.clock.padEnd(7)}  ${fmt(m.meanMs).padStart(7)}  ${fmt(m.medianMs).padStart(9)}  ${fmt(m.meanMs - prev).padStart(14)}`,
    );
    prev = m.meanMs;
  }
  const ws = Math.max(...t.stages.map((s) => s.name.length));
  console.log(`  ${"stage".padEnd(ws)}  mean ms`);
  for (const s of t.stages) console.log(`  ${s.name.padEnd(ws)}  ${fmt(s.meanMs).padStart(7)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Manager options after `--` (e.g. `npm run bench:trace -- --store-sync os`).
  const t = await benchTrace(Number(process.env.BENCH_N ?? 300), process.argv.slice(2));
  printTrace(t);
  writeBenchJson({ trace: t });
}
