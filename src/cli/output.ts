/** What the client commands print: replies for people, or as JSON with `--json`. */

export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

export function inline(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** `key: value` lines, aligned. */
export function keyValues(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  const w = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(w)}  ${inline(obj[k])}`).join("\n");
}

/** A reply for people: its message (if any), then its data keys. */
function human(reply: Record<string, unknown>): string {
  const { success: _s, msg, ...rest } = reply;
  const lines: string[] = [];
  if (typeof msg === "string" && msg !== "") lines.push(msg);
  if (Object.keys(rest).length > 0) lines.push(keyValues(rest));
  return lines.length > 0 ? lines.join("\n") : "OK";
}

/** Print a reply: as JSON with `--json`, else `text()` (default: its message and data keys). */
export function show(json: boolean, reply: Record<string, unknown>, text?: () => string): void {
  if (json) printJson(reply);
  else out(text ? text() : human(reply));
}

/** One queue or history item on one line. */
export function itemLine(it: Record<string, unknown>): string {
  const args = Array.isArray(it.args) && it.args.length > 0 ? ` ${JSON.stringify(it.args)}` : "";
  const kwargs =
    it.kwargs && typeof it.kwargs === "object" && Object.keys(it.kwargs).length > 0
      ? ` ${JSON.stringify(it.kwargs)}`
      : "";
  return `${inline(it.item_type)} ${inline(it.name)}${args}${kwargs}  ${inline(it.item_uid ?? "")}`;
}
