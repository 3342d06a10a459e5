/**
 * The client commands of `zqs`: thin wrappers over REManagerAPI.
 *
 * Exit codes: 0 success; 1 the manager refused the request (`success: false`)
 * or a waited-for task failed; 2 bad usage or parameters; 3 a timeout (no
 * reply, or a wait ran out). The reason goes to stderr; `--json` prints
 * replies as JSON on stdout.
 */
import type { Command } from "commander";
import { Option } from "commander";
import type { ClientOptions } from "../client/index.js";
import {
  BInst,
  BPlan,
  generateKeyPair,
  publicKeyFromPrivate,
  REManagerAPI,
  RequestError,
  RequestFailedError,
  RequestParameterError,
  RequestTimeoutError,
  WaitCancelError,
  WaitMonitor,
  WaitTimeoutError,
} from "../client/index.js";
import type { Status } from "../protocol/index.js";
import { createProgress } from "./progress.js";

export const EXIT = { ok: 0, failed: 1, usage: 2, timeout: 3 } as const;

/** Global options (on the program; usable before or after the command). */
interface GlobalOptions {
  address?: string;
  infoAddress?: string;
  encoding?: string;
  publicKey?: string;
  clientPrivateKey?: string;
  timeout?: string;
  user?: string;
  userGroup?: string;
  lockKey?: string;
  json?: boolean;
}

class UsageError extends Error {
  override name = "UsageError";
}

/** A task (or plan) ended without success: exit code 1 after printing. */
class OutcomeError extends Error {
  override name = "OutcomeError";
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

function positiveSeconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${name} must be a positive number of seconds, got '${v}'`);
  return n;
}

function clientOptions(g: GlobalOptions): ClientOptions {
  const o: ClientOptions = {};
  if (g.address !== undefined) o.zmqControlAddr = g.address;
  if (g.infoAddress !== undefined) o.zmqInfoAddr = g.infoAddress === "off" ? null : g.infoAddress;
  if (g.encoding !== undefined) {
    if (g.encoding !== "json" && g.encoding !== "msgpack") {
      throw new UsageError(`--encoding must be json or msgpack, got '${g.encoding}'`);
    }
    o.zmqEncoding = g.encoding;
  }
  if (g.publicKey !== undefined) o.zmqPublicKey = g.publicKey;
  if (g.clientPrivateKey !== undefined) {
    let publicKey: string;
    try {
      publicKey = publicKeyFromPrivate(g.clientPrivateKey);
    } catch (err) {
      throw new UsageError(`--client-private-key: ${(err as Error).message}`);
    }
    o.zmqClientKeyPair = { publicKey, secretKey: g.clientPrivateKey.trim() };
  }
  // One budget for a one-shot command: reaching the manager (a new process
  // connects first) and each reply.
  const t = positiveSeconds("--timeout", g.timeout);
  if (t !== undefined) {
    o.timeoutSend = t;
    o.timeoutRecv = t;
  }
  if (g.user !== undefined) o.user = g.user;
  if (g.userGroup !== undefined) o.userGroup = g.userGroup;
  if (g.lockKey !== undefined) o.lockKey = g.lockKey;
  return o;
}

// ---- output -------------------------------------------------------------------

function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

function inline(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** `key: value` lines, aligned. */
function keyValues(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  const w = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(w)}  ${inline(obj[k])}`).join("\n");
}

/** A reply for people: its message (if any), then its data keys. */
function human(reply: Record<string, unknown>): string {
  const { success: _s, msg, ...rest } = reply;
  const lines: string[] = [];
  if (typeof msg === "string" && msg !== "") lines.push(msg);
  if (Object.keys(rest).length > 0) lines.push(keyValues(rest));
  return lines.length > 0 ? lines.join("\n") : "OK";
}

function show(g: GlobalOptions, reply: unknown, text?: () => string): void {
  if (g.json) printJson(reply);
  else out(text ? text() : human(reply as Record<string, unknown>));
}

// ---- arguments ----------------------------------------------------------------

