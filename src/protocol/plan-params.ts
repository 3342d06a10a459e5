/**
 * Plan parameters as the Python server describes them (`plans_existing`), and
 * the checks both sides share:
 *
 *  - `matchArguments`: Python's rules for mapping `args` + `kwargs` onto a
 *    signature, with CPython's TypeError messages. The worker binds calls with
 *    it (`src/worker/bind.ts`); the manager validates queue items with it.
 *  - `validatePlanItem`: what the manager checks on `queue_item_add`, from the
 *    JSON description alone: unknown, missing and duplicate parameters, and
 *    values against the parameter's annotation (`int`, `typing.Optional[int]`,
 *    `collections.abc.Sequence[__READABLE__]`, custom device lists...).
 *
 * Pure: no Node imports, nothing of the manager or the worker.
 */
import { ownValue, setOwn } from "./own.js";
import { pyRepr } from "./pyrepr.js";

export type ParameterKindName =
  "POSITIONAL_ONLY" | "POSITIONAL_OR_KEYWORD" | "VAR_POSITIONAL" | "KEYWORD_ONLY" | "VAR_KEYWORD";

export const KIND_VALUES: Record<ParameterKindName, number> = {
  POSITIONAL_ONLY: 0,
  POSITIONAL_OR_KEYWORD: 1,
  VAR_POSITIONAL: 2,
  KEYWORD_ONLY: 3,
  VAR_KEYWORD: 4,
};

/** `annotation` of a parameter in `plans_existing`. */
export interface AnnotationDescription {
  /** Python type text, e.g. `typing.Optional[int]`, `typing.List[Motors]`. */
  type: string;
  /** Custom device lists named in `type`: name → device names (`:regex` allowed). */
  devices?: Record<string, string[]>;
  /** Custom plan lists named in `type`. */
  plans?: Record<string, string[]>;
  /** Custom enums named in `type`: name → allowed values. */
  enums?: Record<string, unknown[]>;
}

/** One entry of `parameters` in `plans_existing` (the Python server's key order). */
export interface ParameterDescription {
  name: string;
  kind: { name: ParameterKindName; value: number };
  description?: string;
  annotation?: AnnotationDescription;
  /** Python repr of the default value; present when the parameter is optional. */
  default?: string;
  convert_device_names?: boolean;
}

/** One entry of `plans_existing`. */
export interface PlanDescription {
  name: string;
  properties: { is_generator: boolean };
  parameters: ParameterDescription[];
  module: string;
  description?: string;
}

/** One entry of `devices_existing` (and of its `components`). */
export interface DeviceDescription {
  is_readable: boolean;
  is_movable: boolean;
  is_flyable: boolean;
  classname: string;
  module: string;
  components?: Record<string, DeviceDescription>;
}

// ---- argument matching ----------------------------------------------------------

/** What matching needs to know of a parameter. */
export interface SignatureParameter {
  name: string;
  kind: ParameterKindName;
  hasDefault: boolean;
}

export interface MatchedArguments {
  /** Values given for named parameters (positionally or by keyword), by name. */
  values: Map<string, unknown>;
  /** Positional values beyond the named ones (for `*args`). */
  varArgs: unknown[];
  /** Keywords that name no parameter (for `**kwargs`), in the order given. */
  varKwargs: Record<string, unknown>;
}

/** A call does not fit the signature; the message is CPython's. */
export class ArgumentError extends TypeError {
  override name = "TypeError";
}

function quoteList(names: string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length === 1) return q[0] ?? "";
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(", ")}, and ${q[q.length - 1]}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Map Python-style `args` and `kwargs` onto a signature, in CPython's order of
 * checks: keywords (unexpected, duplicate, positional-only), then too many
 * positional arguments, then missing positional, then missing keyword-only.
 * Throws `ArgumentError` ("count() got an unexpected keyword argument 'foo'").
 */
