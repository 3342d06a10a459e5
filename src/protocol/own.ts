/**
 * Maps keyed by names a client sends. Every name is an ordinary name here:
 * `constructor`, `toString` or `__proto__` must not find what every object
 * inherits, and assigning `__proto__` must not change an object's prototype.
 * Lookups read own properties only; writes define own properties.
 */

/** `obj[key]` when `key` is the object's own property, else undefined. */
export function ownValue<T>(
  obj: Readonly<Record<string, T>> | undefined,
  key: string,
): T | undefined {
  return obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** `obj[key] = value` as an own property, also for `__proto__`. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    obj[key] = value;
  }
}
