/**
 * Several managers behind one client (an active one and its standbys): which
 * one a request goes to, and when it goes to another.
 *
 *  - Requests go to the manager believed active (at first: the first address).
 *  - No reply within the timeout, or a standby's answer (`manager_state:
 *    "standby"`), moves the request on to the next address; a standby's
 *    `active_manager.control_address`, when it is one of ours, is tried next.
 *  - A request that could not even be handed to a connection went nowhere: it
 *    is always tried on the next. One that was sent but got no reply is tried
 *    again only when that is safe: a read, or a write carrying an idempotency
 *    key (the manager applies a key once and answers a repeat with the
 *    remembered reply). A write without one fails with the timeout: it may
 *    have been applied.
 *  - Each address is tried once per round. When the managers that answered
 *    are all on standby (a takeover under way: the active one is gone and its
 *    lease has not lapsed yet), the request tries again, round after round,
 *    for up to `failoverWait` seconds; then the first standby answer is the
 *    reply (its message names the active manager).
 *
 * The connections are narrow (`Channel`): the client's DEALER transport in use,
 * fakes in the unit tests.
 */
import { randomUUID } from "node:crypto";
import type { WireRequest } from "./errors.js";
import { RequestTimeoutError } from "./errors.js";

/** Most characters of an idempotency key (the manager's limit too). */
export const IDEMPOTENCY_KEY_MAX = 128;

/** A fresh idempotency key for one state-changing request. */
export function newIdempotencyKey(): string {
  return randomUUID();
}

/** A key given by a caller: a string of 1..128 characters. */
export function checkIdempotencyKey(key: unknown, what = "idempotencyKey"): string {
  if (typeof key !== "string" || key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX) {
    throw new TypeError(
      `${what} must be a string of 1 to ${IDEMPOTENCY_KEY_MAX} characters, got ${typeof key === "string" ? `${key.length} characters` : typeof key}`,
    );
  }
  return key;
}

/**
 * `"tcp://a:60615,tcp://b:60615"` (or a list) → the addresses, trimmed;
 * an empty entry is an error naming `what`.
 */
export function addressList(value: string | readonly string[], what: string): string[] {
  const parts = typeof value === "string" ? value.split(",") : [...value];
  const list = parts.map((a) => (typeof a === "string" ? a.trim() : ""));
  if (list.length === 0 || list.some((a) => a === "")) {
    throw new TypeError(
      `${what} must be one address or several separated by commas, got ${JSON.stringify(value)}`,
    );
  }
  return list;
}

/** One connection to one manager. */
export interface Channel {
  request(body: Buffer, timeout: number, request: WireRequest): Promise<Buffer>;
  close(): Promise<void>;
}

/** The client moved to another manager. */
export interface ManagerSwitch {
  from: string;
  to: string;
  /** Why it left `from` (no reply, standby). */
  reason: string;
}

/** Seconds a request keeps trying while the managers that answer are all on standby (default). */
export const DEFAULT_FAILOVER_WAIT = 15;
/** Pause between two rounds of a request waiting for a standby to take over, in ms. */
const ROUND_PAUSE_MS = 200;

export interface ManagerSetOptions {
  addresses: readonly string[];
  /** Seconds a request keeps trying while every manager that answers is on standby (default 15). */
  failoverWait?: number;
  open: (address: string) => Channel;
  decode: (body: Buffer) => unknown;
  onSwitch?: ((e: ManagerSwitch) => void) | undefined;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A standby manager's answer: its `active_manager` (when it says one). */
export function standbyOf(
  reply: unknown,
): { active: Record<string, unknown> | undefined } | undefined {
  if (!isMap(reply) || reply.manager_state !== "standby") return undefined;
  return { active: isMap(reply.active_manager) ? reply.active_manager : undefined };
}

function describeActive(active: Record<string, unknown> | undefined): string {
  if (!active) return "it names no active manager";
  const addr = typeof active.control_address === "string" ? active.control_address : "?";
  const host = typeof active.host === "string" ? ` on ${active.host}` : "";
  return `the active manager is ${addr}${host}`;
}

export class ManagerSet {
  readonly addresses: readonly string[];
  private readonly channels = new Map<number, Channel>();
  private current = 0;
  private readonly listeners = new Set<(e: ManagerSwitch, index: number) => void>();

