/**
 * What the startup code holds, in the Python server's shapes.
 *
 * `Environment` collects the exports of the startup modules (later modules
 * override earlier names) into functions, plans and devices, describes them as
 * `plans_existing` / `devices_existing` entries, resolves device names (also
 * dotted sub-device names such as `sim_bundle_A.dets.det_A`) and binds
 * Python-style calls (see `bind.ts` for how keyword arguments reach JavaScript).
 *
 * Classification of an export:
 *  - plan: marked with `plan()`, or a generator function (async or not);
 *  - function: marked with `func()`, or any other function that is not a class;
 *  - device: an object marked with `device()`;
 *  - anything else (classes, constants, the `default` export) is ignored.
 *
 * Parameters come from `plan()`/`func()` metadata; otherwise they are read from
 * the function's source text by `params-parse.ts` (names, kinds, defaults; a
 * trailing object pattern `{ a = 1, ...rest } = {}` is the keyword options
 * object: its keys are KEYWORD_ONLY parameters and `...rest` is VAR_KEYWORD).
 */
import {
  DEVICE_META,
  FUNC_META,
  PLAN_META,
  type CallableMeta,
  type DeviceMeta,
  type ParameterMeta,
} from "./api.js";
import { bindArguments, hasDefault, kindOf } from "./bind.js";
import type { EnvironmentContent } from "../protocol/ipc.js";
import {
  KIND_VALUES,
  type DeviceDescription,
  type ParameterDescription,
  type PlanDescription,
} from "../protocol/plan-params.js";
import { setOwn } from "../protocol/own.js";
import { pyRepr } from "../protocol/pyrepr.js";
import { parseParameters, type ParameterInfo } from "./params-parse.js";

export type AnyFunction = (...args: unknown[]) => unknown;

// ---- parameters -------------------------------------------------------------------

function sourceOf(fn: unknown): string | undefined {
  try {
    return Function.prototype.toString.call(fn);
  } catch {
    return undefined;
  }
}

/** Parameters of a function whose source cannot be read: any positional values. */
const UNKNOWN_SIGNATURE: ParameterInfo[] = [{ name: "args", kind: "VAR_POSITIONAL" }];

function metaOf(fn: unknown): CallableMeta | undefined {
  if (typeof fn !== "function") return undefined;
  const rec = fn as unknown as Record<symbol, CallableMeta | undefined>;
  return rec[PLAN_META] ?? rec[FUNC_META];
}

function mergeParam(parsed: ParameterInfo, meta: ParameterMeta): ParameterInfo {
  const out: ParameterInfo = { ...parsed, ...meta, kind: meta.kind ?? parsed.kind };
  if (hasDefault(meta)) delete out.defaultRepr;
  return out;
}

/**
 * The parameters of a plan or function: from `meta` (or the metadata `plan()`
 * / `func()` attached), else read from the source. Metadata that names only
 * parameters found in the source is merged into the source's list (so it may
 * describe some parameters only); metadata naming others replaces the list.
 */
export function parameterList(fn: unknown, meta?: CallableMeta): ParameterInfo[] {
  const m = meta ?? metaOf(fn);
  const source = sourceOf(fn);
  const parsed = source === undefined ? undefined : parseParameters(source);
  const given = m?.parameters;
  if (!given) return parsed ?? UNKNOWN_SIGNATURE;
  if (parsed) {
    const names = new Set(parsed.map((p) => p.name));
    if (given.every((p) => names.has(p.name))) {
      return parsed.map((p) => {
        const g = given.find((q) => q.name === p.name);
        return g ? mergeParam(p, g) : p;
      });
    }
  }
  return given.map((p) => ({ ...p, kind: kindOf(p) }));
}

// ---- classification ---------------------------------------------------------------

const AsyncGeneratorFunction = (
  Object.getPrototypeOf(async function* () {}) as { constructor: unknown }
).constructor;
const GeneratorFunction = (Object.getPrototypeOf(function* () {}) as { constructor: unknown })
  .constructor;

function isClass(fn: unknown): boolean {
  return /^class[\s{]/.test(sourceOf(fn) ?? "");
}

export function isDevice(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    (value as Record<symbol, unknown>)[DEVICE_META] !== undefined
  );
}

export function isPlan(value: unknown): value is AnyFunction {
  if (typeof value !== "function") return false;
  const rec = value as unknown as Record<symbol, unknown>;
  if (rec[PLAN_META] !== undefined) return true;
  if (rec[FUNC_META] !== undefined) return false;
  return (
    value instanceof (AsyncGeneratorFunction as never) ||
    value instanceof (GeneratorFunction as never)
  );
}

export function isFunction(value: unknown): value is AnyFunction {
  return typeof value === "function" && !isPlan(value) && !isDevice(value) && !isClass(value);
}

