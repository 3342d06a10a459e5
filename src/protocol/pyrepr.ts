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
  if (value instanceof Date) return "datetime.datetime";
  if (typeof value === "object") return isPlainObject(value) ? "dict" : "object";
  return typeof value;
}

/** A map as the decoders produce it (not a Buffer, Date or other class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `<class 'int'>`, as Python prints `type(x)`. */
export function pyClass(value: unknown): string {
  return `<class '${pyTypeName(value)}'>`;
}

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");

/**
 * Python's `repr(str)`: single quotes unless the text holds `'` and no `"`;
 * backslashes and control characters escaped in either form (`\\n`, `\\x00`),
 * lone surrogates as `\\ud800`; other characters kept as they are.
 */
function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let body = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] as string;
    if (ch === "\\") body += "\\\\";
    else if (ch === quote) body += `\\${quote}`;
    else if (ch === "\n") body += "\\n";
    else if (ch === "\r") body += "\\r";
    else if (ch === "\t") body += "\\t";
    else if (c < 0x20 || (c >= 0x7f && c <= 0xa0)) body += `\\x${hex(c, 2)}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        body += ch + (s[i + 1] as string);
        i++;
      } else body += `\\u${hex(c, 4)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) body += `\\u${hex(c, 4)}`;
    else body += ch;
  }
  return quote + body + quote;
}

/** Python's float text: exponents have at least two digits (`1e-07`, `1e+16`). */
function reprNumber(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  return String(n).replace(/e([+-])(\d)$/, "e$10$2");
}

/** Nesting deeper than this is shown as `[...]` / `{...}` (no stack overflow). */
const MAX_DEPTH = 100;

/** Python `repr()` of a wire value (dicts, lists, strings, numbers, None, bools). */
export function pyRepr(value: unknown): string {
  return reprValue(value, 0);
}

function reprValue(value: unknown, depth: number): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return reprString(value);
  if (typeof value === "number") return reprNumber(value);
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return "[...]";
    return `[${value.map((v) => reprValue(v, depth + 1)).join(", ")}]`;
  }
  if (value instanceof Uint8Array) return `b'<${value.length} bytes>'`;
  if (value instanceof Date) return `datetime.datetime(${reprString(value.toISOString())})`;
  if (typeof value === "object") {
    if (depth >= MAX_DEPTH) return "{...}";
    const parts = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${reprString(k)}: ${reprValue(v, depth + 1)}`,
    );
    return `{${parts.join(", ")}}`;
  }
  // Functions and symbols never come off the wire.
  return `<${typeof value}>`;
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
