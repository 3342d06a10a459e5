/**
 * Item builders, as in the Python API: `new BPlan("count", [["det1"]], {num: 3})`
 * is `{item_type: "plan", name: "count", args: [["det1"]], kwargs: {num: 3}}`.
 * An item is a plain map on the wire; these classes only check and build it.
 * Instances are plain data (own enumerable keys), so they serialize as maps and
 * can be passed wherever an item map is expected.
 */

import { setOwn } from "../protocol/own.js";

export const ITEM_TYPES = ["plan", "instruction", "function"] as const;
export type ItemType = (typeof ITEM_TYPES)[number];

/** An item map as it travels on the wire. */
export interface ItemDict {
  item_type: ItemType;
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  item_uid?: string;
  meta?: Record<string, unknown> | Record<string, unknown>[];
  [key: string]: unknown;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function check(dict: Record<string, unknown>): ItemDict {
  const t = dict.item_type;
  if (typeof t !== "string" || !(ITEM_TYPES as readonly string[]).includes(t)) {
    throw new TypeError(
      `Item type ${JSON.stringify(t)} is not supported: use one of ${ITEM_TYPES.join(", ")}`,
    );
  }
  if (typeof dict.name !== "string" || dict.name === "") {
    throw new TypeError("Item name must be a non-empty string");
  }
  if (dict.args !== undefined && !Array.isArray(dict.args)) {
    throw new TypeError("Item 'args' must be an array");
  }
  if (dict.kwargs !== undefined && !isPlainMap(dict.kwargs)) {
    throw new TypeError("Item 'kwargs' must be a map");
  }
  return dict as ItemDict;
}

export class BItem implements ItemDict {
  declare item_type: ItemType;
  declare name: string;
  declare args?: unknown[];
  declare kwargs?: Record<string, unknown>;
  declare item_uid?: string;
  declare meta?: Record<string, unknown> | Record<string, unknown>[];
  [key: string]: unknown;

  /** From an item map (or another BItem): a checked deep copy. */
  constructor(item: ItemDict | BItem | Record<string, unknown>);
  /** From its parts. */
  constructor(itemType: ItemType, name: string, args?: unknown[], kwargs?: Record<string, unknown>);
  constructor(
    first: ItemType | ItemDict | BItem | Record<string, unknown>,
    name?: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
  ) {
    let dict: Record<string, unknown>;
    if (typeof first === "string") {
      dict = { item_type: first, name };
      if (first !== "instruction" || args !== undefined) dict.args = args ?? [];
      if (first !== "instruction" || kwargs !== undefined) dict.kwargs = kwargs ?? {};
      dict = structuredClone(dict);
    } else if (isPlainMap(first)) {
      dict = structuredClone({ ...first });
    } else {
      throw new TypeError("BItem expects an item map or (itemType, name, args?, kwargs?)");
    }
    Object.assign(this, check(dict));
  }

  /** The item as a plain map (a copy). */
  toDict(): ItemDict {
    return structuredClone({ ...this });
  }

  toJSON(): ItemDict {
    return this.toDict();
  }
}

/** A plan: `new BPlan("count", [["det1", "det2"]], {num: 3})`. */
export class BPlan extends BItem {
  constructor(name: string, args?: unknown[], kwargs?: Record<string, unknown>) {
    super("plan", name, args, kwargs);
  }
}

/** A function for `functionExecute`: `new BFunc("function_sleep", [0.5])`. */
export class BFunc extends BItem {
  constructor(name: string, args?: unknown[], kwargs?: Record<string, unknown>) {
    super("function", name, args, kwargs);
  }
}

/** An instruction for the queue: `new BInst("queue_stop")`. */
export class BInst extends BItem {
  constructor(name: string, args?: unknown[], kwargs?: Record<string, unknown>) {
    super("instruction", name, args, kwargs);
  }
}

/** Plain maps for BItem instances (at any depth of arrays and maps). */
export function toWireValue(v: unknown): unknown {
  if (v instanceof BItem) return v.toDict();
  if (Array.isArray(v)) return v.map(toWireValue);
  if (isPlainMap(v) && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) setOwn(out, k, toWireValue(x));
    }
    return out;
  }
  return v;
}
