/**
 * One spec per command: its arguments and options are declared once, as
 * constant tables (help text, parser, default, the method parameter each
 * fills); commander is set up from the tables, and the values a handler
 * receives have types inferred from the same tables. Nothing is declared
 * twice and no handler casts what commander hands it.
 *
 * An option's flag is its key in kebab case (`waitTimeout` → `--wait-timeout`),
 * which is also the key commander stores it under.
 */
import { Argument } from "commander";
import type { Option } from "commander";
import type { Command } from "commander";
import type { MethodName } from "../protocol/index.js";
import { supportedParams } from "../protocol/index.js";
import type { OptionSpec as BaseOptionSpec } from "../options/spec.js";
import { commanderOption, resolveOption } from "../options/spec.js";

/**
 * A client command's option: the one option type of zqs (src/options/spec.ts),
 * its flag from its key. Its parser throws `UsageError` naming the flag; its
 * default is the handler's value when the option is absent (not shown in --help).
 */
export interface OptionSpec<T = unknown> extends BaseOptionSpec<T> {
  /** A short alias such as `-a`. */
  short?: `-${string}`;
  /** The only values accepted (commander lists them in --help). */
  choices?: readonly string[];
  /** The parameter of the command's method it fills (`true`: its own name in snake_case). */
  param?: string | true;
}

export interface ArgumentSpec {
  description: string;
  /** `[name]` rather than `<name>`. */
  optional?: boolean;
  /** `name...`: the rest of the arguments, as a list. */
  variadic?: boolean;
  /** Shown in --help. */
  default?: string;
  param?: string | true;
}

export type OptionsSpec = Readonly<Record<string, OptionSpec>>;
export type ArgumentsSpec = Readonly<Record<string, ArgumentSpec>>;

type OptionValue<S> = S extends { parse: (text: string, flag: string) => infer T }
  ? T
  : S extends { choices: readonly (infer C)[] }
    ? C
    : S extends { value: `${string}...>` }
      ? string[]
      : S extends { value: string }
        ? string
        : boolean;
/** A switch is `true`/`false`; a valued option is `undefined` when absent unless it has a default. */
export type OptionValues<O extends OptionsSpec> = {
  -readonly [K in keyof O]: O[K] extends { value: string }
    ? O[K] extends { default: unknown }
      ? OptionValue<O[K]>
      : OptionValue<O[K]> | undefined
    : OptionValue<O[K]>;
};
export type ArgumentValues<A extends ArgumentsSpec> = {
  -readonly [K in keyof A]: A[K] extends { variadic: true }
    ? string[]
    : A[K] extends { optional: true }
      ? A[K] extends { default: string }
        ? string
        : string | undefined
      : string;
};

const kebab = (key: string) =>
  key.replace(/_/g, "-").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function flagOf(key: string): string {
  return `--${kebab(key)}`;
}

/** The commander option of a spec entry. */
export function toOption(key: string, s: OptionSpec): Option {
  const opt = commanderOption(flagOf(key), s, s.short);
  if (s.choices) opt.choices(s.choices);
  return opt;
}

function toArgument(name: string, s: ArgumentSpec): Argument {
  const inner = `${name}${s.variadic ? "..." : ""}`;
  const arg = new Argument(s.optional ? `[${inner}]` : `<${inner}>`, s.description);
  if (s.default !== undefined) arg.default(s.default);
  return arg;
}

/** The values of parsed options (own or global), by the spec. */
export function readOptions<O extends OptionsSpec>(
  spec: O,
  raw: Record<string, unknown>,
): OptionValues<O> {
  return readValues(spec, raw) as OptionValues<O>;
}

function readValues(spec: OptionsSpec, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    const v = raw[toOption(key, s).attributeName()];
    out[key] = s.value ? resolveOption(s, flagOf(key), v, process.env) : v === true;
  }
  return out;
}

export interface Bound<A extends ArgumentsSpec, O extends OptionsSpec> {
  /** Parse what commander got; `params` are those filling the method's parameters. */
  read(): { args: ArgumentValues<A>; opts: OptionValues<O>; params: Record<string, unknown> };
}

/**
 * Add the arguments and options of a spec to `cmd`. Each `param` is checked
 * against the method's parameters in the protocol table (a typo fails at once).
 */
export function bindSpec<A extends ArgumentsSpec, O extends OptionsSpec>(
  cmd: Command,
  spec: { arguments?: A; options?: O; method?: MethodName },
): Bound<A, O> {
  const argSpec = spec.arguments ?? ({} as A);
  const optSpec = spec.options ?? ({} as O);
  const fills: [source: "args" | "opts", key: string, param: string][] = [];
  const link = (source: "args" | "opts", key: string, param: string | true | undefined) => {
    if (param === undefined) return;
    const name = param === true ? snake(key) : param;
    if (!spec.method || !supportedParams(spec.method).includes(name))
      throw new Error(
        `zqs ${cmd.name()}: '${key}' fills '${name}', not a parameter of ${spec.method ?? "any method"}`,
      );
    fills.push([source, key, name]);
  };
  for (const [name, s] of Object.entries(argSpec)) {
    cmd.addArgument(toArgument(name, s));
    link("args", name, s.param);
  }
  for (const [key, s] of Object.entries(optSpec)) {
    cmd.addOption(toOption(key, s));
    link("opts", key, s.param);
  }
  return {
    read() {
      const given: unknown[] = cmd.processedArgs;
      const values: Record<string, unknown> = {};
      Object.keys(argSpec).forEach((name, i) => (values[name] = given[i]));
      const opts = readValues(optSpec, cmd.opts());
      const params: Record<string, unknown> = {};
      for (const [source, key, name] of fills) {
        const v = (source === "args" ? values : opts)[key];
        if (v !== undefined) params[name] = v;
      }
      return { args: values as ArgumentValues<A>, opts: opts as OptionValues<O>, params };
    },
  };
}