export function matchArguments(
  fnName: string,
  params: readonly SignatureParameter[],
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): MatchedArguments {
  const positional = params.filter(
    (p) => p.kind === "POSITIONAL_ONLY" || p.kind === "POSITIONAL_OR_KEYWORD",
  );
  const hasVarArgs = params.some((p) => p.kind === "VAR_POSITIONAL");
  const hasVarKwargs = params.some((p) => p.kind === "VAR_KEYWORD");
  const values = new Map<string, unknown>();
  const varKwargs: Record<string, unknown> = {};

  const n = Math.min(args.length, positional.length);
  for (let i = 0; i < n; i++) {
    const p = positional[i];
    if (p) values.set(p.name, args[i]);
  }
  const varArgs = args.slice(n);

  const positionalOnlyAsKeyword: string[] = [];
  for (const [key, value] of Object.entries(kwargs)) {
    const p = params.find(
      (q) => q.name === key && q.kind !== "VAR_POSITIONAL" && q.kind !== "VAR_KEYWORD",
    );
    if (p && p.kind !== "POSITIONAL_ONLY") {
      if (values.has(key)) {
        throw new ArgumentError(`${fnName}() got multiple values for argument '${key}'`);
      }
      values.set(key, value);
    } else if (hasVarKwargs) {
      setOwn(varKwargs, key, value);
    } else if (p) {
      positionalOnlyAsKeyword.push(key);
    } else {
      throw new ArgumentError(`${fnName}() got an unexpected keyword argument '${key}'`);
    }
  }
  if (positionalOnlyAsKeyword.length > 0) {
    throw new ArgumentError(
      `${fnName}() got some positional-only arguments passed as keyword arguments: ` +
        positionalOnlyAsKeyword.map((k) => `'${k}'`).join(", "),
    );
  }

  if (varArgs.length > 0 && !hasVarArgs) {
    const required = positional.filter((p) => !p.hasDefault).length;
    const max = positional.length;
    const takes =
      required === max
        ? `takes ${plural(max, "positional argument")}`
        : `takes from ${required} to ${max} positional arguments`;
    const given = args.length;
    throw new ArgumentError(
      `${fnName}() ${takes} but ${given} ${given === 1 ? "was" : "were"} given`,
    );
  }

  const missing = positional.filter((p) => !p.hasDefault && !values.has(p.name)).map((p) => p.name);
  if (missing.length > 0) {
    throw new ArgumentError(
      `${fnName}() missing ${plural(missing.length, "required positional argument")}: ${quoteList(missing)}`,
    );
  }
  const missingKw = params
    .filter((p) => p.kind === "KEYWORD_ONLY" && !p.hasDefault && !values.has(p.name))
    .map((p) => p.name);
  if (missingKw.length > 0) {
    throw new ArgumentError(
      `${fnName}() missing ${plural(missingKw.length, "required keyword-only argument")}: ${quoteList(missingKw)}`,
    );
  }
  return { values, varArgs, varKwargs };
}

// ---- Python type annotations ----------------------------------------------------

/** A parsed annotation: `name[args]`, a literal inside `Literal[...]`, or a bracket list. */
export type TypeNode =
  | { kind: "name"; name: string; args: TypeNode[] }
  | { kind: "literal"; value: unknown }
  | { kind: "list"; items: TypeNode[] };

const PREFIXES = ["typing.", "typing_extensions.", "collections.abc.", "builtins.", "types."];

function bareName(name: string): string {
  for (const p of PREFIXES) if (name.startsWith(p)) return name.slice(p.length);
  return name;
}

/** Parse a Python type expression; `undefined` when it cannot be read (then anything goes). */
export function parseAnnotation(text: string): TypeNode | undefined {
  const tokens = text.match(
    /\.\.\.|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|[\w.]+|[[\],|]/g,
  );
  if (!tokens || tokens.join("").replace(/\s/g, "") !== text.replace(/\s/g, "")) return undefined;
  let i = 0;
  const peek = (): string | undefined => tokens[i];

  function parseUnion(): TypeNode {
    const first = parseAtom();
    const options = [first];
    while (peek() === "|") {
      i++;
      options.push(parseAtom());
    }
    return options.length === 1 ? first : { kind: "name", name: "Union", args: options };
  }
  function parseArgs(close: string): TypeNode[] {
    const out: TypeNode[] = [];
    while (peek() !== close) {
      out.push(parseUnion());
      if (peek() === ",") i++;
      else if (peek() !== close) throw new Error("expected ','");
    }
    i++;
    return out;
  }
  function parseAtom(): TypeNode {
    const t = tokens?.[i++];
    if (t === undefined) throw new Error("unexpected end");
    if (t === "[") return { kind: "list", items: parseArgs("]") };
    if (t.startsWith("'") || t.startsWith('"')) {
      return { kind: "literal", value: t.slice(1, -1).replace(/\\(.)/g, "$1") };
    }
    if (/^-?\d/.test(t)) return { kind: "literal", value: Number(t) };
    if (t === "...") return { kind: "name", name: "...", args: [] };
    if (t === "True" || t === "False") return { kind: "literal", value: t === "True" };
    if (!/^[\w.]+$/.test(t)) throw new Error(`unexpected '${t}'`);
    let args: TypeNode[] = [];
    if (peek() === "[") {
      i++;
      args = parseArgs("]");
    }
    return { kind: "name", name: bareName(t), args };
  }
  try {
    const node = parseUnion();
    return i === tokens.length ? node : undefined;
  } catch {
    return undefined;
  }
}

