/**
 * Messages between the manager's worker endpoint (a ROUTER, `--zmq-worker-addr`)
 * and a remote worker agent (`zqs worker`, a DEALER): msgpack, one frame per
 * message. Every message is checked against its schema on receipt, on both
 * sides: a hostile or broken peer gets its message dropped (and logged),
 * never a crash.
 *
 * The task messages are the ones a forked worker process sends over IPC
 * (ipc.ts): the agent relays what its own worker processes say.
 */
import { z } from "zod";
import { decode, encode } from "./codec.js";

const uid = z.string().min(1).max(200);
const name = z.string().min(1).max(200);
const num = z.number().finite();

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
});

export const agentMessageSchema = z.discriminatedUnion("type", [
  helloSchema,
  z.object({ type: z.literal("heartbeat"), busy: z.number().int().nonnegative() }),
  z.object({ type: z.literal("task_started"), id: uid, time: num }),
  z.object({
    type: z.literal("task_progress"),
    id: uid,
    progress: num.optional(),
    message: z.string().optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    type: z.literal("task_done"),
    id: uid,
    success: z.boolean(),
    msg: z.string(),
    traceback: z.string(),
    return_value: z.unknown(),
    time_start: num,
    time_stop: num,
    call_ms: num.nonnegative().optional(),
    cancelled: z.boolean().optional(),
  }),
  /** A running task asks for a subtask (relayed from its worker process). */
  z.object({
    type: z.literal("subtask"),
    reqId: z.string().min(1).max(200),
    parent: uid,
    name: z.string(),
    args: z.array(z.unknown()),
    kwargs: z.record(z.string(), z.unknown()),
    options: z.record(z.string(), z.unknown()),
    wait: z.boolean(),
  }),
  /** Console output of its worker processes. */
  z.object({ type: z.literal("output"), text: z.string() }),
  /** SIGTERM: it takes no new task; running ones finish. */
  z.object({ type: z.literal("draining") }),
  /** It leaves cleanly (after a drain). */
  z.object({ type: z.literal("bye"), msg: z.string().max(1000) }),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type HelloMsg = z.infer<typeof helloSchema>;

// ---- manager → agent ---------------------------------------------------------

export const managerMessageSchema = z.discriminatedUnion("type", [
  /** The manager knows the agent (answer to hello): how often to beat. */
  z.object({
    type: z.literal("welcome"),
    heartbeat_ms: z.number().positive(),
    timeout_ms: z.number().positive(),
  }),
  /** The manager refuses the worker's hello (its name is taken, it announces too much): it leaves. */
  z.object({ type: z.literal("refused"), reason: z.string() }),
  /** The manager does not know this connection: announce yourself (hello). */
  z.object({ type: z.literal("who") }),
  z.object({ type: z.literal("heartbeat") }),
  z.object({
    type: z.literal("execute"),
    id: uid,
    name: z.string(),
    args: z.array(z.unknown()),
    kwargs: z.record(z.string(), z.unknown()),
    background: z.boolean(),
    attempt: z.number().int(),
    run: z.object({ uid: z.string(), index: z.number().int() }).optional(),
  }),
  z.object({ type: z.literal("cancel"), id: uid, reason: z.string() }),
  /** The answers about subtasks (relayed to the worker process that asked). */
  z.object({
    type: z.literal("subtask_reply"),
    reqId: z.string(),
    success: z.boolean(),
    msg: z.string(),
    uid: z.string().nullable(),
  }),
  z.object({
    type: z.literal("subtask_done"),
    reqId: z.string(),
    uid: z.string(),
    state: z.string(),
    msg: z.string(),
    traceback: z.string(),
    return_value: z.unknown(),
  }),
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