// ---- descriptions -----------------------------------------------------------------

const DEVICE_WORDS = /__READABLE__|__MOVABLE__|__FLYABLE__|__DEVICE__/;
const TYPE_ANNOTATIONS: Record<string, string | undefined> = {
  int: "int",
  float: "float",
  number: "float",
  str: "str",
  bool: "bool",
  list: "list",
  dict: "dict",
  any: undefined,
};

function annotationText(p: ParameterMeta): string | undefined {
  return p.annotation ?? (p.type ? TYPE_ANNOTATIONS[p.type] : undefined);
}

/**
 * Whether device names given for this parameter become devices: the explicit
 * `convertDeviceNames`, else yes for an annotation naming device kinds or
 * custom device lists, and yes for a parameter with no annotation at all (as
 * the Python server converts every device name in unannotated parameters).
 */
export function convertsDeviceNames(p: ParameterMeta): boolean {
  if (p.convertDeviceNames !== undefined) return p.convertDeviceNames;
  const a = annotationText(p);
  if (a === undefined) return p.type === undefined;
  return DEVICE_WORDS.test(a) || (p.devices !== undefined && Object.keys(p.devices).length > 0);
}

function isFloatAnnotation(p: ParameterMeta): boolean {
  if (p.type === "float" || p.type === "number") return true;
  const a = p.annotation ?? "";
  return /\bfloat\b/.test(a) && !/\bint\b/.test(a);
}

export class Environment {
  private readonly signatures = new WeakMap<AnyFunction, ParameterInfo[]>();
  readonly functions = new Map<string, AnyFunction>();
  readonly plans = new Map<string, AnyFunction>();
  readonly devices = new Map<string, object>();
  /** Name → the startup module it came from (for `module` when metadata gives none). */
  private readonly origins = new Map<string, string>();

  /** Add a module's exports; names already known are replaced. */
  addModule(exports: Readonly<Record<string, unknown>>, moduleName: string): void {
    for (const [name, value] of Object.entries(exports)) {
      if (name === "default") continue;
      let target: Map<string, unknown> | undefined;
      if (isDevice(value)) target = this.devices;
      else if (isPlan(value)) target = this.plans;
      else if (isFunction(value)) target = this.functions;
      if (!target) continue;
      this.functions.delete(name);
      this.plans.delete(name);
      this.devices.delete(name);
      target.set(name, value);
      this.origins.set(name, moduleName);
    }
  }

  /** What the worker reports to the manager. */
  describe(): EnvironmentContent {
    return {
      plans_existing: this.describePlans(),
      devices_existing: this.describeDevices(),
      functions: [...this.functions.keys()],
    };
  }

  describePlans(): Record<string, PlanDescription> {
    const out: Record<string, PlanDescription> = {};
    for (const name of this.plans.keys()) {
      const d = this.describePlan(name);
      if (d) out[name] = d;
    }
    return out;
  }

  /** The `plans_existing` entry of one plan. */
  describePlan(name: string): PlanDescription | undefined {
    const fn = this.plans.get(name);
    if (!fn) return undefined;
    const meta = metaOf(fn) ?? {};
    const d: PlanDescription = {
      name,
      properties: { is_generator: true },
      parameters: this.signature(fn).map((p) => this.describeParameter(p)),
      module: meta.module ?? this.origins.get(name) ?? "",
    };
    if (meta.description !== undefined) d.description = meta.description;
    return d;
  }

  /** One `parameters` entry, in the Python server's key order. */
  describeParameter(p: ParameterInfo): ParameterDescription {
    const kind = kindOf(p);
    const d: ParameterDescription = {
      name: p.name,
      kind: { name: kind, value: KIND_VALUES[kind] },
    };
    if (p.description !== undefined) d.description = p.description;
    const a = annotationText(p);
    if (a !== undefined) {
      d.annotation = { type: a };
      if (p.devices) d.annotation.devices = p.devices;
      if (p.enums) d.annotation.enums = p.enums;
    }
    if (hasDefault(p)) d.default = p.defaultRepr ?? this.defaultRepr(p.default, p);
    if (p.convertDeviceNames !== undefined) d.convert_device_names = p.convertDeviceNames;
    else if (a !== undefined && convertsDeviceNames(p)) d.convert_device_names = true;
    return d;
  }

  private defaultRepr(value: unknown, p: ParameterMeta): string {
    if (value === undefined || value === null) return "None";
    if (typeof value === "number" && Number.isInteger(value) && isFloatAnnotation(p)) {
      return `${value}.0`;
    }
    return pyRepr(this.toPlain(value, new Set()));
  }

