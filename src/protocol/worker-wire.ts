/**
 * Messages between the manager's worker endpoint (a ROUTER, `--zmq-worker-addr`)
 * and a remote worker agent (`zqs worker`, a DEALER): msgpack, one frame per
 * message. Every message is checked against its schema on receipt, on both
 * sides: a hostile or broken peer gets its message dropped (and logged),
 * never a crash.
 *
 * The task messages are the ones a forked worker process sends over IPC, with
 * the same schemas (ipc.ts): the agent relays what its own worker processes say.
 */
import { z } from "zod";
import { decode, encode } from "./codec.js";
import {
  cancelMsgSchema,
  executeMsgSchema,
  subtaskDoneMsgSchema,
  subtaskMsgSchema,
  subtaskReplyMsgSchema,
  taskEndSchema,
  taskProgressMsgSchema,
  taskStartedMsgSchema,
} from "./ipc.js";

/**
 * The version of this protocol an agent says in its hello (`wire`). 2: tasks
 * dealt in one turn go as one `execute_batch`, and the agent may send its
 * reports of one turn as one `reports`; an agent that says no version (1)
 * gets one `execute` per task. 3: the agent's task ends name their attempt, and
 * the manager acknowledges them (`acked`: on an `execute_batch` it sends
 * anyway, else in an `ack` at the end of its turn); its welcome says so
 * (`acks`). Both sides take every message of version 1.
 */
export const WORKER_WIRE_VERSION = 3;

const name = z.string().min(1).max(200);

/** Task ends the manager has received from this worker (their uids). */
const acked = z.array(z.string().min(1).max(200)).min(1);

/**
 * A task's end from an agent: with the attempt it was dealt as (wire 3; an
 * end of another attempt of the task is dropped; absent: taken as today).
 */
export const remoteEndSchema = taskEndSchema.extend({
  attempt: z.number().int().optional(),
});

// ---- agent → manager ---------------------------------------------------------

export const helloSchema = z.object({
  type: z.literal("hello"),
  name,
  /**
   * Random, made when the agent starts: the same name and instance is the same
   * worker on a new connection; another instance under a live name is refused.
   */
  instance: z.string().min(8).max(100),
  /** With CURVE: the worker's public key (z85) and its proof of holding it (worker-proof.ts). */
  key: z.string().length(40).optional(),
  proof: z.string().max(200).optional(),
  hostname: z.string().max(300),
  pid: z.number().int().nonnegative(),
  slots: z.number().int().positive().max(100_000),
  /** How many: the manager's --worker-max-tags. */
  tags: z.array(z.string().min(1).max(100)),
  version: z.string().max(100),
  /** The functions its startup code offers: name → hash of the function's source (how many: --worker-max-functions). */
  functions: z.record(z.string().max(300), z.string().max(200)),
  /** Draining (SIGTERM): it takes no new task. */
  draining: z.boolean().optional(),
  /** The version of this protocol it speaks (WORKER_WIRE_VERSION); absent: 1. */
  wire: z.number().int().positive().optional(),
  /**
   * The tasks it still runs (joining another manager after a failover, or
   * after `who`): the manager takes back those it dealt to this worker. How
   * many: no more than its `slots` (the manager's hello-limits.ts).
   */
  running: z.array(z.string().min(1).max(200)).optional(),
});

/**
 * What a worker reports about its tasks (relayed from its worker processes:
 * the IPC schemas of ipc.ts), and its console output.
 */
export const agentReportSchema = z.discriminatedUnion("type", [
  taskStartedMsgSchema,
  taskProgressMsgSchema,
  remoteEndSchema,
  /** A running task asks for a subtask. */
  subtaskMsgSchema,
  /** Console output of its worker processes. */
  z.object({ type: z.literal("output"), text: z.string() }),
]);
export type AgentReport = z.infer<typeof agentReportSchema>;

/** The `type` of each report, from the schema. */
const AGENT_REPORT_TYPES: ReadonlySet<string> = new Set(
  agentReportSchema.options.map((o) => o.shape.type.value),
);

