/**
 * Bounds on what a worker announces in its hello, checked before any costly
 * work: the size before the message is decoded, the counts before its schema
 * is checked (the tasks it says it still runs: no more than its slots). A
 * hello past one is refused, the refusal naming the option.
 */
export interface HelloLimits {
  /** --worker-max-functions */
  maxFunctions: number;
  /** --worker-max-tags */
  maxTags: number;
  /** --worker-max-hello-size (bytes) */
  maxHelloSize: number;
}

/** Why a message of `bytes` from a connection not yet joined is refused unread, if it is. */
export function helloSizeRefusal(bytes: number, limits: HelloLimits): string | undefined {
  if (bytes <= limits.maxHelloSize) return undefined;
  return `the hello is ${bytes} bytes, more than the manager's --worker-max-hello-size (${limits.maxHelloSize})`;
}

/** Why a decoded hello (not yet checked against its schema) is refused for its counts, if it is. */
export function helloCountRefusal(
  value: Record<string, unknown>,
  limits: HelloLimits,
): string | undefined {
  if (value.type !== "hello") return undefined;
  const { functions, tags } = value;
  if (typeof functions === "object" && functions !== null) {
    const n = Object.keys(functions).length;
    if (n > limits.maxFunctions) {
      return `the worker offers ${n} functions, more than the manager's --worker-max-functions (${limits.maxFunctions})`;
    }
  }
  if (Array.isArray(tags) && tags.length > limits.maxTags) {
    return `the worker has ${tags.length} tags, more than the manager's --worker-max-tags (${limits.maxTags})`;
  }
  // A worker runs at most one task per slot (one process each): it cannot still run more.
  const { running, slots } = value;
  if (Array.isArray(running) && typeof slots === "number" && running.length > slots) {
    return `the worker lists ${running.length} running tasks, more than its ${slots} slot(s) (zqs worker --slots)`;
  }
  return undefined;
}
