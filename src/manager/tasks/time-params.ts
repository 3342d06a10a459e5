/**
 * The time parameters of a submission, checked once for function_execute and
 * run_create: when it may start (`delay` or `not_before`, bounded by
 * --max-delay) and its dedup key (`dedup_key`, `dedup_ttl`, bounded by
 * --max-dedup-key and --max-dedup-ttl).
 */
import { RequestError } from "../errors.js";
import type { Dedup } from "./task-record.js";

export interface TimeLimits {
  /** --max-delay, seconds. */
  maxDelay: number;
  /** --max-dedup-ttl, seconds. */
  maxDedupTtl: number;
  /** --max-dedup-key, characters. */
  maxDedupKey: number;
}

/**
 * When the task may start (epoch ms), or undefined: at once (no delay, or a
 * time already passed). A refusal names what is wrong.
 */
export function startAtOf(
  p: { delay?: number | undefined; not_before?: number | string | undefined },
  maxDelaySec: number,
  now: number,
  extras?: Record<string, unknown>,
): number | undefined {
  if (p.delay !== undefined && p.not_before !== undefined) {
    throw new RequestError("Give either 'delay' or 'not_before', not both", extras);
  }
  let at: number;
  if (p.delay !== undefined) {
    if (p.delay > maxDelaySec) {
      throw new RequestError(
        `'delay' is ${p.delay} s: a task may be put off ${maxDelaySec} s at most (--max-delay)`,
        extras,
      );
    }
    at = now + p.delay * 1000;
  } else if (p.not_before !== undefined) {
    const nb = p.not_before;
    at = typeof nb === "number" ? nb * 1000 : Date.parse(nb);
    if (!Number.isFinite(at)) {
      throw new RequestError(
        `'not_before' must be seconds since the epoch or an ISO 8601 time, got ${JSON.stringify(nb)}`,
        extras,
      );
    }
    const ahead = (at - now) / 1000;
    if (ahead > maxDelaySec) {
      throw new RequestError(
        `'not_before' is ${new Date(at).toISOString()}, ${Math.round(ahead)} s from now: a task may be put off ${maxDelaySec} s at most (--max-delay)`,
        extras,
      );
    }
  } else return undefined;
  return at > now ? at : undefined;
}

/** The dedup key of a submission, checked against the limits (undefined: none). */
export function dedupOf(
  p: { dedup_key?: string | undefined; dedup_ttl?: number | undefined },
  limits: TimeLimits,
  extras?: Record<string, unknown>,
): Dedup | undefined {
  if (p.dedup_key === undefined) {
    if (p.dedup_ttl !== undefined) {
      throw new RequestError("'dedup_ttl' is given without a 'dedup_key'", extras);
    }
    return undefined;
  }
  if (p.dedup_key.length > limits.maxDedupKey) {
    throw new RequestError(
      `'dedup_key' has ${p.dedup_key.length} characters: ${limits.maxDedupKey} at most (--max-dedup-key)`,
      extras,
    );
  }
  const ttl = p.dedup_ttl ?? 0;
  if (ttl > limits.maxDedupTtl) {
    throw new RequestError(
      `'dedup_ttl' is ${ttl} s: a key is kept ${limits.maxDedupTtl} s at most after its task's end (--max-dedup-ttl)`,
      extras,
    );
  }
  return { key: p.dedup_key, ttl };
}
