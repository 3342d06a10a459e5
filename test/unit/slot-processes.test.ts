/**
 * The slot processes of a `zqs worker` agent (slot-processes.ts) over fake
 * processes: how many tasks each is given (several of short calls, one of
 * long ones), in what order, and what becomes of the tasks a process holds
 * when it exits, when they are cancelled, and when the manager gives them up.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { ExecuteFunctionMsg, ManagerToWorker } from "../../src/protocol/ipc.js";
import type { AgentReport } from "../../src/protocol/worker-wire.js";
import type { SlotProcess } from "../../src/remote-worker/slot-processes.js";
import { heldFor, SlotProcesses } from "../../src/remote-worker/slot-processes.js";
import type { WorkerProcessEvents } from "../../src/worker-host/worker-process.js";

let pids = 0;

/** A worker process that says what the test tells it to. */
class FakeProcess extends EventEmitter<WorkerProcessEvents> implements SlotProcess {
  readonly pid = ++pids;
  alive = false;
  readonly sent: ManagerToWorker[] = [];
  killed: string | undefined;

  start(): void {
    this.alive = true;
  }
  send(msg: ManagerToWorker): boolean {
    this.sent.push(msg);
    return this.alive;
  }
  kill(_signal: NodeJS.Signals, reason: string): void {
    this.killed = reason;
  }
  /** The ids of the tasks it was sent, in order. */
  get executed(): string[] {
    return this.sent.flatMap((m) => (m.type === "execute" ? [m.id] : []));
  }
  get cancels(): string[] {
    return this.sent.flatMap((m) => (m.type === "cancel" ? [m.id] : []));
  }
  ready(): void {
    this.emit("message", {
      type: "ready",
      content: { plans_existing: {}, devices_existing: {}, functions: [] },
      metadata: {},
      function_hashes: {},
    });
  }
  started(id: string): void {
    this.emit("message", { type: "task_started", id, time: 1 });
  }
  done(id: string, callMs = 0.1, fields: { cancelled?: boolean } = {}): void {
    this.emit("message", {
      type: "task_done",
      id,
      success: !fields.cancelled,
      msg: "",
      traceback: "",
      return_value: null,
      time_start: 1,
      time_stop: 1 + callMs / 1000,
      call_ms: callMs,
      ...fields,
    });
  }
  exit(reason = "killed"): void {
    this.alive = false;
    this.emit("exit", { code: null, signal: "SIGKILL", reason });
  }
}

const task = (id: string, fields: Partial<ExecuteFunctionMsg> = {}): ExecuteFunctionMsg => ({
  type: "execute",
  id,
  name: "noop",
  args: [],
  kwargs: {},
  background: true,
  attempt: 1,
  ...fields,
});
const tasks = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => task(`${prefix}${i + 1}`));

/** An agent's slot processes over `n` fake ones (all ready), whose calls took `callMs` so far. */
async function slotProcesses(n: number, callMs?: number) {
  const procs: FakeProcess[] = [];
  const reports: AgentReport[] = [];
  const logs: string[] = [];
  const sp = new SlotProcesses({
    name: "w",
    fork: () => {
      const p = new FakeProcess();
      procs.push(p);
      return p;
    },
    mayDeal: () => true,
    closing: () => false,
    report: (m) => reports.push(m),
    changed: () => undefined,
    log: (l) => logs.push(l),
  });
  const started = sp.start(n);
  for (const p of procs) p.ready();
  await started;
  if (callMs !== undefined) {
    // One call ended in each: their pace is known.
    sp.add(tasks("warm", n));
    procs.forEach((p, i) => p.done(`warm${i + 1}`, callMs));
    reports.length = 0;
  }
  const ends = () =>
    reports.flatMap((r) =>
      r.type === "task_done"
        ? [{ id: r.id, success: r.success, msg: r.msg, cancelled: r.cancelled }]
        : [],
    );
  return { sp, procs, reports, logs, ends };
}

/** The tasks sent to `p` since the warm-up. */
const dealt = (p: FakeProcess) => p.executed.filter((id) => !id.startsWith("warm"));

