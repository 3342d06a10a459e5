/** Parsers of option values shared by the option tables of every command (spec.ts). */
import { isCurveKey } from "../protocol/z85.js";

/** A whole number of at least 1 (a count or a size in bytes). */
export function positiveInteger(raw: string): number {
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${raw}'`);
  return n;
}

/** A CURVE key: 40 z85 characters (`zqs keys` makes them). */
export function curveKey(raw: string): string {
  const v = raw.trim();
  if (!isCurveKey(v)) {
    const got = v.length === 40 ? "40 characters that are not z85" : `${v.length} characters`;
    throw new Error(`expected a CURVE key of 40 z85 characters (see 'zqs keys'), got ${got}`);
  }
  return v;
}
