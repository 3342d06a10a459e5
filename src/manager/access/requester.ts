/**
 * Who asks and what they submit, checked once for the task, run and queue
 * methods: the item is there, the user and the user group are given and the
 * group is known, the item type is one the method takes, a function call is
 * well formed and allowed. The messages are the Python server's (each method
 * calls the checks in its own order).
 */
import { pyRepr, pyTuple } from "../../protocol/index.js";
import type { Item } from "../../protocol/index.js";
import { RequestError } from "../errors.js";
import type { FunctionAccess, GroupCheck } from "./types.js";

export const FORMAT = "Incorrect request format: ";

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The request carries an item (`extras`: the reply's values when it does not). */
export function requireItem<T>(item: T | undefined, extras?: Record<string, unknown>): T {
  if (item === undefined) throw new RequestError(`${FORMAT}request contains no item info`, extras);
  return item;
}

/** The user and the user group are given, and the group is one the permissions know. */
export function requireRequester(
  access: GroupCheck,
  user: string | undefined,
  group: string | undefined,
): { user: string; group: string } {
  if (group === undefined) throw new RequestError(`${FORMAT}user group is not specified`);
  if (user === undefined) throw new RequestError(`${FORMAT}user name is not specified`);
  if (!access.hasGroup(group)) throw new RequestError(`Unknown user group: ${pyRepr(group)}`);
  return { user, group };
}

/** The item has an `item_type`, one of `types`. */
export function requireItemType(item: Item, types: readonly string[]): void {
  if (!("item_type" in item)) throw new RequestError(`${FORMAT}'item_type' key is not found`);
  if (!types.includes(item.item_type as string)) {
    throw new RequestError(
      `${FORMAT}unsupported 'item_type' value: ${pyRepr(item.item_type)}, supported item types ${pyTuple(types)}`,
    );
  }
}

/** A function call's name, `args` (a list) and `kwargs` (a dictionary), as given. */
export function checkCall(f: { name?: unknown; args?: unknown; kwargs?: unknown }): {
  name: string;
  args: unknown[] | undefined;
  kwargs: Record<string, unknown> | undefined;
} {
  const name = f.name;
  if (typeof name !== "string" || name === "") {
    throw new RequestError(`${FORMAT}function name is not specified or is not a string`);
  }
  if (f.args !== undefined && !Array.isArray(f.args)) {
    throw new RequestError(`${FORMAT}'args' must be a list, got ${pyRepr(f.args)}`);
  }
  if (f.kwargs !== undefined && !isMap(f.kwargs)) {
    throw new RequestError(`${FORMAT}'kwargs' must be a dictionary, got ${pyRepr(f.kwargs)}`);
  }
  return { name, args: f.args as unknown[] | undefined, kwargs: f.kwargs };
}

/** The group may call the function. */
export function requireFunctionAllowed(
  access: Pick<FunctionAccess, "functionAllowed">,
  group: string,
  name: string,
): void {
  if (!access.functionAllowed(group, name)) {
    throw new RequestError(
      `Function ${pyRepr(name)} is not allowed for users from ${pyRepr(group)} group.`,
    );
  }
}

/**
 * Run checks whose refusals carry `extras` (a refused item as applied: see
 * `echoedItem`) instead of the method's default failure values.
 */
export function refusingWith<T>(extras: Record<string, unknown>, checks: () => T): T {
  try {
    return checks();
  } catch (err) {
    if (err instanceof RequestError && err.extras === undefined) {
      throw new RequestError(err.message, extras, err.prefixed);
    }
    throw err;
  }
}