/** A command-line value: JSON when it parses (`3`, `true`, `["det1"]`), else the text. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function parseKwargs(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--kwargs must be a JSON map: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new UsageError("--kwargs must be a JSON map");
  return v as Record<string, unknown>;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${name} must be a positive integer, got '${v}'`);
  return n;
}

/** --items: a JSON list of maps (the arguments of each call). */
function parseItems(text: string): Record<string, unknown>[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--items must be a JSON list: ${(err as Error).message}`);
  }
  if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== "object" || Array.isArray(x)))
    throw new UsageError('--items must be a JSON list of maps such as {"args": [1]}');
  return v as Record<string, unknown>[];
}

function parsePos(text: string | undefined): number | "front" | "back" | undefined {
  if (text === undefined) return undefined;
  if (text === "front" || text === "back") return text;
  const n = Number(text);
  if (!Number.isInteger(n))
    throw new UsageError(`--pos must be an integer, 'front' or 'back', got '${text}'`);
  return n;
}

// ---- running a command -----------------------------------------------------------

function exitCodeOf(err: unknown): number {
  if (
    err instanceof UsageError ||
    err instanceof RequestParameterError ||
    err instanceof TypeError
  ) {
    return EXIT.usage;
  }
  if (err instanceof RequestTimeoutError || err instanceof WaitTimeoutError) return EXIT.timeout;
  return EXIT.failed;
}

function reasonOf(err: unknown): string {
  if (err instanceof RequestFailedError)
    return `request '${err.request?.method ?? "?"}' failed: ${err.message}`;
  if (err instanceof RequestParameterError) return `invalid parameters: ${err.message}`;
  if (err instanceof RequestTimeoutError) return `timeout: ${err.message}`;
  if (err instanceof WaitTimeoutError || err instanceof WaitCancelError) return err.message;
  if (err instanceof RequestError || err instanceof Error) return err.message;
  return String(err);
}

type Action = (api: REManagerAPI, g: GlobalOptions, ...args: unknown[]) => Promise<void>;

/** Make a commander action that opens a client, runs `fn`, reports and closes. */
function withClient(fn: Action): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    let api: REManagerAPI | undefined;
    try {
      const g = globals(cmd);
      api = new REManagerAPI(clientOptions(g));
      await fn(api, g, ...args.slice(0, -1));
    } catch (err) {
      process.stderr.write(`zqs: ${reasonOf(err)}\n`);
      process.exitCode = exitCodeOf(err);
    } finally {
      await api?.close();
    }
  };
}

// ---- waits with progress -------------------------------------------------------------

function waitTimeout(v: string | undefined): number {
  return positiveSeconds("--wait-timeout", v) ?? Infinity;
}

async function waitTasks(api: REManagerAPI, uids: string[], timeout: number): Promise<void> {
  const monitor = new WaitMonitor();
  const progress = createProgress({
    label: uids.length === 1 ? "task" : "tasks",
    total: uids.length,
  });
  monitor.onProgress((p) =>
    progress.update(p.done ?? 0, p.done === p.total ? "completed" : "waiting"),
  );
  try {
    await api.waitForCompletedTask(uids, { timeout, monitor, all: true });
    progress.stop("completed");
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

type RunInfoReply = Awaited<ReturnType<REManagerAPI["runInfo"]>>;

function runSummary(r: RunInfoReply): string {
  return (
    `run_uid: ${inline(r.run_uid)}\n` +
    `${r.num_tasks} tasks: ${r.num_done} done, ${r.num_failed} failed, ${r.num_computing} computing, ${r.num_waiting} waiting (${r.percent_done}%)`
  );
}

/** Poll run_info until every task has ended, with a progress bar of the ended tasks. */
async function waitRun(api: REManagerAPI, uid: string, timeout: number): Promise<RunInfoReply> {
  const first = await api.runInfo(uid);
  const progress = createProgress({ label: "run", total: first.num_tasks });
  const end = Date.now() + timeout * 1000;
  let r = first;
  try {
    for (;;) {
      const ended = r.num_done + r.num_failed;
      progress.update(
        ended,
        `${r.num_computing} computing, ${r.num_failed} failed, ${r.percent_done}%`,
      );
      if (ended === r.num_tasks) break;
      if (Date.now() > end)
        throw new WaitTimeoutError(`run ${uid} did not end within ${timeout} s`);
      await new Promise((res) => setTimeout(res, 100));
      r = await api.runInfo(uid);
    }
    progress.stop(r.num_failed > 0 ? `${r.num_failed} failed` : "completed");
    return r;
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

/**
 * A condition for "the operation we just asked for is over": the manager is
 * idle (or paused) and `done(status)` holds, or it is idle after having been
 * busy (the operation ended otherwise), or it never left idle within 2 s (the
 * operation did not start). The caller then checks the status it got.
 */
function settled(done: (s: Status) => boolean): (s: Status) => boolean {
  const t0 = Date.now();
  let sawBusy = false;
  return (s) => {
    const idle = s.manager_state === "idle" || s.manager_state === "paused";
    if (!idle) {
      sawBusy = true;
      return false;
    }
    return done(s) || sawBusy || Date.now() - t0 > 2000;
  };
}

async function waitQueue(api: REManagerAPI, timeout: number, initial: Status): Promise<Status> {
  const total = Math.max(1, initial.items_in_queue);
  const monitor = new WaitMonitor();
  const progress = createProgress({ label: "queue", total });
  monitor.onProgress((p) => {
    const s = p.status;
    if (s)
      progress.update(
        Math.max(0, total - s.items_in_queue),
        `${s.manager_state}, ${s.items_in_queue} left`,
      );
  });
  try {
    const s = await api.waitForCondition(
      settled((st) => st.items_in_queue === 0 && st.running_item_uid === null),
      { timeout, monitor },
    );
    progress.stop(`${s.items_in_queue} left`);
    return s;
  } catch (err) {
    progress.stop(err instanceof WaitTimeoutError ? "timed out" : "stopped");
    throw err;
  }
}

// ---- the commands ---------------------------------------------------------------------

export function addGlobalOptions(program: Command): void {
  program
    .option(
      "-a, --address <addr>",
      "control socket of the manager (env QSERVER_ZMQ_CONTROL_ADDRESS; default tcp://localhost:60615)",
    )
    .option(
      "--info-address <addr>",
      "info socket of the manager, or 'off' (env QSERVER_ZMQ_INFO_ADDRESS; default tcp://localhost:60625)",
    )
    .addOption(new Option("--encoding <enc>", "message encoding").choices(["json", "msgpack"]))
    .option("--public-key <z85>", "the manager's CURVE public key (env QSERVER_ZMQ_PUBLIC_KEY)")
    .option(
      "--client-private-key <z85>",
      "this client's own CURVE private key, for a manager with an allow-list of clients (write --client-private-key=KEY: a key may begin with '-')",
    )
    .option(
      "--timeout <seconds>",
      "seconds to wait to reach the manager and for each reply (default 0.5 and 2)",
    )
    .option("--user <name>", "user name sent with requests (default 'Queue Server API User')")
    .option("--user-group <group>", "user group sent with requests (default 'primary')")
    .option("--lock-key <key>", "lock key sent with requests that take one")
    .option("--json", "print replies as JSON (for scripts)");
}

/** Commander's own usage errors (missing argument, unknown option) exit with 2 here too. */
function usageExitCodes(cmd: Command): void {
  cmd.exitOverride((err) => {
    process.exit(err.exitCode === 1 ? EXIT.usage : err.exitCode);
  });
  for (const sub of cmd.commands) usageExitCodes(sub);
}

export function registerClientCommands(program: Command): void {
  const before = new Set(program.commands);
  addGlobalOptions(program);
  defineCommands(program);
  for (const c of program.commands) if (!before.has(c)) usageExitCodes(c);
}

function defineCommands(program: Command): void {
  program
    .command("status")
    .description("print the manager's status")
    .action(
      withClient(async (api, g) => {
        const s = await api.status({ reload: true });
        show(g, s, () => keyValues(s));
      }),
    );

  program
    .command("ping")
    .description("ask the manager for its status (a liveness check)")
    .action(
      withClient(async (api, g) => {
        const s = await api.ping();
        show(g, s, () => `${s.msg}: ${s.manager_state}`);
      }),
    );

  // environment ---------------------------------------------------------------------------
  const env = program
    .command("environment")
    .description("open, close or destroy the worker environment");
  const envWait = async (api: REManagerAPI, timeout: number, want: boolean): Promise<Status> => {
    const s = await api.waitForCondition(
      settled((st) => st.worker_environment_exists === want),
      {
        timeout,
      },
    );
    if (s.worker_environment_exists !== want) {
      throw new OutcomeError(
        want
          ? "the environment failed to open (see the manager's console)"
          : "the environment still exists",
      );
    }
    return s;
  };
  for (const [name, method, want] of [
    ["open", "environmentOpen", true],
    ["close", "environmentClose", false],
    ["destroy", "environmentDestroy", false],
  ] as const) {
    env
      .command(name)
      .description(`${name} the environment (replies at once; --wait waits until it is done)`)
      .option("--wait", "wait until the operation is done")
      .option("--wait-timeout <seconds>", "give up waiting after this long")
      .action(
        withClient(async (api, g, o) => {
          const opts = o as { wait?: boolean; waitTimeout?: string };
          const r = await api[method]();
          if (!opts.wait) {
            show(g, r);
            return;
          }
          const s = await envWait(api, waitTimeout(opts.waitTimeout), want);
          show(g, { ...r, status: s }, () => `environment ${want ? "open" : "closed"}`);
        }),
      );
  }

  // functions and tasks ------------------------------------------------------------------------
  program
    .command("function")
    .description("run functions of the environment")
    .command("execute")
    .description("run a function: zqs function execute NAME [args...] (each arg is JSON, or text)")
    .argument("<name>", "function name")
    .argument("[args...]", "positional arguments")
    .option("--kwargs <json>", "keyword arguments as a JSON map")
    .option("--background", "run beside plans and other tasks")
    .option("--task-timeout <seconds>", "end the task as timed_out after this long running (zqs)")
    .option("--max-retries <n>", "run it again this many times at most if it fails (zqs)")
    .option("--retry-backoff <seconds>", "first wait before a retry, doubled each time (zqs)")
    .option("--expires <seconds>", "end it as expired if it has not started by then (zqs)")
    .option("--after <uids...>", "start only when these tasks have completed (zqs)")
    .option("--priority <n>", "among waiting tasks, higher runs first (zqs)")
    .option("--wait", "wait for the result and print it (exit 1 if the function failed)")
    .option("--wait-timeout <seconds>", "give up waiting after this long")
    .action(
      withClient(async (api, g, name, args, o) => {
        const opts = o as {
          kwargs?: string;
          background?: boolean;
          taskTimeout?: string;
          maxRetries?: string;
          retryBackoff?: string;
          expires?: string;
          after?: string[];
          priority?: string;
          wait?: boolean;
          waitTimeout?: string;
        };
        const integer = (flag: string, v: string | undefined): number | undefined => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isInteger(n))
            throw new UsageError(`${flag}: expected an integer, got '${v}'`);
          return n;
        };
        const lifecycle = {
          timeout: positiveSeconds("--task-timeout", opts.taskTimeout),
          max_retries: integer("--max-retries", opts.maxRetries),
          retry_backoff: positiveSeconds("--retry-backoff", opts.retryBackoff),
          expires: positiveSeconds("--expires", opts.expires),
          after: opts.after,
          priority: integer("--priority", opts.priority),
        };
        const item = {
          item_type: "function",
          name: name as string,
          args: (args as string[]).map(parseValue),
          kwargs: parseKwargs(opts.kwargs),
        };
        const r = await api.functionExecute(item, {
          run_in_background: opts.background === true,
          ...Object.fromEntries(Object.entries(lifecycle).filter(([, v]) => v !== undefined)),
        });
        const uid = r.task_uid as string;
        if (!opts.wait) {
          show(g, r, () => `task_uid: ${uid}`);
          return;
        }
        await waitTasks(api, [uid], waitTimeout(opts.waitTimeout));
        await printResults(api, g, [uid]);
      }),
    );

  const task = program.command("task").description("task status, results, waits and cancellation");
  task
    .command("status")
    .description("running / completed / not_found")
    .argument("<uid...>", "task UIDs")
    .action(
      withClient(async (api, g, uids) => {
        const list = uids as string[];
        const r = await api.taskStatus(list.length === 1 ? (list[0] as string) : list);
        show(g, r, () =>
          typeof r.status === "string" ? `${list[0]}  ${r.status}` : keyValues(r.status ?? {}),
        );
      }),
    );
  task
    .command("result")
    .description("the result of a task")
    .argument("<uid>", "task UID")
    .action(
      withClient(async (api, g, uid) => {
        const r = await api.taskResult(uid as string);
        show(g, r, () => keyValues({ status: r.status, ...(r.result ?? {}) }));
      }),
    );
  task
    .command("wait")
    .description("wait until the tasks complete, then print their results (exit 1 if one failed)")
    .argument("<uid...>", "task UIDs")
    .option("--wait-timeout <seconds>", "give up waiting after this long (exit 3)")
    .action(
      withClient(async (api, g, uids, o) => {
        const list = uids as string[];
        await waitTasks(api, list, waitTimeout((o as { waitTimeout?: string }).waitTimeout));
        await printResults(api, g, list);
      }),
    );
  task
    .command("info")
    .description("the full lifecycle record of tasks (zqs)")
    .argument("<uid...>", "task UIDs")
    .action(
      withClient(async (api, g, uids) => {
        const list = uids as string[];
        const r = await api.taskInfo(list.length === 1 ? (list[0] as string) : list);
        show(g, r, () => JSON.stringify(r.task_info, null, 2));
      }),
    );
  task
    .command("cancel")
    .description("cancel pending or running tasks (zqs)")
    .argument("<uid...>", "task UIDs")
    .action(
      withClient(async (api, g, uids) => {
        const list = uids as string[];
        const r = await api.taskCancel(list.length === 1 ? (list[0] as string) : list);
        show(g, r, () =>
          typeof r.result === "string" ? `${list[0]}  ${r.result}` : keyValues(r.result ?? {}),
        );
      }),
    );

  // runs ---------------------------------------------------------------------------------------
  const run = program.command("run").description("runs of many tasks of one function (zqs)");
  run
    .command("create")
    .description(
      "run a function many times over the worker pool: zqs run create NAME [args...] --count N | --items JSON",
    )
    .argument("<name>", "function name")
    .argument("[args...]", "positional arguments of every call")
    .option("--kwargs <json>", "keyword arguments of every call, as a JSON map")
    .option("--count <n>", "this many tasks, all with the same arguments")
    .option(
      "--items <json>",
      'one task per element, each {"args": [...], "kwargs": {...}} (args replace, kwargs add to the above)',
    )
    .option("--concurrency <n>", "tasks computing at once, at most (default: as the workers take)")
    .option("--wait", "wait until every task has ended, with a progress bar (exit 1 if one failed)")
    .option("--wait-timeout <seconds>", "give up waiting after this long (exit 3)")
    .action(
      withClient(async (api, g, name, args, o) => {
        const opts = o as {
          kwargs?: string;
          count?: string;
          items?: string;
          concurrency?: string;
          wait?: boolean;
          waitTimeout?: string;
        };
        const params: { count?: number; items?: Record<string, unknown>[]; concurrency?: number } =
          {};
        if (opts.count !== undefined) params.count = positiveInt("--count", opts.count);
        if (opts.items !== undefined) params.items = parseItems(opts.items);
        if (opts.concurrency !== undefined)
          params.concurrency = positiveInt("--concurrency", opts.concurrency);
        if ((params.count === undefined) === (params.items === undefined))
          throw new UsageError("give either --count or --items");
        const fn = {
          item_type: "function",
          name: name as string,
          args: (args as string[]).map(parseValue),
          kwargs: parseKwargs(opts.kwargs),
        };
        const r = await api.runCreate(fn, params);
        const uid = r.run_uid as string;
        if (!opts.wait) {
          show(g, r, () => `run_uid: ${uid} (${r.task_uids.length} tasks)`);
          return;
        }
        const info = await waitRun(api, uid, waitTimeout(opts.waitTimeout));
        show(g, info, () => runSummary(info));
        if (info.num_failed > 0)
          throw new OutcomeError(`${info.num_failed} of ${info.num_tasks} tasks failed`);
      }),
    );
  run
    .command("info")
    .description("counts and progress of a run")
    .argument("<run_uid>", "run UID")
    .action(
      withClient(async (api, g, uid) => {
        const r = await api.runInfo(uid as string);
        show(g, r, () => runSummary(r));
      }),
    );
  run
    .command("wait")
    .description("wait until every task of a run has ended, with a progress bar")
    .argument("<run_uid>", "run UID")
    .option("--wait-timeout <seconds>", "give up waiting after this long (exit 3)")
    .action(
      withClient(async (api, g, uid, o) => {
        const info = await waitRun(
          api,
          uid as string,
          waitTimeout((o as { waitTimeout?: string }).waitTimeout),
        );
        show(g, info, () => runSummary(info));
        if (info.num_failed > 0)
          throw new OutcomeError(`${info.num_failed} of ${info.num_tasks} tasks failed`);
      }),
    );
  run
    .command("restart")
    .description("re-run the failed tasks of a run (--everything: all of them)")
    .argument("<run_uid>", "run UID")
    .option("--everything", "re-run every task, not only the failed ones")
    .action(
      withClient(async (api, g, uid, o) => {
        const r = await api.runRestart(uid as string, {
          everything: (o as { everything?: boolean }).everything === true,
        });
        show(g, r, () => r.msg || `restarted ${r.task_uids.length} task(s)`);
      }),
    );
  run
    .command("delete")
    .description("cancel what is left of a run and forget it")
    .argument("<run_uid>", "run UID")
    .action(
      withClient(async (api, g, uid) => {
        const r = await api.runDelete(uid as string);
        show(g, r, () => `deleted run ${uid as string}`);
      }),
    );
  run
    .command("list")
    .description("all runs with their counts")
    .action(
      withClient(async (api, g) => {
        const r = await api.runsList();
        show(g, r, () =>
          r.runs.length === 0
            ? "no runs"
            : r.runs
                .map(
                  (x) =>
                    `${inline(x.run_uid)}  ${inline(x.name)}  ${inline(x.num_done)}/${inline(x.num_tasks)} done, ${inline(x.num_failed)} failed, ${inline(x.num_computing)} computing`,
                )
                .join("\n"),
        );
      }),
    );

  // queue --------------------------------------------------------------------------------------
  const queue = program.command("queue").description("the plan queue");
  const add = queue.command("add").description("add an item to the queue");
  const placement = (c: Command) =>
    c
      .option("--pos <pos>", "position: an index, 'front' or 'back' (default back)")
      .option("--before-uid <uid>", "insert before this item")
      .option("--after-uid <uid>", "insert after this item");
  placement(
    add
      .command("plan")
      .description("add a plan: zqs queue add plan NAME [args...] (each arg is JSON, or text)")
      .argument("<name>", "plan name")
      .argument("[args...]", "positional arguments")
      .option("--kwargs <json>", "keyword arguments as a JSON map"),
  ).action(
    withClient(async (api, g, name, args, o) => {
      const opts = o as { kwargs?: string; pos?: string; beforeUid?: string; afterUid?: string };
      const item = new BPlan(
        name as string,
        (args as string[]).map(parseValue),
        parseKwargs(opts.kwargs),
      );
      const r = await api.itemAdd(item, placementParams(opts));
      show(
        g,
        r,
        () =>
          `added ${inline(r.item?.name)} (item_uid ${inline(r.item?.item_uid)}), queue size ${inline(r.qsize)}`,
      );
    }),
  );
  placement(
    add
      .command("instruction")
      .description("add an instruction: zqs queue add instruction queue-stop")
      .argument("<name>", "instruction name (queue-stop)"),
  ).action(
    withClient(async (api, g, name, o) => {
      const opts = o as { pos?: string; beforeUid?: string; afterUid?: string };
      const r = await api.itemAdd(
        new BInst((name as string).replace(/-/g, "_")),
        placementParams(opts),
      );
      show(
        g,
        r,
        () =>
          `added ${inline(r.item?.name)} (item_uid ${inline(r.item?.item_uid)}), queue size ${inline(r.qsize)}`,
      );
    }),
  );
  queue
    .command("get")
    .description("print the queue and the running item")
    .action(
      withClient(async (api, g) => {
        const r = await api.queueGet({ reload: true });
        show(g, r, () => {
          const lines = r.items.map((it, i) => `${i}  ${itemLine(it)}`);
          const running =
            Object.keys(r.running_item).length > 0 ? `running: ${itemLine(r.running_item)}\n` : "";
          return `${running}${lines.length} item(s) in the queue${lines.length ? `\n${lines.join("\n")}` : ""}`;
        });
      }),
    );
  queue
    .command("start")
    .description("start the queue (--wait: until it is done)")
    .option("--wait", "wait until the manager is idle again")
    .option("--wait-timeout <seconds>", "give up waiting after this long (exit 3)")
    .action(
      withClient(async (api, g, o) => {
        const opts = o as { wait?: boolean; waitTimeout?: string };
        const before = await api.status({ reload: true });
        const r = await api.queueStart();
        if (!opts.wait) {
          show(g, r);
          return;
        }
        const s = await waitQueue(api, waitTimeout(opts.waitTimeout), before);
        show(
          g,
          { ...r, status: s },
          () =>
            `queue stopped: ${s.items_in_queue} item(s) left, ${s.items_in_history} in the history`,
        );
      }),
    );
  queue
    .command("stop")
    .description("stop the queue after the running item (--cancel: cancel a pending stop)")
    .option("--cancel", "cancel a pending stop")
    .action(
      withClient(async (api, g, o) => {
        const r = (o as { cancel?: boolean }).cancel
          ? await api.queueStopCancel()
          : await api.queueStop();
        show(g, r);
      }),
    );
  queue
    .command("clear")
    .description("remove every item from the queue")
    .action(withClient(async (api, g) => show(g, await api.queueClear())));

  // run engine ---------------------------------------------------------------------------------
  const re = program.command("re").description("control the running plan");
  re.command("pause")
    .description("pause the running plan: deferred (next checkpoint, default) or immediate")
    .argument("[option]", "deferred | immediate", "deferred")
    .action(
      withClient(async (api, g, option) =>
        show(g, await api.rePause(option as "deferred" | "immediate")),
      ),
    );
  re.command("resume")
    .description("resume a paused plan")
    .action(withClient(async (api, g) => show(g, await api.reResume())));
  re.command("stop")
    .description("end a paused plan as stopped (a success)")
    .action(withClient(async (api, g) => show(g, await api.reStop())));
  re.command("abort")
    .description("end a paused plan as aborted (it goes back to the front of the queue)")
    .action(withClient(async (api, g) => show(g, await api.reAbort())));
  re.command("halt")
    .description("end a paused plan at once as halted (back to the front of the queue)")
    .action(withClient(async (api, g) => show(g, await api.reHalt())));
  re.command("runs")
    .description("runs of the running plan: active (default), open or closed")
    .argument("[option]", "active | open | closed", "active")
    .action(
      withClient(async (api, g, option) => {
        const r = await api.reRuns(option as "active" | "open" | "closed");
        show(g, r, () =>
          r.run_list.length === 0
            ? "no runs"
            : r.run_list
                .map(
                  (x) =>
                    `${String(x.uid)}  scan ${String(x.scan_id)}  ${x.is_open ? "open" : `closed (${String(x.exit_status)})`}`,
                )
                .join("\n"),
        );
      }),
    );
  re.command("metadata")
    .description("the run engine's metadata")
    .action(withClient(async (api, g) => show(g, await api.reMetadata())));

  // history ------------------------------------------------------------------------------------
  const history = program.command("history").description("the plan history");
  history
    .command("get")
    .description("print the history")
    .action(
      withClient(async (api, g) => {
        const r = await api.historyGet({ reload: true });
        show(g, r, () => {
          const lines = r.items.map((it, i) => {
            const res = (it.result ?? {}) as Record<string, unknown>;
            return `${i}  ${itemLine(it)}  ${inline(res.exit_status ?? "")}`;
          });
          return `${lines.length} item(s) in the history${lines.length ? `\n${lines.join("\n")}` : ""}`;
        });
      }),
    );
  history
    .command("clear")
    .description("clear the history (or keep its last --size items, or remove one --item-uid)")
    .option("--size <n>", "keep this many of the last items")
    .option("--item-uid <uid>", "remove only this item")
    .action(
      withClient(async (api, g, o) => {
        const opts = o as { size?: string; itemUid?: string };
        const params: { size?: number; item_uid?: string } = {};
        if (opts.size !== undefined) params.size = parseValue(opts.size) as number;
        if (opts.itemUid !== undefined) params.item_uid = opts.itemUid;
        show(g, await api.historyClear(params));
      }),
    );

  // locks ----------------------------------------------------------------------------------------
  program
    .command("lock")
    .description(
      "lock the environment, the queue or all (with --lock-key), or print the lock: zqs lock info",
    )
    .argument("[what]", "environment | queue | all | info", "all")
    .option("--note <text>", "a note shown to others")
    .action(
      withClient(async (api, g, what, o) => {
        const note = (o as { note?: string }).note;
        const params = note === undefined ? {} : { note };
        let r;
        if (what === "info") r = await api.lockInfo(undefined, {}, { reload: true });
        else if (what === "environment") r = await api.lockEnvironment(undefined, params);
        else if (what === "queue") r = await api.lockQueue(undefined, params);
        else if (what === "all") r = await api.lockAll(undefined, params);
        else
          throw new UsageError(
            `lock: unknown target '${String(what)}' (environment, queue, all or info)`,
          );
        show(g, r, () => keyValues(r.lock_info));
      }),
    );
  program
    .command("unlock")
    .description("remove the lock (with --lock-key, or the emergency key)")
    .action(
      withClient(async (api, g) => {
        const r = await api.unlock();
        show(g, r, () => keyValues(r.lock_info));
      }),
    );

  // plans, devices, permissions -------------------------------------------------------------------
  for (const [kind, allowed, existing] of [
    ["plans", "plansAllowed", "plansExisting"],
    ["devices", "devicesAllowed", "devicesExisting"],
  ] as const) {
    const c = program.command(kind).description(`the ${kind} of the environment`);
    c.command("allowed")
      .description(`${kind} the user group may use`)
      .action(
        withClient(async (api, g) => {
          const r = (await api[allowed]({}, { reload: true })) as Record<string, unknown>;
          show(g, r, () =>
            Object.keys(r[`${kind}_allowed`] as Record<string, unknown>)
              .sort()
              .join("\n"),
          );
        }),
      );
    c.command("existing")
      .description(`every ${kind.slice(0, -1)} the startup code defines`)
      .action(
        withClient(async (api, g) => {
          const r = (await api[existing]({ reload: true })) as Record<string, unknown>;
          show(g, r, () =>
            Object.keys(r[`${kind}_existing`] as Record<string, unknown>)
              .sort()
              .join("\n"),
          );
        }),
      );
  }
  const permissions = program.command("permissions").description("user group permissions");
  permissions
    .command("get")
    .description("print the permissions in force")
    .action(
      withClient(async (api, g) => {
        const r = await api.permissionsGet();
        show(g, r, () => JSON.stringify(r.user_group_permissions, null, 2));
      }),
    );
  permissions
    .command("reload")
    .description("reload the permissions file")
    .action(withClient(async (api, g) => show(g, await api.permissionsReload())));

  // keys -------------------------------------------------------------------------------------------
  program
    .command("keys")
    .description("print a new CURVE key pair (or the public key of --public-from=PRIVATE)")
    .option(
      "--public-from <private>",
      "print the public key of this private key (write --public-from=KEY: a key may begin with '-')",
    )
    .action((o: { publicFrom?: string }, cmd: Command) => {
      const g = globals(cmd);
      try {
        if (o.publicFrom !== undefined) {
          const publicKey = publicKeyFromPrivate(o.publicFrom);
          if (g.json) printJson({ public_key: publicKey });
          else out(publicKey);
          return;
        }
        const pair = generateKeyPair();
        if (g.json) printJson({ private_key: pair.secretKey, public_key: pair.publicKey });
        else {
          out(`Private key (server: QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER): ${pair.secretKey}`);
          out(`Public key (clients: QSERVER_ZMQ_PUBLIC_KEY):             ${pair.publicKey}`);
        }
      } catch (err) {
        process.stderr.write(`zqs: ${(err as Error).message}\n`);
        process.exitCode = EXIT.usage;
      }
    });
}

function placementParams(opts: { pos?: string; beforeUid?: string; afterUid?: string }) {
  const p: { pos?: number | "front" | "back"; before_uid?: string; after_uid?: string } = {};
  const pos = parsePos(opts.pos);
  if (pos !== undefined) p.pos = pos;
  if (opts.beforeUid !== undefined) p.before_uid = opts.beforeUid;
  if (opts.afterUid !== undefined) p.after_uid = opts.afterUid;
  return p;
}

function itemLine(it: Record<string, unknown>): string {
  const args = Array.isArray(it.args) && it.args.length > 0 ? ` ${JSON.stringify(it.args)}` : "";
  const kwargs =
    it.kwargs && typeof it.kwargs === "object" && Object.keys(it.kwargs).length > 0
      ? ` ${JSON.stringify(it.kwargs)}`
      : "";
  return `${inline(it.item_type)} ${inline(it.name)}${args}${kwargs}  ${inline(it.item_uid ?? "")}`;
}

/** Print task results; exit code 1 when one of them failed. */
async function printResults(api: REManagerAPI, g: GlobalOptions, uids: string[]): Promise<void> {
  const results: Record<string, unknown>[] = [];
  for (const uid of uids) results.push(await api.taskResult(uid));
  const failed = results.filter(
    (r) => (r.result as { success?: boolean } | null)?.success === false,
  );
  const missing = results.filter((r) => r.status === "not_found");
  if (g.json) printJson(uids.length === 1 ? results[0] : results);
  else {
    for (const r of results) {
      if (r.status === "not_found") {
        out(`${inline(r.task_uid)}  not_found`);
        continue;
      }
      const res = (r.result ?? {}) as Record<string, unknown>;
      const head = `${inline(r.task_uid)}  ${res.success === false ? "failed" : r.status === "completed" ? "succeeded" : inline(r.status)}`;
      const body =
        res.success === false
          ? `  ${inline(res.msg)}`
          : `  return_value: ${JSON.stringify(res.return_value ?? null)}`;
      out(`${head}\n${body}`);
    }
  }
  if (missing.length > 0 && failed.length === 0) {
    throw new OutcomeError(
      `${missing.length === 1 ? `task ${inline(missing[0]?.task_uid)} was` : `${missing.length} tasks were`} not found (unknown, or its result expired)`,
    );
  }
  if (failed.length > 0) {
    throw new OutcomeError(
      failed.length === 1
        ? `task ${inline(failed[0]?.task_uid)} failed: ${inline((failed[0]?.result as { msg?: string }).msg)}`
        : `${failed.length} tasks failed`,
    );
  }
}