export const agentMessageSchema = z.discriminatedUnion("type", [
  helloSchema,
  z.object({ type: z.literal("heartbeat"), busy: z.number().int().nonnegative() }),
  ...agentReportSchema.options,
  /** Reports of one turn of the agent, in order (wire 2). */
  z.object({ type: z.literal("reports"), reports: z.array(agentReportSchema).min(1) }),
  /** SIGTERM: it takes no new task; running ones finish. */
  z.object({ type: z.literal("draining") }),
  /** It leaves cleanly (after a drain). */
  z.object({ type: z.literal("bye"), msg: z.string().max(1000) }),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

/** A message of the agent that reports on its tasks or output (batched in `reports`). */
export function isAgentReport(m: AgentMessage): m is AgentReport {
  return AGENT_REPORT_TYPES.has(m.type);
}
export type HelloMsg = z.infer<typeof helloSchema>;

// ---- manager → agent ---------------------------------------------------------

export const managerMessageSchema = z.discriminatedUnion("type", [
  /** The manager knows the agent (answer to hello): how often to beat. */
  z.object({
    type: z.literal("welcome"),
    heartbeat_ms: z.number().positive(),
    timeout_ms: z.number().positive(),
    /** It acknowledges task ends (wire 3): the agent keeps each end until then. */
    acks: z.boolean().optional(),
  }),
  /** The manager refuses the worker's hello (its name is taken, it announces too much): it leaves. */
  z.object({ type: z.literal("refused"), reason: z.string() }),
  /** The manager does not know this connection: announce yourself (hello). */
  z.object({ type: z.literal("who") }),
  /**
   * A sign of life; with the pace, when the manager changes it (many workers
   * connected beat less often): the agent beats at `heartbeat_ms` from then on.
   */
  z.object({
    type: z.literal("heartbeat"),
    heartbeat_ms: z.number().positive().optional(),
    timeout_ms: z.number().positive().optional(),
  }),
  executeMsgSchema,
  /** Tasks dealt in one turn, in dealing order (to an agent that speaks wire 2). */
  z.object({
    type: z.literal("execute_batch"),
    tasks: z.array(executeMsgSchema).min(1),
    /** Task ends received since the last acknowledgement (wire 3). */
    acked: acked.optional(),
  }),
  /** Task ends received, when no `execute_batch` carried them this turn (wire 3). */
  z.object({ type: z.literal("ack"), acked }),
  cancelMsgSchema,
  /** The answers about subtasks (relayed to the worker process that asked). */
  subtaskReplyMsgSchema,
  subtaskDoneMsgSchema,
  /** End the worker processes whose cancelled task has not stopped (after the grace). */
  z.object({ type: z.literal("replace"), why: z.string() }),
]);
export type ManagerMessage = z.infer<typeof managerMessageSchema>;

/** Largest message the agent reads (its ZMQ_MAXMSGSIZE; the manager's is --worker-max-message-size). */
export const WORKER_WIRE_MAX_BYTES = 256 * 1024 * 1024;

export function encodeWire(msg: AgentMessage | ManagerMessage): Buffer {
  return encode(msg, "msgpack");
}

/**
 * Decode and check one message; an error message (never a throw) when it is
 * not one, with the message's `type` when it has one. `precheck` runs before
 * the schema (cheap bounds, so that no schema work is spent on an oversized
 * message) and returns what is wrong, if anything.
 */
export function decodeWire<T>(
  bytes: Buffer,
  schema: z.ZodType<T>,
  precheck?: (value: Record<string, unknown>) => string | undefined,
): { ok: true; msg: T } | { ok: false; error: string; type?: string } {
  let value: unknown;
  try {
    value = decode(bytes, "msgpack", { maxDepth: 64 });
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const type =
    typeof value === "object" &&
    value !== null &&
    typeof (value as { type?: unknown }).type === "string"
      ? (value as { type: string }).type
      : undefined;
  const wrong =
    type !== undefined && precheck ? precheck(value as Record<string, unknown>) : undefined;
  if (wrong !== undefined) return { ok: false, error: wrong, type };
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    return {
      ok: false,
      error: `invalid message: ${issue ? `${issue.path.join(".") || "(message)"}: ${issue.message}` : "?"}`,
      ...(type !== undefined ? { type } : {}),
    };
  }
  return { ok: true, msg: r.data };
}
