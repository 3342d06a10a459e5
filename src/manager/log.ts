/**
 * Logging through pino, written as text lines in the Python server's form
 * (`[I 2026-11-22 10:49:21,324 zqs.manager] message`) to stdout and, when the
 * info socket is on, to QS_Console.
 */
import { Writable } from "node:stream";
import pino from "pino";
import type { Logger } from "pino";

const LEVEL_LETTER: Record<number, string> = {
  10: "D",
  20: "D",
  30: "I",
  40: "W",
  50: "E",
  60: "C",
};

function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`
  );
}

/** Turn one pino JSON record into the text line. */
export function formatRecord(rec: Record<string, unknown>): string {
  const letter = LEVEL_LETTER[rec.level as number] ?? "I";
  const name = typeof rec.name === "string" ? rec.name : "zqs";
  const msg = typeof rec.msg === "string" ? rec.msg : "";
  let line = `[${letter} ${stamp(typeof rec.time === "number" ? rec.time : Date.now())} ${name}] ${msg}`;
  const err = rec.err as { stack?: string } | undefined;
  if (err?.stack) line += `\n${err.stack}`;
  return line + "\n";
}

export type ConsoleSink = (text: string) => void;

class TextDestination extends Writable {
  sink: ConsoleSink | undefined;
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let text: string;
    try {
      text = formatRecord(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
    } catch {
      text = chunk.toString("utf8");
    }
    this.out.write(text);
    this.sink?.(text);
    cb();
  }
}

export interface ManagerLogger {
  log: Logger;
  /** Also send log lines to this sink (the QS_Console publisher). */
  setConsoleSink(sink: ConsoleSink | undefined): void;
}

export function createLogger(opts: {
  verbose?: boolean;
  quiet?: boolean;
  name?: string;
}): ManagerLogger {
  const dest = new TextDestination(process.stdout);
  const level = opts.verbose ? "debug" : opts.quiet ? "warn" : "info";
  const log = pino({ name: opts.name ?? "zqs.manager", level, base: undefined }, dest);
  return {
    log,
    setConsoleSink(sink) {
      dest.sink = sink;
    },
  };
}