  /** Devices by name, functions by name, for reprs of defaults. */
  private toPlain(value: unknown, seen: Set<unknown>): unknown {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return value;
    if (seen.has(value)) return "...";
    if (typeof value === "function") return (value as { name?: string }).name ?? "<function>";
    if (isDevice(value)) return this.deviceName(value) ?? "<device>";
    seen.add(value);
    if (Array.isArray(value)) return value.map((v) => this.toPlain(v, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.toPlain(v, seen);
    return out;
  }

  private deviceName(obj: object): string | undefined {
    for (const [name, d] of this.devices) if (d === obj) return name;
    return undefined;
  }

  describeDevices(): Record<string, DeviceDescription> {
    const out: Record<string, DeviceDescription> = {};
    for (const [name, obj] of this.devices) {
      out[name] = describeDevice(obj, this.origins.get(name) ?? "", new Set());
    }
    return out;
  }

  /** A device by name; dotted names walk the components (`sim_bundle_A.dets.det_A`). */
  findDevice(name: string): object | undefined {
    const [top, ...rest] = name.split(".");
    let obj: object | undefined = top === undefined ? undefined : this.devices.get(top);
    for (const part of rest) {
      if (!obj) return undefined;
      obj = componentsOf(obj).get(part);
    }
    return obj;
  }

  /** Replace device names by devices in a value (strings, nested lists, dict values). */
  convertDeviceNames(value: unknown): unknown {
    if (typeof value === "string") return this.findDevice(value) ?? value;
    if (Array.isArray(value)) return value.map((v) => this.convertDeviceNames(v));
    if (
      value !== null &&
      typeof value === "object" &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) setOwn(out, k, this.convertDeviceNames(v));
      return out;
    }
    return value;
  }

  /**
   * Look up a plan and lay out its call: Python-style binding (TypeError on a
   * mismatch) and device names turned into devices where the parameter says so.
   */
  bindPlan(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
  ): { plan: AnyFunction; args: unknown[] } {
    const plan = this.plans.get(name);
    if (!plan) throw new Error(`Plan '${name}' is not found in the worker namespace`);
    const bound = bindArguments(name, this.signature(plan), args, kwargs, (p, v) =>
      convertsDeviceNames(p) ? this.convertDeviceNames(v) : v,
    );
    return { plan, args: bound };
  }

  /** Look up a function and lay out its call (no device conversion, as in the Python server). */
  bindFunction(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
  ): { fn: AnyFunction; args: unknown[] } {
    const fn = this.functions.get(name);
    if (!fn) throw new Error(`Function '${name}' is not found in the worker namespace`);
    return { fn, args: bindArguments(name, this.signature(fn), args, kwargs) };
  }

  /** A callable's parameter list, read from its source once (every call and description uses it). */
  private signature(fn: AnyFunction): ParameterInfo[] {
    let sig = this.signatures.get(fn);
    if (!sig) {
      sig = parameterList(fn);
      this.signatures.set(fn, sig);
    }
    return sig;
  }
}

// ---- devices ----------------------------------------------------------------------

function deviceMetaOf(obj: object): DeviceMeta {
  return ((obj as Record<symbol, unknown>)[DEVICE_META] as DeviceMeta | undefined) ?? {};
}

/** Named sub-devices: `components` of the metadata, else own properties that are devices. */
export function componentsOf(obj: object): Map<string, object> {
  const meta = deviceMetaOf(obj);
  const out = new Map<string, object>();
  if (meta.components) {
    for (const [k, v] of Object.entries(meta.components)) {
      if (v !== null && (typeof v === "object" || typeof v === "function")) out.set(k, v);
    }
    return out;
  }
  for (const [k, v] of Object.entries(obj)) if (isDevice(v)) out.set(k, v as object);
  return out;
}

function hasMethod(obj: object, name: string): boolean {
  return typeof (obj as Record<string, unknown>)[name] === "function";
}

/** A `devices_existing` entry: flags, class and module, components recursively. */
export function describeDevice(
  obj: object,
  defaultModule: string,
  seen: Set<object>,
): DeviceDescription {
  const meta = deviceMetaOf(obj);
  const ctor = (obj as { constructor?: { name?: string } }).constructor;
  const d: DeviceDescription = {
    is_readable: meta.isReadable ?? hasMethod(obj, "read"),
    is_movable: meta.isMovable ?? hasMethod(obj, "set"),
    is_flyable: meta.isFlyable ?? (hasMethod(obj, "kickoff") && hasMethod(obj, "complete")),
    classname: meta.classname ?? ctor?.name ?? "Object",
    module: meta.module ?? defaultModule,
  };
  seen.add(obj);
  const components: Record<string, DeviceDescription> = {};
  for (const [name, c] of componentsOf(obj)) {
    if (seen.has(c)) continue;
    components[name] = describeDevice(c, d.module, seen);
  }
  seen.delete(obj);
  if (Object.keys(components).length > 0) d.components = components;
  return d;
}
