/**
 * Defining a client command: a spec (name, help, arguments, options, and the
 * protocol method it maps to) and a handler. The handler gets a connected
 * client, typed arguments and options, `call` for the command's method with
 * the parameters its arguments and options fill, and `show` for the reply.
 * Errors become a reason on stderr and an exit code (see errors.ts).
 */
import type { Command } from "commander";
import type { CallOptions } from "../client/index.js";
import { REManagerAPI } from "../client/index.js";
import type { MethodName, ParamsIn, ReplyOf } from "../protocol/index.js";
import { methods } from "../protocol/index.js";
import type { GlobalOptions } from "./connection.js";
import { clientOptions, GLOBAL_OPTIONS } from "./connection.js";
import { exitCodeOf, reasonOf } from "./errors.js";
import { show } from "./output.js";
import type { ArgumentsSpec, ArgumentValues, OptionsSpec, OptionValues } from "./spec.js";
import { bindSpec, readOptions } from "./spec.js";

export interface CommandSpec<A extends ArgumentsSpec, O extends OptionsSpec, M extends MethodName> {
  name: string;
  /** Help text; by default the method's summary. */
  description?: string;
  /** The protocol method the command sends (its summary, its parameter names). */
  method?: M;
  arguments?: A;
  options?: O;
}

export interface LocalContext<A extends ArgumentsSpec, O extends OptionsSpec> {
  g: GlobalOptions;
  args: ArgumentValues<A>;
  opts: OptionValues<O>;
  /** Print a reply: JSON with `--json`, else `text()` (default: its message and data). */
  show: (reply: Record<string, unknown>, text?: () => string) => void;
}

export interface Context<
  A extends ArgumentsSpec,
  O extends OptionsSpec,
  M extends MethodName,
> extends LocalContext<A, O> {
  api: REManagerAPI;
  /** Send the command's method: the parameters its arguments and options fill, and `extra`. */
  call: (extra?: Partial<ParamsIn<M>>, options?: CallOptions) => Promise<ReplyOf<M>>;
}

/** The help text of a method's command: its summary, as the CLI writes it. */
export function describeMethod(method: MethodName): string {
  const text = methods[method].summary.replace(/\.$/, "");
  return `${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}

/** A group of commands (`zqs queue ...`). */
export function group(parent: Command, name: string, description: string): Command {
  return parent.command(name).description(description);
}

type None = Record<never, never>;

function describe(spec: { name: string; description?: string; method?: MethodName }): string {
  const d = spec.description ?? (spec.method ? describeMethod(spec.method) : undefined);
  if (d === undefined) throw new Error(`zqs ${spec.name}: give a description or a method`);
  return d;
}

/** Run `body` as the action of `cmd`: a throw is reported with its exit code. */
function act(cmd: Command, body: (g: GlobalOptions) => Promise<void>): void {
  cmd.action(async () => {
    try {
      await body(readOptions(GLOBAL_OPTIONS, cmd.optsWithGlobals()));
    } catch (err) {
      process.stderr.write(`zqs: ${reasonOf(err)}\n`);
      process.exitCode = exitCodeOf(err);
    }
  });
}

/**
 * A command that talks to the manager. Without `run` it sends its method and
 * shows the reply. The client options are checked first, then the arguments
 * and options, before any request.
 */
export function command<
  const A extends ArgumentsSpec = None,
  const O extends OptionsSpec = None,
  const M extends MethodName = never,
>(
  parent: Command,
  spec: CommandSpec<A, O, M>,
  run?: (ctx: Context<A, O, M>) => Promise<void>,
): Command {
  const cmd = parent.command(spec.name).description(describe(spec));
  const bound = bindSpec(cmd, spec);
  act(cmd, async (g) => {
    const api = new REManagerAPI(clientOptions(g));
    try {
      const { args, opts, params } = bound.read();
      const call = (extra: Partial<ParamsIn<M>> = {}, options: CallOptions = {}) => {
        if (spec.method === undefined) throw new Error(`zqs ${spec.name}: no method to call`);
        return api.request(spec.method, { ...params, ...extra }, options);
      };
      const ctx: Context<A, O, M> = {
        g,
        args,
        opts,
        api,
        call,
        show: (reply, text) => show(g.json, reply, text),
      };
      if (run) await run(ctx);
      else ctx.show(await call());
    } finally {
      await api.close();
    }
  });
  return cmd;
}

/** A command that needs no manager (`zqs keys`). */
export function localCommand<
  const A extends ArgumentsSpec = None,
  const O extends OptionsSpec = None,
>(
  parent: Command,
  spec: Omit<CommandSpec<A, O, never>, "method">,
  run: (ctx: LocalContext<A, O>) => void | Promise<void>,
): Command {
  const cmd = parent.command(spec.name).description(describe(spec));
  const bound = bindSpec(cmd, spec);
  act(cmd, async (g) => {
    const { args, opts } = bound.read();
    await run({ g, args, opts, show: (reply, text) => show(g.json, reply, text) });
  });
  return cmd;
}