  constructor(private readonly opts: ManagerSetOptions) {
    if (opts.addresses.length === 0) throw new TypeError("ManagerSet: no address");
    this.addresses = opts.addresses;
    // Connect to every manager now: a failover then finds its connection made.
    if (this.several) for (let i = 0; i < this.addresses.length; i++) this.channel(i);
  }

  /** The address requests go to now. */
  get address(): string {
    return this.addresses[this.current] as string;
  }

  /** Its position in `addresses` (the info socket follows it by position). */
  get index(): number {
    return this.current;
  }

  get several(): boolean {
    return this.addresses.length > 1;
  }

  /** Called on every move to another manager (after `onSwitch`); returns the unsubscribe function. */
  onSwitch(fn: (e: ManagerSwitch, index: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private channel(i: number): Channel {
    let c = this.channels.get(i);
    if (!c) {
      c = this.opts.open(this.addresses[i] as string);
      this.channels.set(i, c);
    }
    return c;
  }

  /** The next address after `i` not tried yet (in list order, wrapping), or -1. */
  private nextUntried(i: number, tried: ReadonlySet<number>): number {
    const n = this.addresses.length;
    for (let k = 1; k < n; k++) {
      const j = (i + k) % n;
      if (!tried.has(j)) return j;
    }
    return -1;
  }

  private moveTo(i: number, reason: string): void {
    if (i === this.current) return;
    const e: ManagerSwitch = { from: this.address, to: this.addresses[i] as string, reason };
    this.current = i;
    try {
      this.opts.onSwitch?.(e);
    } catch {
      // A listener's failure is its own business.
    }
    for (const fn of [...this.listeners]) {
      try {
        fn(e, i);
      } catch {
        // Likewise.
      }
    }
  }

  /**
   * Send one request (its encoded body) and resolve with the decoded reply.
   * `retryable`: it may be sent again after it went out with no reply (a
   * read, or a write with an idempotency key).
   */
  async request(
    wire: WireRequest,
    body: Buffer,
    timeout: number,
    retryable: boolean,
  ): Promise<unknown> {
    const deadline = Date.now() + (this.opts.failoverWait ?? DEFAULT_FAILOVER_WAIT) * 1000;
    for (;;) {
      const r = await this.round(wire, body, timeout, retryable);
      if (!r.standbyOnly) return r.reply;
      const left = deadline - Date.now();
      if (left <= 0) return r.reply;
      await new Promise((resolve) => setTimeout(resolve, Math.min(ROUND_PAUSE_MS, left)));
    }
  }

  /** Each address once: a reply, or (`standbyOnly`) a standby's answer when no manager served. */
  private async round(
    wire: WireRequest,
    body: Buffer,
    timeout: number,
    retryable: boolean,
  ): Promise<{ reply: unknown; standbyOnly: boolean }> {
    const tried = new Set<number>();
    let i = this.current;
    let standbyReply: unknown;
    let reason = "";
    for (;;) {
      tried.add(i);
      const address = this.addresses[i] as string;
      let reply: unknown;
      try {
        reply = this.opts.decode(await this.channel(i).request(body, timeout, wire));
      } catch (err) {
        if (!(err instanceof RequestTimeoutError) || !this.several) throw err;
        const next = this.nextUntried(i, tried);
        const wentOut = err.phase === "receive";
        if (next < 0 || (wentOut && !retryable)) {
          // Later requests try the next manager first.
          if (wentOut) this.moveTo(this.nextUntried(i, new Set([i])), `no reply from ${address}`);
          if (standbyReply !== undefined && (!wentOut || retryable)) {
            return { reply: standbyReply, standbyOnly: true };
          }
          throw err;
        }
        reason = wentOut
          ? `no reply from ${address} within ${timeout} s`
          : `no connection to ${address} within the send timeout`;
        i = next;
        continue;
      }
      const standby = this.several ? standbyOf(reply) : undefined;
      if (standby) {
        standbyReply ??= reply;
        reason = `${address} is on standby (${describeActive(standby.active)})`;
        const hinted =
          typeof standby.active?.control_address === "string"
            ? this.addresses.indexOf(standby.active.control_address)
            : -1;
        const next = hinted >= 0 && !tried.has(hinted) ? hinted : this.nextUntried(i, tried);
        if (next < 0) return { reply: standbyReply, standbyOnly: true };
        i = next;
        continue;
      }
      this.moveTo(i, reason || `${this.address} did not serve the request`);
      return { reply, standbyOnly: false };
    }
  }

  async close(): Promise<void> {
    const all = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}
