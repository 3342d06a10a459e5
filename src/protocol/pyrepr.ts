/**
 * Python-style text for values quoted inside messages. The Python server's
 * messages embed reprs (`'foo'`, `['a', 'b']`, `('x',)`, `<class 'int'>`), and
 * clients and people grep for those forms, so zqs writes them the same way.
 */

/** Python's name for the type of a decoded wire value. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return "NoneType";
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "bigint") return "int";
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "object") return "dict";
  return typeof value;
}

/** `<class 'int'>`, as Python prints `type(x)`. */
export function pyClass(value: unknown): string {
  return `<class '${pyTypeName(value)}'>`;
}

function reprString(s: string): string {
  if (s.includes("'") && !s.includes('"')) return `"${s}"`;
  const body = s
    .replace(/\\/g, "\\\\")
    .replace(/'/g, "\\'")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t");
  return `'${body}'`;
}

/** Python `repr()` of a wire value (dicts, lists, strings, numbers, None, bools). */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return reprString(value);
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    return String(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (value instanceof Uint8Array) return `b'<${value.length} bytes>'`;
  if (typeof value === "object") {
    const parts = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${reprString(k)}: ${pyRepr(v)}`,
    );
    return `{${parts.join(", ")}}`;
  }
  return String(value);
}

/** Python tuple repr: `('a', 'b')`, and the one-element form `('a',)`. */
export function pyTuple(values: readonly unknown[]): string {
  if (values.length === 1) return `(${pyRepr(values[0])},)`;
  return `(${values.map(pyRepr).join(", ")})`;
}

/** A name alone as `'foo'`, several as `['foo', 'bar']` (the server's habit). */
export function pyNameOrList(names: readonly string[]): string {
  return names.length === 1 ? pyRepr(names[0]) : pyRepr(names);
}
