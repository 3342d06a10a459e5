/**
 * Exit codes of the client commands and the errors that choose them:
 * 0 success; 1 the manager refused the request (`success: false`) or a
 * waited-for task failed; 2 bad usage or parameters; 3 a timeout (no reply,
 * or a wait ran out). The reason goes to stderr.
 */
import {
  RequestError,
  RequestFailedError,
  RequestParameterError,
  RequestTimeoutError,
  WaitCancelError,
  WaitTimeoutError,
} from "../client/index.js";

export const EXIT = { ok: 0, failed: 1, usage: 2, timeout: 3 } as const;

/** Bad usage or parameters: exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A task (or plan) ended without success: exit code 1 after printing. */
export class OutcomeError extends Error {
  override name = "OutcomeError";
}

export function exitCodeOf(err: unknown): number {
  if (
    err instanceof UsageError ||
    err instanceof RequestParameterError ||
    err instanceof TypeError
  ) {
    return EXIT.usage;
  }
  if (err instanceof RequestTimeoutError || err instanceof WaitTimeoutError) return EXIT.timeout;
  return EXIT.failed;
}

export function reasonOf(err: unknown): string {
  if (err instanceof RequestFailedError)
    return `request '${err.request?.method ?? "?"}' failed: ${err.message}`;
  if (err instanceof RequestParameterError) return `invalid parameters: ${err.message}`;
  if (err instanceof RequestTimeoutError) return `timeout: ${err.message}`;
  if (err instanceof WaitTimeoutError || err instanceof WaitCancelError) return err.message;
  if (err instanceof RequestError || err instanceof Error) return err.message;
  return String(err);
}
