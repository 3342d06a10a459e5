/**
 * Waiting in tests. A test waits for the thing itself (a reply, an event, a
 * state, a file), polled with a predicate; the timeouts here are failure
 * guards, generous so that a busy machine never trips them, never speed
 * claims. A speed claim belongs in bench/ or is read from the server's own
 * timestamps.
 */

/** The default failure guard of a wait, in ms. */
export const GUARD_MS = 60_000;
/** The failure guard of opening an environment (forking and loading startup code), in ms. */
export const ENV_OPEN_MS = 120_000;

/**
 * Let time pass on purpose: a retention to elapse, a window to watch. Never
 * a way to wait for something that can be awaited (use waitUntil).
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until `fn` returns a truthy value, and return it; throws after `timeoutMs`. */
export async function waitUntil<T>(
  fn: () => Promise<T> | T,
  timeoutMs = GUARD_MS,
  stepMs = 20,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for a condition`);
    await sleep(stepMs);
  }
}

/**
 * Whether `p` settles (either way) before a timer of `ms` armed now, in this
 * process. Timers of one event loop fire in the order they are due however
 * busy the machine is, so for a timeout armed in this process (a client's),
 * this is an ordering, not a speed claim: "the 0.3 s timeout fired before a
 * 1.5 s one armed after it".
 */
export async function settlesBefore(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const reference = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true as const,
        () => true as const,
      ),
      reference,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
