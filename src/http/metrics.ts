/**
 * `/metrics` in the Prometheus text format (prom-client). The gateway counts
 * and times the requests it forwards, by method; the manager's own numbers
 * (tasks by state, queue depth, history, worker slots, environment, store
 * writes) come from its status when the gateway scrapes, so a gateway on
 * another host reports them too.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { MANAGER_STATES, WORKER_ENVIRONMENT_STATES } from "../protocol/index.js";
import type { Reply } from "./manager-link.js";

interface KeptHistogram {
  buckets: number[];
  count: number;
  sum: number;
}

interface ManagerMetrics {
  tasks_by_state: Record<string, number>;
  worker_slots: { workers: number; busy: number; free: number | null };
  buckets: number[];
  requests: Record<string, KeptHistogram>;
  store_writes: Record<string, KeptHistogram>;
  deduplicated?: number;
  schedules?: {
    active: number;
    paused: number;
    ended: number;
    fires: number;
    fires_failed: number;
    missed: number;
    misfires?: number;
  };
  rate_limited?: number;
  ha?: {
    role: string;
    takeovers: number;
    step_downs: number;
    lease_holder: { id: string; host: string; pid: number; control_address: string | null } | null;
  };
}

function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Histograms kept by the manager, in the Prometheus exposition format. */
export function histogramText(
  name: string,
  help: string,
  label: string,
  bounds: number[],
  series: Record<string, KeptHistogram>,
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const [value, h] of Object.entries(series)) {
    const l = `${label}="${labelValue(value)}"`;
    bounds.forEach((b, i) => lines.push(`${name}_bucket{${l},le="${b}"} ${h.buckets[i] ?? 0}`));
    lines.push(`${name}_bucket{${l},le="+Inf"} ${h.count}`);
    lines.push(`${name}_sum{${l}} ${h.sum}`);
    lines.push(`${name}_count{${l}} ${h.count}`);
  }
  return lines.join("\n") + "\n";
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "code">;
  readonly latency: Histogram<"method">;
  private readonly queueDepth: Gauge;
  private readonly historySize: Gauge;
  private readonly managerState: Gauge<"state">;
  private readonly environmentState: Gauge<"state">;
  private readonly managerUp: Gauge;
  private readonly backgroundTasks: Gauge;
  private readonly tasks: Gauge<"state">;
  private readonly workers: Gauge;
  private readonly slotsBusy: Gauge;
  private readonly slotsFree: Gauge;
  private readonly schedules: Gauge<"state">;
  private readonly scheduleFires: Gauge<"outcome">;
  private readonly scheduleMissed: Gauge;
  private readonly scheduleMisfires: Gauge;
  private readonly rateLimited: Gauge;
  private readonly deduplicated: Gauge;
  private readonly role: Gauge<"role">;
  private readonly takeovers: Gauge;
  private readonly stepDowns: Gauge;
  private readonly leaseHolder: Gauge<"id" | "host" | "pid" | "control_address">;
  /** The manager's histograms, as text in the exposition format (from its `metrics` method). */
  private managerHistograms = "";

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "zqs_http_requests_total",
      help: "Requests the gateway answered, by method of the manager (or gateway route) and HTTP status",
      labelNames: ["method", "code"],
      registers,
    });
    this.latency = new Histogram({
      name: "zqs_http_request_duration_seconds",
      help: "Time to answer a request through the gateway (manager round trip included), by method",
      labelNames: ["method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.managerUp = new Gauge({
      name: "zqs_manager_up",
      help: "1 when the manager answered the scrape's status request, else 0",
      registers,
    });
    this.queueDepth = new Gauge({
      name: "zqs_queue_items",
      help: "Items waiting in the plan queue",
      registers,
    });
    this.historySize = new Gauge({
      name: "zqs_history_items",
      help: "Items in the plan history",
      registers,
    });
    this.backgroundTasks = new Gauge({
      name: "zqs_worker_background_tasks",
      help: "Background tasks running in the worker environment",
      registers,
    });
    this.tasks = new Gauge({
      name: "zqs_tasks",
      help: "Function tasks the manager keeps (running and retained results), by state",
      labelNames: ["state"],
      registers,
    });
    this.workers = new Gauge({
      name: "zqs_workers",
      help: "Worker processes taking tasks",
      registers,
    });
    this.slotsBusy = new Gauge({
      name: "zqs_worker_slots_busy",
      help: "Task slots of the workers in use",
      registers,
    });
    this.slotsFree = new Gauge({
      name: "zqs_worker_slots_free",
      help: "Task slots of the workers free (+Inf: one worker takes every task, --workers 1)",
      registers,
    });
    this.schedules = new Gauge({
      name: "zqs_schedules",
      help: "Schedules the manager keeps, by state (active, paused, ended)",
      labelNames: ["state"],
      registers,
    });
    this.scheduleFires = new Gauge({
      name: "zqs_schedule_fires_total",
      help: "Fires of schedules since the manager started, by outcome (submitted: the task was accepted; refused)",
      labelNames: ["outcome"],
      registers,
    });
    this.scheduleMissed = new Gauge({
      name: "zqs_schedule_missed",
      help: "Time slots the schedules did not fire: missed while the manager was down (misfire skip), or beyond --schedule-catch-up",
      registers,
    });
    this.scheduleMisfires = new Gauge({
      name: "zqs_schedule_misfires_total",
      help: "Fires of time slots that had passed (misfire policy once or all, or a blocked timer) since the manager started",
      registers,
    });
    this.rateLimited = new Gauge({
      name: "zqs_tasks_rate_limited",
      help: "Tasks waiting because their function is at its rate limit (--rate-limit, rate_limit)",
      registers,
    });
    this.deduplicated = new Gauge({
      name: "zqs_tasks_deduplicated_total",
      help: "Submissions (function_execute with a dedup_key) answered with an earlier task instead of a new one, since the manager started",
      registers,
    });
    this.role = new Gauge({
      name: "zqs_manager_role",
      help: "A manager with --standby: 1 for its role (active or standby), 0 for the other",
      labelNames: ["role"],
      registers,
    });
    this.takeovers = new Gauge({
      name: "zqs_manager_failovers_total",
      help: "A manager with --standby: times it took the store over from another manager",
      registers,
    });
    this.stepDowns = new Gauge({
      name: "zqs_manager_step_downs_total",
      help: "A manager with --standby: times it lost the store to another manager and stepped down",
      registers,
    });
    this.leaseHolder = new Gauge({
      name: "zqs_manager_lease_holder",
      help: "A manager with --standby: 1, labelled with the manager that holds the store's lease",
      labelNames: ["id", "host", "pid", "control_address"],
      registers,
    });
    this.managerState = new Gauge({
      name: "zqs_manager_state",
      help: "1 for the manager's current state, 0 for the others",
      labelNames: ["state"],
      registers,
    });
    this.environmentState = new Gauge({
      name: "zqs_environment_state",
      help: "1 for the worker environment's current state, 0 for the others",
      labelNames: ["state"],
      registers,
    });
  }

  /** Count and time one answered request. */
  /** `zqs_gateway_stream_clients`: the stream clients (SSE, WebSocket) connected now. */
  countStreams(count: () => number): void {
    new Gauge({
      name: "zqs_gateway_stream_clients",
      help: "Stream clients (SSE and WebSocket) connected to the gateway now",
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  observe(method: string, code: number, seconds: number): void {
    this.requests.inc({ method, code: String(code) });
    this.latency.observe({ method }, seconds);
  }

  /** Set the manager's gauges from its status (undefined: the manager did not answer). */
  setStatus(status: Reply | undefined): void {
    this.managerUp.set(status ? 1 : 0);
    if (!status) return;
    const num = (k: string) => (typeof status[k] === "number" ? status[k] : 0);
    this.queueDepth.set(num("items_in_queue"));
    this.historySize.set(num("items_in_history"));
    this.backgroundTasks.set(num("worker_background_tasks"));
    for (const s of MANAGER_STATES) {
      this.managerState.set({ state: s }, status.manager_state === s ? 1 : 0);
    }
    for (const s of WORKER_ENVIRONMENT_STATES) {
      this.environmentState.set({ state: s }, status.worker_environment_state === s ? 1 : 0);
    }
  }

  /** Set the task, slot and histogram metrics from the manager's `metrics` reply (undefined: none). */
  setManagerMetrics(reply: Reply | undefined): void {
    const m = reply?.success === true ? (reply.metrics as ManagerMetrics | undefined) : undefined;
    if (!m) {
      this.managerHistograms = "";
      return;
    }
    this.tasks.reset();
    for (const [state, n] of Object.entries(m.tasks_by_state)) this.tasks.set({ state }, n);
    this.workers.set(m.worker_slots.workers);
    this.slotsBusy.set(m.worker_slots.busy);
    this.slotsFree.set(m.worker_slots.free ?? Infinity);
    if (m.deduplicated !== undefined) this.deduplicated.set(m.deduplicated);
    if (m.schedules) {
      const sc = m.schedules;
      for (const state of ["active", "paused", "ended"] as const) {
        this.schedules.set({ state }, sc[state]);
      }
      this.scheduleFires.set({ outcome: "submitted" }, sc.fires - sc.fires_failed);
      this.scheduleFires.set({ outcome: "refused" }, sc.fires_failed);
      this.scheduleMissed.set(sc.missed);
      this.scheduleMisfires.set(sc.misfires ?? 0);
    }
    this.rateLimited.set(m.rate_limited ?? 0);
    if (m.ha) {
      for (const role of ["active", "standby"]) this.role.set({ role }, m.ha.role === role ? 1 : 0);
      this.takeovers.set(m.ha.takeovers);
      this.stepDowns.set(m.ha.step_downs);
      this.leaseHolder.reset();
      const h = m.ha.lease_holder;
      if (h) {
        this.leaseHolder.set(
          { id: h.id, host: h.host, pid: String(h.pid), control_address: h.control_address ?? "" },
          1,
        );
      }
    }
    this.managerHistograms =
      histogramText(
        "zqs_manager_request_duration_seconds",
        "Time the manager took to handle a request (any client), by method",
        "method",
        m.buckets,
        m.requests,
      ) +
      histogramText(
        "zqs_store_write_duration_seconds",
        "Time the store took to write a change, by mode (durable: before the reply; batched)",
        "mode",
        m.buckets,
        m.store_writes,
      );
  }

  async text(): Promise<string> {
    const own = await this.registry.metrics();
    return own.endsWith("\n") || own === ""
      ? own + this.managerHistograms
      : `${own}\n${this.managerHistograms}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
