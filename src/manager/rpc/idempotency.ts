/**
 * Requests sent with an `idempotency_key` (a client retrying on another
 * manager after a failover, or after a lost reply): the reply to a
 * state-changing request is remembered, in the store, for --idempotency-ttl
 * seconds (at most --idempotency-max keys, the oldest forgotten first); a
 * repeat with the same key gets that reply and changes nothing; the same key
 * with another method is refused.
 *
 * Never a reply for a change whose key was lost: while a keyed request is
 * handled (an AsyncLocalStorage context), the first store write it makes
 * carries a "pending" record of the key in the same commit (`pendingOp`, read
 * by the store writer); the reply itself is written before it is sent. A
 * manager that takes over and finds a key still pending knows the change was
 * made and its reply never sent: a repeat is told so, and nothing is done again.
 * A failure reply is not remembered (nothing changed: the client may retry).
 * Reads (methods whose HTTP route is a GET) ignore the key.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { methods, type MethodName, type Reply } from "../../protocol/index.js";
import type { StoreOp } from "../store/types.js";

interface Remembered {
  method: string;
  /** The reply sent; absent while pending (the change is made, the reply not written yet). */
  reply?: Reply;
  /** Epoch ms. */
  expiresAt: number;
}

interface Handling {
  key: string;
  method: string;
  /** The pending record went with a store write. */
  written: boolean;
}

export interface IdempotencyOptions {
  /** How long a reply is remembered (seconds): --idempotency-ttl. */
  ttlSec: number;
  /** Most keys remembered: --idempotency-max. */
  max: number;
  /** Where records go: `batched` is awaited before the reply is sent. */
  write(ops: StoreOp[], mode: "batched" | "background"): Promise<void>;
  now?: () => number;
}

/** Whether a method changes state (its key is remembered): every method but the reads. */
export function changesState(name: MethodName): boolean {
  return !methods[name].http.startsWith("GET ");
}

export class Idempotency {
  /** In insertion order, which is expiry order (one TTL for all). */
  private readonly kept = new Map<string, Remembered>();
  private readonly inFlight = new Map<string, { method: string; done: Promise<Reply> }>();
  private readonly als = new AsyncLocalStorage<Handling>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: IdempotencyOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Take the records found in the store (expired ones are deleted). */
  restore(entries: readonly { key: string; record: unknown }[]): void {
    const now = this.now();
    const gone: StoreOp[] = [];
    const live: [string, Remembered][] = [];
    for (const { key, record } of entries) {
      const r = record as Partial<Remembered>;
      if (typeof r.method !== "string" || typeof r.expiresAt !== "number" || r.expiresAt <= now) {
        gone.push({ op: "idem_delete", key });
      } else {
        live.push([key, r as Remembered]);
      }
    }
    live.sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [k, r] of live) this.kept.set(k, r);
    this.forget(gone);
    this.evict();
  }

  /** Purge expired keys every so often (until close). */
  start(): void {
    const every = Math.max(1000, Math.min(60_000, (this.opts.ttlSec * 1000) / 10));
    this.timer = setInterval(() => this.purge(), every);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  get size(): number {
    return this.kept.size;
  }

  /** For the store writer: the pending record to add to the first write of a keyed request. */
  pendingOp(): StoreOp | undefined {
    const h = this.als.getStore();
    if (!h || h.written) return undefined;
    h.written = true;
    return {
      op: "idem_put",
      key: h.key,
      record: { method: h.method, expiresAt: this.now() + this.opts.ttlSec * 1000 },
    };
  }

  /** The reply to a keyed request: remembered, or `run`'s (then remembered when a success). */
  async handle(key: string, method: string, run: () => Promise<Reply>): Promise<Reply> {
    const known = this.kept.get(key);
    if (known && known.expiresAt > this.now()) return this.repeat(key, method, known);
    const busy = this.inFlight.get(key);
    if (busy) {
      if (busy.method !== method) return this.otherMethod(key, busy.method, method);
      return busy.done;
    }
    const h: Handling = { key, method, written: false };
    const done = this.als.run(h, run).then(async (reply) => {
      if (reply.success === true) {
        const rec: Remembered = { method, reply, expiresAt: this.now() + this.opts.ttlSec * 1000 };
        await this.opts.write([{ op: "idem_put", key, record: rec }], "batched");
        this.kept.delete(key);
        this.kept.set(key, rec);
        this.evict();
      } else if (h.written) {
        this.forget([{ op: "idem_delete", key }]);
      }
      return reply;
    });
    this.inFlight.set(key, { method, done });
    try {
      return await done;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private repeat(key: string, method: string, known: Remembered): Reply {
    if (known.method !== method) return this.otherMethod(key, known.method, method);
    if (known.reply) return known.reply;
    return {
      success: true,
      msg:
        `The request with idempotency_key '${key}' was carried out by the manager active before a failover, ` +
        "which stopped before it could send its reply: it is not carried out again",
      idempotency_key: key,
      reply_lost: true,
    };
  }

  private otherMethod(key: string, first: string, now: string): Reply {
    return {
      success: false,
      msg: `idempotency_key '${key}' was used by a '${first}' request; this request is '${now}': use a new key for a new request`,
    };
  }

  private evict(): void {
    const ops: StoreOp[] = [];
    for (const key of this.kept.keys()) {
      if (this.kept.size - ops.length <= this.opts.max) break;
      ops.push({ op: "idem_delete", key });
    }
    for (const op of ops) this.kept.delete((op as { key: string }).key);
    this.forget(ops);
  }

  private purge(): void {
    const now = this.now();
    const ops: StoreOp[] = [];
    for (const [key, r] of this.kept) {
      if (r.expiresAt > now) break;
      ops.push({ op: "idem_delete", key });
    }
    for (const op of ops) this.kept.delete((op as { key: string }).key);
    this.forget(ops);
  }

  private forget(ops: StoreOp[]): void {
    if (ops.length > 0) void this.opts.write(ops, "background");
  }
}
