/**
 * The store as one of the manager's services: at start it is opened (taken
 * for this process), given to the writer and read back (the snapshot the
 * areas restore from); at stop the last quiet writes (results, run outcomes)
 * are flushed and it is closed.
 */
import type { Logger } from "pino";
import { openStore, type OpenStoreOptions } from "./index.js";
import type { Store, StoreSnapshot } from "./types.js";
import type { StoreWriter } from "./writer.js";

export interface OpenedStoreContext {
  writer: Pick<StoreWriter, "store" | "flush">;
  log: Pick<Logger, "info" | "warn" | "error">;
  /** Another manager took the store (Redis: the lease): write nothing more, and stop. */
  ownershipLost(why: string): void;
}

export class OpenedStore {
  private store: Store | undefined;
  private loaded: StoreSnapshot | undefined;

  /** `preopened`: a store already taken (a standby that took over), used instead of opening one. */
  constructor(
    private readonly opts: Omit<OpenStoreOptions, "log">,
    private readonly ctx: OpenedStoreContext,
    private readonly preopened?: Store,
  ) {}

  async start(): Promise<void> {
    const log = this.ctx.log;
    const store =
      this.preopened ??
      (await openStore({
        ...this.opts,
        standbyWait: undefined,
        log: { info: (msg) => log.info(msg), warn: (msg) => log.warn(msg) },
      }));
    this.store = store;
    this.ctx.writer.store = store;
    store.onOwnershipLost = (why) => {
      log.error(`${store.kind} store at ${store.location}: ${why}`);
      this.ctx.ownershipLost(why);
    };
    this.loaded = await store.load();
  }

  /** What the store held at start (the areas restore from it). */
  get snapshot(): StoreSnapshot {
    if (!this.loaded) throw new Error("The store is not open");
    return this.loaded;
  }

  /** "lmdb at <path>", "redis at <addr>". */
  get where(): string {
    return this.store ? `${this.store.kind} at ${this.store.location}` : "none";
  }

  async stop(): Promise<void> {
    await this.ctx.writer.flush();
    await this.store
      ?.close()
      .catch((err: unknown) => this.ctx.log.error({ err }, "Closing the store failed"));
  }
}