describe("an agent's slot processes", () => {
  it("short calls: each process is given several tasks at once, round-robin in queue order; topped up only when it holds at most its running one", async () => {
    expect(heldFor(undefined)).toBe(1);
    expect(heldFor(0.1)).toBe(8);
    const { sp, procs } = await slotProcesses(2, 0.1);
    const [a, b] = procs as [FakeProcess, FakeProcess];
    sp.add(tasks("t", 20));
    expect(dealt(a)).toEqual(["t1", "t3", "t5", "t7", "t9", "t11", "t13", "t15"]);
    expect(dealt(b)).toEqual(["t2", "t4", "t6", "t8", "t10", "t12", "t14", "t16"]);
    expect(sp.busy()).toBe(20);
    // Six of a's end: it still holds two, and is given nothing.
    for (const id of ["t1", "t3", "t5", "t7", "t9", "t11"]) a.done(id);
    expect(dealt(a)).toHaveLength(8);
    // The seventh: it holds only its running task, and takes what is left.
    a.done("t13");
    expect(dealt(a).slice(8)).toEqual(["t17", "t18", "t19", "t20"]);
  });

  it("long calls: one task per process, the next to the first that frees", async () => {
    expect(heldFor(50)).toBe(1);
    const { sp, procs } = await slotProcesses(2, 50);
    const [a, b] = procs as [FakeProcess, FakeProcess];
    sp.add(tasks("t", 4));
    expect(dealt(a)).toEqual(["t1"]);
    expect(dealt(b)).toEqual(["t2"]);
    b.done("t2", 50);
    expect(dealt(b)).toEqual(["t2", "t3"]);
    expect(dealt(a)).toEqual(["t1"]);
  });

  it("tasks go out highest priority first, dealing order among equals; a foreground task only to an idle process, alone", async () => {
    const { sp, procs } = await slotProcesses(2, 0.1);
    const [a, b] = procs as [FakeProcess, FakeProcess];
    sp.add([
      task("low1", { priority: 1 }),
      task("high1", { priority: 5 }),
      task("low2", { priority: 1 }),
      task("high2", { priority: 5 }),
    ]);
    expect(dealt(a)).toEqual(["high1", "low1"]);
    expect(dealt(b)).toEqual(["high2", "low2"]);
    a.done("high1");
    for (const id of ["high2", "low2"]) b.done(id);
    // a runs low1, b is idle: a foreground task goes to b, alone; the next to a.
    sp.add([task("fg", { background: false }), task("bg1"), task("bg2")]);
    expect(dealt(b)).toEqual(["high2", "low2", "fg"]);
    expect(dealt(a)).toEqual(["high1", "low1", "bg1", "bg2"]);
  });

  it("a process that exits: its running tasks fail, those it held unstarted run on another process", async () => {
    const { sp, procs, ends, logs } = await slotProcesses(2, 0.1);
    const [a, b] = procs as [FakeProcess, FakeProcess];
    sp.add(tasks("t", 8));
    expect(dealt(a)).toEqual(["t1", "t3", "t5", "t7"]);
    // t3 started too (t1 awaits subtasks and lent its slot).
    a.started("t3");
    expect(sp.running().sort()).toEqual(["t1", "t2", "t3"]);
    a.exit("signal SIGKILL");
    expect(ends().map((e) => [e.id, e.success])).toEqual([
      ["t1", false],
      ["t3", false],
    ]);
    expect(ends()[0]?.msg).toMatch(
      /worker process of 'w' .* ended \(signal SIGKILL\) while the task was running/,
    );
    expect(logs.join("\n")).toMatch(
      /2 task\(s\) waiting in the ended worker process go to another/,
    );
    // b holds four; the new process, once ready, takes t5 and t7 (in their order).
    const fresh = procs[2] as FakeProcess;
    expect(dealt(b)).toEqual(["t2", "t4", "t6", "t8"]);
    fresh.ready();
    // Its pace is not known yet: one at a time.
    expect(fresh.executed).toEqual(["t5"]);
    fresh.done("t5");
    expect(fresh.executed).toEqual(["t5", "t7"]);
    fresh.done("t7");
    expect(ends().map((e) => [e.id, e.success])).toEqual([
      ["t1", false],
      ["t3", false],
      ["t5", true],
      ["t7", true],
    ]);
  });

  it("cancel: a waiting task is cancelled by its process; replace kills only the process whose running task was cancelled, and the rest it held run elsewhere", async () => {
    const { sp, procs, ends } = await slotProcesses(2, 0.1);
    const [a, b] = procs as [FakeProcess, FakeProcess];
    sp.add(tasks("t", 6));
    expect(dealt(a)).toEqual(["t1", "t3", "t5"]);
    expect(dealt(b)).toEqual(["t2", "t4", "t6"]);
    // A waiting task: the process answers the cancel with a cancelled end.
    sp.cancel("t4", "stop");
    expect(b.cancels).toEqual(["t4"]);
    sp.replace("(cancel timeout)");
    expect(b.killed).toBeUndefined();
    b.done("t4", 0, { cancelled: true });
    expect(ends()).toEqual([{ id: "t4", success: false, msg: "", cancelled: true }]);
    // a's running task, and one waiting behind it, before its answer.
    sp.cancel("t1", "stop");
    sp.cancel("t5", "stop too");
    sp.replace("(cancel timeout)");
    expect(a.killed).toMatch(/replaced/);
    expect(b.killed).toBeUndefined();
    a.exit();
    expect(ends().slice(1)).toEqual([
      {
        id: "t1",
        success: false,
        msg: expect.stringMatching(/while the task was running/) as string,
        cancelled: undefined,
      },
      { id: "t5", success: false, msg: "stop too", cancelled: true },
    ]);
    // t3 was held unstarted: it runs on the new process.
    (procs[2] as FakeProcess).ready();
    expect((procs[2] as FakeProcess).executed).toEqual(["t3"]);
  });

  it("the manager gives the tasks up: those not started are cancelled in their process and nothing of them is reported; the running one finishes unreported", async () => {
    const { sp, procs, ends } = await slotProcesses(1, 0.1);
    const a = procs[0] as FakeProcess;
    sp.add(tasks("t", 10));
    expect(dealt(a)).toHaveLength(8);
    sp.orphanAll("the manager was lost", false);
    expect(a.cancels).toEqual(["t2", "t3", "t4", "t5", "t6", "t7", "t8"]);
    expect(a.killed).toBeUndefined();
    expect(sp.running()).toEqual([]);
    expect(sp.busy()).toBe(0);
    expect(sp.busy(true)).toBe(8);
    a.done("t1");
    for (let i = 2; i <= 8; i++) a.done(`t${i}`, 0, { cancelled: true });
    expect(ends()).toEqual([]);
    expect(sp.busy(true)).toBe(0);
  });

  it("orphan policy abort: the process of a running task is killed, and its exit reports and requeues nothing", async () => {
    const { sp, procs, ends } = await slotProcesses(1, 0.1);
    const a = procs[0] as FakeProcess;
    sp.add(tasks("t", 3));
    sp.orphanAll("the manager was lost", true);
    expect(a.killed).toMatch(/abandoned/);
    a.exit();
    (procs[1] as FakeProcess).ready();
    expect((procs[1] as FakeProcess).executed).toEqual([]);
    expect(ends()).toEqual([]);
  });
});
