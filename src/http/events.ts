/**
 * What the gateway keeps from the manager's info socket and fans out to HTTP
 * clients: the last status, the console output (the last messages, each with
 * a uid, for `/api/console_output_update`), and a stream of events for the
 * WebSocket and SSE routes.
 */
import { randomUUID } from "node:crypto";
import type { ManagerBackend } from "./manager-link.js";
import { TOPIC_CONSOLE, TOPIC_INFO, TOPIC_TASK } from "../protocol/index.js";

export interface ConsoleMessage {
  uid: string;
  time: number;
  msg: string;
}

/** The kinds of event for browsers (`/api/events`): their SSE event names. */
export const GATEWAY_EVENT_TYPES = ["status", "task", "console"] as const;

/** One event for browsers: `status` (the QS_Info payload), `task` (QS_Task) or `console`. */
export interface GatewayEvent {
  type: (typeof GATEWAY_EVENT_TYPES)[number];
  payload: unknown;
}

type EventListener = (e: GatewayEvent) => void;

/** Console messages kept for late pollers (`--console-keep`). */
export const CONSOLE_KEEP = 1000;
/** Bytes of console text kept for late pollers (`--console-keep-bytes`). */
export const CONSOLE_KEEP_BYTES = 4 * 1024 * 1024;

export interface EventHubOptions {
  /** Console messages kept, at most. */
  consoleKeep?: number;
  /** Bytes of console text kept, at most (the newest message is kept whatever its size). */
  consoleKeepBytes?: number;
}

export class EventHub {
  private readonly console: ConsoleMessage[] = [];
  /** Bytes of `console`'s text (UTF-8). */
  private consoleBytes = 0;
  private readonly keep: number;
  private readonly keepBytes: number;
  private readonly listeners = new Set<EventListener>();
  private readonly offs: (() => void)[] = [];
  /** The last QS_Info payload (`{time, msg: {status}}`). */
  lastStatus: unknown;

  constructor(backend: ManagerBackend, opts: EventHubOptions = {}) {
    this.keep = opts.consoleKeep ?? CONSOLE_KEEP;
    this.keepBytes = opts.consoleKeepBytes ?? CONSOLE_KEEP_BYTES;
    this.offs.push(
      backend.on(TOPIC_INFO, (p) => {
        this.lastStatus = p;
        this.emit({ type: "status", payload: p });
      }),
      backend.on(TOPIC_TASK, (p) => this.emit({ type: "task", payload: p })),
      backend.on(TOPIC_CONSOLE, (p) => {
        const c = p as { time?: unknown; msg?: unknown };
        const m: ConsoleMessage = {
          uid: randomUUID(),
          time: typeof c.time === "number" ? c.time : Date.now() / 1000,
          msg: typeof c.msg === "string" ? c.msg : String(c.msg),
        };
        this.keepConsole(m);
        this.emit({ type: "console", payload: { time: m.time, msg: m.msg } });
      }),
    );
  }

  /** Keep a console message; the oldest go beyond the count or the bytes kept. */
  private keepConsole(m: ConsoleMessage): void {
    this.console.push(m);
    this.consoleBytes += Buffer.byteLength(m.msg);
    while (
      this.console.length > 1 &&
      (this.console.length > this.keep || this.consoleBytes > this.keepBytes)
    ) {
      const old = this.console.shift() as ConsoleMessage;
      this.consoleBytes -= Buffer.byteLength(old.msg);
    }
  }

  /** Console messages kept now, and their bytes. */
  get consoleKept(): { messages: number; bytes: number } {
    return { messages: this.console.length, bytes: this.consoleBytes };
  }

  private emit(e: GatewayEvent): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch {
        // One broken stream does not stop the others.
      }
    }
  }

  /** Streams listening now. */
  get subscribers(): number {
    return this.listeners.size;
  }

  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The messages after `lastUid` (all kept ones when it is empty or no longer kept). */
  consoleAfter(lastUid: string): { msgs: ConsoleMessage[]; lastUid: string } {
    const i = lastUid ? this.console.findIndex((m) => m.uid === lastUid) : -1;
    const msgs = this.console.slice(i + 1);
    return { msgs, lastUid: this.console.at(-1)?.uid ?? lastUid };
  }

  /** The kept console output as one text, or its last `nlines` lines. */
  consoleText(nlines?: number): string {
    const text = this.console.map((m) => m.msg).join("");
    if (nlines === undefined) return text;
    const lines = text.split("\n");
    const trailing = lines.at(-1) === "" ? 1 : 0;
    return lines.slice(-(nlines + trailing)).join("\n");
  }

  get consoleLastUid(): string {
    return this.console.at(-1)?.uid ?? "";
  }

  close(): void {
    for (const off of this.offs) off();
    this.listeners.clear();
  }
}
