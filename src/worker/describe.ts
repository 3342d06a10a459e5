/**
 * The one describer of values thrown by user code (functions, plans, tasks of
 * runs, startup code, uploaded scripts). JavaScript can throw anything: an
 * Error gives its message and stack; a string is reported as it is; any other
 * value (an object, a number, null, a rejected promise's reason...) as its
 * `util.inspect` text, depth-limited and cut to `MAX_DESCRIPTION` characters,
 * so that `throw {code: 3}` never reads as "[object Object]". Describing never
 * throws and never calls the value's own `toString`.
 */
import { inspect, types } from "node:util";

/** The longest description of a thrown value that is not an Error or a string. */
export const MAX_DESCRIPTION = 1000;

const INSPECT_OPTIONS = {
  depth: 4,
  breakLength: Infinity,
  compact: true,
  maxArrayLength: 20,
  maxStringLength: MAX_DESCRIPTION,
  getters: false,
  customInspect: true,
} as const;

/** Text cut to `max` characters, saying how much was left out. */
export function cutText(text: string, max = MAX_DESCRIPTION): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (cut: ${text.length - max} more characters)`;
}

function inspected(value: unknown): string {
  try {
    return inspect(value, INSPECT_OPTIONS);
  } catch {
    // A custom inspect that throws: fall back to what cannot.
    try {
      return inspect(value, { ...INSPECT_OPTIONS, customInspect: false });
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** A value as text: a string as it is, anything else inspected and cut. */
export function describeValue(value: unknown): string {
  return typeof value === "string" ? value : cutText(inspected(value));
}

/** What a thrown value says: `message` for one line of a reply, `stack` for a traceback. */
export function describeThrown(value: unknown): { message: string; stack: string } {
  if (isError(value)) {
    try {
      const message = typeof value.message === "string" ? value.message : inspected(value.message);
      const stack =
        typeof value.stack === "string" && value.stack !== ""
          ? value.stack
          : `${String(value.name)}: ${message}`;
      return { message, stack };
    } catch {
      // An error whose own properties throw: describe it as any other value.
    }
  }
  const text = describeValue(value);
  return { message: text, stack: text };
}
