/**
 * One style of option for every command of zqs: an option is declared once
 * (its flag, `<value>` placeholder, environment variable, default, help text
 * and parser) and read by one resolver: a value given on the command line
 * beats the environment variable, which beats the default; a value that does
 * not parse is refused with a message naming where it came from (the flag or
 * the variable).
 *
 * Tables of options (`zqs manager`, `zqs http`, `zqs worker`: an array of
 * `TableOption`, also README's option lists) and the keyed specs of the
 * client commands (src/cli/spec.ts, flags from their keys) share the type and
 * the resolver.
 */
import { Option } from "commander";
import type { Command } from "commander";

/** What every option declares. */
export interface OptionSpec<V = unknown> {
  /** Help text (README's "meaning"). */
  description: string;
  /** `<name>` (or `<names...>`: a list); without it the option is a switch. */
  value?: `<${string}>`;
  /** The environment variable read when the flag is not given. */
  env?: string;
  /** The value when neither the flag nor the variable is given. */
  default?: V;
  /**
   * Text → value. Throws when the text is wrong: with a message that names
   * `name` (the flag, or the variable the text came from), or with a bare
   * reason that the resolver prefixes with it.
   */
  parse?: (text: string, name: string) => V;
}

/** One row of an option table: its key in the options object, and its flag. */
export interface TableOption<K extends string = string, V = unknown> extends OptionSpec<V> {
  key: K;
  flag: `--${string}`;
  /** Commander refuses the command without it. */
  mandatory?: boolean;
}

/** `text` parsed by `s`, or the error naming `name` (the flag or the variable). */
export function parseOption<V>(s: OptionSpec<V>, name: string, text: string): V {
  if (!s.parse) return text as V;
  try {
    return s.parse(text, name);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (e.message.startsWith(name)) throw e;
    throw new Error(`${name}: ${e.message}`);
  }
}

/**
 * The value of one option: `given` (what the command line held: text, or
 * `true` for a switch) beats the environment variable, which beats the
 * default. Only text is parsed.
 */
export function resolveOption<V>(
  s: OptionSpec<V>,
  flag: string,
  given: unknown,
  env: NodeJS.ProcessEnv,
): V | undefined {
  let raw = given;
  let name = flag;
  const fromEnv = s.env === undefined ? undefined : env[s.env];
  if (raw === undefined && s.env !== undefined && fromEnv !== undefined && fromEnv !== "") {
    raw = fromEnv;
    name = s.env;
  }
  if (raw === undefined) return s.default;
  // A list (`<names...>`, the flag given once or more): its texts joined by commas, parsed as one.
  if (Array.isArray(raw) && s.parse) return parseOption(s, name, raw.join(","));
  return typeof raw === "string" ? parseOption(s, name, raw) : (raw as V);
}

/** The values of a table by key (`given`: commander's values by key). */
export function resolveTable<T>(
  table: readonly TableOption[],
  given: Partial<Record<string, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const out: Record<string, unknown> = {};
  for (const s of table) out[s.key] = resolveOption(s, s.flag, given[s.key], env);
  return out as T;
}

/** The defaults of a table by key. */
export function tableDefaults<T>(table: readonly TableOption[]): T {
  return Object.fromEntries(table.map((s) => [s.key, s.default])) as T;
}

/** A default worth showing: not absent, none, off or an empty list. */
export function shownDefault(s: OptionSpec): string | undefined {
  const d = s.default;
  if (d === undefined || d === null || d === false) return undefined;
  if (Array.isArray(d)) return d.length === 0 ? undefined : d.join(",");
  return typeof d === "string" || typeof d === "number" || typeof d === "boolean"
    ? String(d)
    : JSON.stringify(d);
}

/** The commander option of a spec (`short`: an alias such as `-a`). */
export function commanderOption(flag: string, s: OptionSpec, short?: string): Option {
  const long = `${flag}${s.value ? ` ${s.value}` : ""}`;
  return new Option(short ? `${short}, ${long}` : long, s.description);
}

/** Help of a table's option: its text, then its default and variable. */
export function tableHelp(s: TableOption): string {
  const notes = [
    shownDefault(s) === undefined ? "" : `default: ${shownDefault(s)}`,
    s.env ? `env ${s.env}` : "",
  ].filter(Boolean);
  return notes.length ? `${s.description} (${notes.join("; ")})` : s.description;
}

/** Add the options of a table to `cmd` (values stay text; `resolveTable` reads them). */
export function addTable(cmd: Command, table: readonly TableOption[]): void {
  for (const s of table) {
    const opt = commanderOption(s.flag, s);
    opt.description = tableHelp(s);
    if (s.mandatory) opt.makeOptionMandatory();
    cmd.addOption(opt);
  }
}
