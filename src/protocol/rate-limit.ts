/**
 * A rate limit as text: `N/PERIOD`, at most N starts in any PERIOD, where
 * PERIOD is `s`, `m` or `h`, or a whole number of them (`10/2s`, `100/5m`).
 * Read strictly (one small regular expression: the format has three parts
 * and no library reads exactly it); the manager's `--rate-limit` and the
 * task option `rate_limit` share it.
 */

export interface Rate {
  /** Starts allowed in one period. */
  count: number;
  /** The period, in milliseconds. */
  periodMs: number;
  /** As written (normalized: no spaces). */
  text: string;
}

/** Most starts a limit may allow per period. */
export const MAX_RATE_COUNT = 1_000_000;
/** Longest period of a limit (seconds): a day. */
export const MAX_RATE_PERIOD_SEC = 86_400;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;
const FORMAT = /^(\d+)\/(\d*)([smh])$/;

export const RATE_FORMAT_HELP =
  "N/PERIOD, PERIOD s, m or h or a number of them (5/s, 100/m, 10/2s)";

/** `text` as a rate, or an Error saying what is wrong with it. */
export function parseRate(text: string): Rate {
  const t = text.trim();
  const m = FORMAT.exec(t);
  if (!m) throw new Error(`'${text}' is not a rate limit: expected ${RATE_FORMAT_HELP}`);
  const count = Number(m[1]);
  const units = m[2] === "" ? 1 : Number(m[2]);
  const periodMs = units * UNIT_MS[m[3] as keyof typeof UNIT_MS];
  if (count < 1 || count > MAX_RATE_COUNT) {
    throw new Error(
      `'${text}': the count of starts must be from 1 to ${MAX_RATE_COUNT}, got ${m[1]}`,
    );
  }
  if (units < 1 || periodMs > MAX_RATE_PERIOD_SEC * 1000) {
    throw new Error(
      `'${text}': the period must be at least 1${m[3]} and at most ${MAX_RATE_PERIOD_SEC / 3600}h`,
    );
  }
  return { count, periodMs, text: t };
}

/** The error message of `parseRate(text)`, or undefined when it is a rate. */
export function rateProblem(text: string): string | undefined {
  try {
    parseRate(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The same limit (`60/m` is not `1/s`: their windows differ). */
export function sameRate(a: Rate, b: Rate): boolean {
  return a.count === b.count && a.periodMs === b.periodMs;
}

/**
 * `--rate-limit` rules: `NAME=N/PERIOD`, several separated by commas (the
 * option is repeatable; its values arrive joined). The last rule for a name wins.
 */
export function parseRateRules(text: string): Map<string, Rate> {
  const out = new Map<string, Rate>();
  for (const part of text.split(",")) {
    const rule = part.trim();
    if (rule === "") continue;
    const eq = rule.lastIndexOf("=");
    const name = eq < 0 ? "" : rule.slice(0, eq).trim();
    if (eq < 0 || name === "") {
      throw new Error(`'${rule}' is not NAME=N/PERIOD (e.g. move=5/s)`);
    }
    out.set(name, parseRate(rule.slice(eq + 1)));
  }
  return out;
}