const DEVICE_MARKERS = new Set([
  "__READABLE__",
  "__MOVABLE__",
  "__FLYABLE__",
  "__DEVICE__",
  "ophyd.Device",
  "ophyd.device.Device",
  "ophyd.Signal",
  "ophyd.signal.Signal",
]);
const LIST_NAMES = new Set([
  "list",
  "List",
  "Sequence",
  "MutableSequence",
  "Iterable",
  "Collection",
  "set",
  "Set",
  "frozenset",
  "FrozenSet",
  "AbstractSet",
]);
const DICT_NAMES = new Set(["dict", "Dict", "Mapping", "MutableMapping"]);
const ANY_NAMES = new Set(["Any", "object", "Callable", "Generator", "Iterator"]);

export interface ValidationContext {
  annotation: AnnotationDescription;
  /** Names a user may pass as devices; null/undefined: no restriction. */
  allowedDevices?: Set<string> | null;
  /** Names of all existing devices (dotted for sub-devices). */
  existingDevices?: Set<string> | null;
}

interface Mismatch {
  /** Where inside the value (" (item 1)", " (key 'x')"), empty at the top. */
  where: string;
  expected: string;
  got: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function matchesListEntry(entry: string, name: string): boolean {
  if (!entry.startsWith(":")) return entry === name;
  const body = entry.slice(1).split(":")[0] ?? "";
  try {
    return new RegExp(body.replace(/^[?-]/, "")).test(name);
  } catch {
    return false;
  }
}

function describeType(t: TypeNode, ctx: ValidationContext): string {
  if (t.kind === "literal") return pyRepr(t.value);
  if (t.kind === "list") return "a list";
  const name = t.name;
  if (name === "int") return "an integer";
  if (name === "float" || name === "complex") return "a number";
  if (name === "str") return "a string";
  if (name === "bool") return "a boolean";
  if (name === "None" || name === "NoneType") return "None";
  if (name === "tuple" || name === "Tuple" || LIST_NAMES.has(name)) return "a list";
  if (DICT_NAMES.has(name)) return "a dictionary";
  if (DEVICE_MARKERS.has(name)) return "a device name";
  if (name === "__PLAN__") return "a plan name";
  if (name === "__CALLABLE__") return "a function name";
  if (name === "__PLAN_OR_DEVICE__") return "a device or plan name";
  if (name === "Optional") {
    const inner = t.args[0];
    return inner ? `${describeType(inner, ctx)} or None` : "None";
  }
  if (name === "Union") {
    return [...new Set(t.args.map((a) => describeType(a, ctx)))].join(" or ");
  }
  if (name === "Literal")
    return `one of ${pyRepr(t.args.map((a) => (a.kind === "literal" ? a.value : null)))}`;
  const custom = customList(name, ctx);
  if (custom) return `one of ${pyRepr(custom.filter((n) => !n.startsWith(":")))}`;
  return name;
}

function customList(name: string, ctx: ValidationContext): string[] | undefined {
  const a = ctx.annotation;
  return (
    ownValue(a.devices, name) ??
    ownValue(a.plans, name) ??
    (ownValue(a.enums, name) as string[] | undefined)
  );
}

function checkValue(
  t: TypeNode,
  v: unknown,
  ctx: ValidationContext,
  where = "",
): Mismatch | undefined {
  const fail = (): Mismatch => ({ where, expected: describeType(t, ctx), got: v });
  if (t.kind === "literal") return v === t.value ? undefined : fail();
  if (t.kind === "list") return undefined;
  const name = t.name;
  if (ANY_NAMES.has(name) || name === "...") return undefined;
  switch (name) {
    case "int":
      return typeof v === "number" && Number.isInteger(v) ? undefined : fail();
    case "float":
    case "complex":
      return typeof v === "number" ? undefined : fail();
    case "str":
      return typeof v === "string" ? undefined : fail();
    case "bool":
      return typeof v === "boolean" ? undefined : fail();
    case "None":
    case "NoneType":
      return v === null ? undefined : fail();
    case "Optional": {
      if (v === null) return undefined;
      const inner = t.args[0];
      if (!inner) return undefined;
      const m = checkValue(inner, v, ctx, where);
      return m && m.where === where ? fail() : m;
    }
    case "Union": {
      const results = t.args.map((a) => checkValue(a, v, ctx, where));
      if (results.some((r) => r === undefined)) return undefined;
      // One option fits the container but not an element: report the element.
      const deeper = results.filter((r): r is Mismatch => r !== undefined && r.where !== where);
      return deeper.length === 1 ? deeper[0] : fail();
    }
    case "Literal":
      return t.args.some((a) => a.kind === "literal" && a.value === v) ? undefined : fail();
    case "tuple":
    case "Tuple": {
      if (!Array.isArray(v)) return fail();
      const items = t.args;
      if (items.length === 2 && items[1]?.kind === "name" && items[1].name === "...") {
        const el = items[0];
        return el ? checkItems(el, v, ctx, where) : undefined;
      }
      if (items.length === 0) return undefined;
      if (items.length !== v.length) {
        return { where, expected: `a list of ${items.length} items`, got: v };
      }
      for (let k = 0; k < items.length; k++) {
        const el = items[k];
        const m = el ? checkValue(el, v[k], ctx, `${where} (item ${k})`) : undefined;
        if (m) return m;
      }
      return undefined;
    }
  }
  if (LIST_NAMES.has(name)) {
    if (!Array.isArray(v)) return fail();
    const el = t.args[0];
    return el ? checkItems(el, v, ctx, where) : undefined;
  }
  if (DICT_NAMES.has(name)) {
    if (!isPlainObject(v)) return fail();
    const valueType = t.args[1];
    if (!valueType) return undefined;
    for (const [k, item] of Object.entries(v)) {
      const m = checkValue(valueType, item, ctx, `${where} (key ${pyRepr(k)})`);
      if (m) return m;
    }
    return undefined;
  }
  if (
    DEVICE_MARKERS.has(name) ||
    name === "__PLAN__" ||
    name === "__CALLABLE__" ||
    name === "__PLAN_OR_DEVICE__"
  ) {
    // A name of something in the environment. Unknown names pass (they fail
    // when the plan runs), as in the Python server; an existing device that
    // the user's group may not use does not.
    if (typeof v !== "string") return fail();
    if (
      name !== "__PLAN__" &&
      name !== "__CALLABLE__" &&
      ctx.allowedDevices &&
      ctx.existingDevices?.has(v) &&
      !ctx.allowedDevices.has(v)
    ) {
      return { where, expected: "a device the user group may use", got: v };
    }
    return undefined;
  }
  const custom = customList(name, ctx);
  if (custom) {
    const isDeviceList = ownValue(ctx.annotation.devices, name) !== undefined;
    const ok =
      typeof v === "string"
        ? custom.some((entry) => matchesListEntry(entry, v))
        : custom.some((entry) => entry === v);
    if (!ok) return fail();
    if (isDeviceList && ctx.allowedDevices && typeof v === "string" && !ctx.allowedDevices.has(v)) {
      return { where, expected: "a device the user group may use", got: v };
    }
    return undefined;
  }
  // A type this check does not know (a class name...): accept.
  return undefined;
}

function checkItems(
  el: TypeNode,
  v: unknown[],
  ctx: ValidationContext,
  where: string,
): Mismatch | undefined {
  for (let k = 0; k < v.length; k++) {
    const m = checkValue(el, v[k], ctx, `${where} (item ${k})`);
    if (m) return m;
  }
  return undefined;
}

/**
 * Check one value against a parameter's annotation; returns the message or undefined.
 * `Parameter 'num': expected an integer, got 'three'`.
 */
export function checkParameterValue(
  param: Pick<ParameterDescription, "name" | "kind" | "annotation">,
  value: unknown,
  opts: { allowedDevices?: Set<string> | null; existingDevices?: Set<string> | null } = {},
): string | undefined {
  const annotation = param.annotation;
  if (!annotation?.type) return undefined;
  let t = parseAnnotation(annotation.type);
  if (!t) return undefined;
  const ctx: ValidationContext = { annotation, ...opts };
  const kind = param.kind.name;
  let m: Mismatch | undefined;
  if (kind === "VAR_POSITIONAL" || kind === "VAR_KEYWORD") {
    // The annotation of *args / **kwargs applies to each value. A tuple
    // annotation of *args (`tuple[Movable, list]`) lists what the values
    // alternate between.
    if (t.kind === "name" && (t.name === "tuple" || t.name === "Tuple") && t.args.length > 0) {
      t = { kind: "name", name: "Union", args: t.args };
    }
    const entries: [string, unknown][] =
      kind === "VAR_POSITIONAL" && Array.isArray(value)
        ? value.map((v, k) => [` (item ${k})`, v])
        : Object.entries(isPlainObject(value) ? value : {}).map(([k, v]) => [
            ` (key ${pyRepr(k)})`,
            v,
          ]);
    for (const [where, v] of entries) {
      m = checkValue(t, v, ctx, where);
      if (m) break;
    }
  } else {
    m = checkValue(t, value, ctx);
  }
  if (!m) return undefined;
  return `Parameter '${param.name}'${m.where}: expected ${m.expected}, got ${pyRepr(m.got)}`;
}

export interface PlanItemLike {
  name?: unknown;
  args?: unknown;
  kwargs?: unknown;
}

export interface ValidatePlanOptions {
  /** Device names (dotted for sub-devices) the user's group may use; null: all. */
  allowedDevices?: Set<string> | null;
  /**
   * Names of all existing devices. With both sets, an existing device that is
   * not allowed is refused; a name that is no device at all is accepted (the
   * plan fails when it runs), as the Python server does.
   */
  existingDevices?: Set<string> | null;
}

/**
 * Check a plan item against the plan's description from `plans_existing`.
 * Returns a message naming what is wrong, or undefined when the item is fine.
 */
export function validatePlanItem(
  item: PlanItemLike,
  planDescription: PlanDescription | undefined,
  opts: ValidatePlanOptions = {},
): string | undefined {
  const name = typeof item.name === "string" ? item.name : undefined;
  if (name === undefined) return "Plan name is not specified";
  if (!planDescription) return `Plan '${name}' is not in the list of allowed plans.`;
  const args = item.args ?? [];
  const kwargs = item.kwargs ?? {};
  if (!Array.isArray(args)) return `Plan '${name}': 'args' must be a list, got ${pyRepr(args)}`;
  if (!isPlainObject(kwargs)) {
    return `Plan '${name}': 'kwargs' must be a dictionary, got ${pyRepr(kwargs)}`;
  }
  const params = planDescription.parameters;
  let matched: MatchedArguments;
  try {
    matched = matchArguments(
      name,
      params.map((p) => ({ name: p.name, kind: p.kind.name, hasDefault: p.default !== undefined })),
      args,
      kwargs,
    );
  } catch (err) {
    if (err instanceof ArgumentError) return err.message;
    throw err;
  }
  for (const p of params) {
    let value: unknown;
    if (p.kind.name === "VAR_POSITIONAL") value = matched.varArgs;
    else if (p.kind.name === "VAR_KEYWORD") value = matched.varKwargs;
    else if (matched.values.has(p.name)) value = matched.values.get(p.name);
    else continue;
    const msg = checkParameterValue(p, value, opts);
    if (msg) return msg;
  }
  return undefined;
}

/** Every device name of a `devices_existing`/`devices_allowed` tree, sub-devices dotted. */
export function flattenDeviceNames(
  tree: Readonly<Record<string, unknown>>,
  prefix = "",
  out: Set<string> = new Set(),
): Set<string> {
  for (const [name, desc] of Object.entries(tree)) {
    const full = prefix ? `${prefix}.${name}` : name;
    out.add(full);
    const components = isPlainObject(desc) ? desc.components : undefined;
    if (isPlainObject(components)) flattenDeviceNames(components, full, out);
  }
  return out;
}
