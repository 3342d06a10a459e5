/**
 * Open streams (SSE, WebSockets) and the credential each was opened with. A
 * stream is checked once, when it opens; after that it would deliver for as
 * long as it stays open. So each stream is kept here with its principal and
 * closed when the credential stops holding: at once when a key is deleted or
 * a session ends (the gateway calls `sweep()` after those), and at the key's
 * expiry (a timer per stream, re-armed when the delay is beyond a timer's
 * reach).
 */
import type { Principal } from "./auth.js";

/** What the registry needs of the gateway's auth. */
export interface CredentialCheck {
  /** Why the principal's credential no longer holds, or undefined while it does. */
  revoked(p: Principal): string | undefined;
  /** When the principal's key expires (epoch seconds), if it does. */
  expiresAt(p: Principal): number | undefined;
}

/** The longest delay of a Node timer (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  principal: Principal;
  close: (why: string) => void;
  timer?: NodeJS.Timeout;
}

export class StreamCredentials {
  private readonly streams = new Set<Entry>();

  constructor(
    private readonly check: CredentialCheck,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /**
   * Keep a stream opened by `principal`; `close(why)` ends it. Returns the
   * function to call when the stream ends by itself.
   */
  track(principal: Principal, close: (why: string) => void): () => void {
    const e: Entry = { principal, close };
    this.streams.add(e);
    this.arm(e);
    return () => this.forget(e);
  }

  private arm(e: Entry): void {
    const at = this.check.expiresAt(e.principal);
    if (at === undefined) return;
    const ms = Math.min(Math.max((at - this.now()) * 1000, 0), MAX_TIMER_MS);
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (!this.recheck(e)) this.arm(e);
    }, Math.ceil(ms));
    e.timer.unref();
  }

  private forget(e: Entry): void {
    if (e.timer) clearTimeout(e.timer);
    this.streams.delete(e);
  }

  /** Close the stream when its credential no longer holds; true when closed. */
  private recheck(e: Entry): boolean {
    const why = this.check.revoked(e.principal);
    if (why === undefined) return false;
    this.forget(e);
    e.close(why);
    return true;
  }

  /** Close every stream whose credential no longer holds (after a key deletion or a logout). */
  sweep(): void {
    for (const e of [...this.streams]) this.recheck(e);
  }

  /** Forget every stream (the gateway is closing them all). */
  clear(): void {
    for (const e of [...this.streams]) this.forget(e);
  }
}
