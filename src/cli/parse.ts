/**
 * Parsers of command-line values, in the shape an option spec takes
 * (`(text, flag) => value`, throwing `UsageError` naming the flag).
 */
import { rateProblem } from "../protocol/rate-limit.js";
import { UsageError } from "./errors.js";

/** A command-line value: JSON when it parses (`3`, `true`, `["det1"]`), else the text. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function positiveSeconds(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number of seconds, got '${text}'`);
  return n;
}

/** Seconds, 0 or more (`--delay`). */
export function nonNegativeSeconds(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new UsageError(`${flag} must be a number of seconds, 0 or more, got '${text}'`);
  return n;
}

/** A time: seconds since the epoch (a number), or the text as given (ISO 8601, checked by the manager). */
export function timeValue(text: string): number | string {
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  return n;
}

/** A comma-separated list of tags (`gpu,big`). */
export function tagList(text: string, flag: string): string[] {
  const tags = text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  if (tags.length === 0) throw new UsageError(`${flag}: expected tags separated by commas`);
  return tags;
}

export function integer(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n)) throw new UsageError(`${flag}: expected an integer, got '${text}'`);
  return n;
}

function json(text: string, flag: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${flag} must be a JSON ${what}: ${(err as Error).message}`);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** `--kwargs`: a JSON map. */
export function jsonMap(text: string, flag: string): Record<string, unknown> {
  const v = json(text, flag, "map");
  if (!isMap(v)) throw new UsageError(`${flag} must be a JSON map`);
  return v;
}

/** `--items`: a JSON list of maps (the arguments of each call). */
export function jsonListOfMaps(text: string, flag: string): Record<string, unknown>[] {
  const v = json(text, flag, "list");
  if (!Array.isArray(v) || !v.every(isMap))
    throw new UsageError(`${flag} must be a JSON list of maps such as {"args": [1]}`);
  return v;
}

/** `--pos`: an index, `front` or `back`. */
export function position(text: string, flag: string): number | "front" | "back" {
  if (text === "front" || text === "back") return text;
  const n = Number(text);
  if (!Number.isInteger(n))
    throw new UsageError(`${flag} must be an integer, 'front' or 'back', got '${text}'`);
  return n;
}

/** A rate limit (`5/s`, `100/m`, `10/2s`), checked here as the manager checks it; sent as written. */
export function rateLimit(text: string, flag: string): string {
  const why = rateProblem(text);
  if (why !== undefined) throw new UsageError(`${flag}: ${why}`);
  return text.trim();
}
