/**
 * `zqs manager --standby`, a composition root beside daemon.ts: the life of a manager that shares a Redis store
 * with others. It waits as a standby while another manager holds the store's
 * lease (StandbyServer answering ping and status), takes the store over when
 * that lease lapses or its holder is seen gone, and serves as the active
 * manager (a Manager built on the taken store). Should it lose the store
 * (stalled past its lease while another took over), the Manager stops — its
 * sockets, its forked workers — and this process becomes a standby again. The
 * log says when and why each role change happened.
 */
import type { ManagerLogger } from "./log.js";
import type { ManagerOptions } from "./options.js";
import { Manager } from "./daemon.js";
import { describeOwner } from "./store/owner.js";
import { openStore } from "./store/index.js";
import type { RedisStore } from "./store/redis.js";
import { HaState, managerInfo } from "./ha-role.js";
import { StandbyServer } from "./rpc/standby-server.js";

export class HaRunner {
  readonly ha: HaState;
  private manager: Manager | undefined;
  private readonly abort = new AbortController();
  private stopReason: string | undefined;

  constructor(
    private readonly opts: ManagerOptions,
    private readonly logger: ManagerLogger,
  ) {
    this.ha = new HaState(opts.zmqControlAddr);
  }

  /** Stop whatever phase runs (a signal). */
  stop(reason: string): void {
    this.stopReason ??= reason;
    this.abort.abort(new Error(`stopped (${reason})`));
    void this.manager?.stop(reason);
  }

  /** Run until stopped; the process's exit code. */
  async run(): Promise<number> {
    const log = this.logger.log;
    log.info(
      `Manager ${this.ha.identity.id} (control ${this.ha.identity.controlAddress}) runs with --standby`,
    );
    for (;;) {
      const store = await this.waitForStore();
      if (!store) return this.stopReason ? 0 : 1;
      const manager = new Manager(this.opts, this.logger, { ha: this.ha, store });
      this.manager = manager;
      try {
        await manager.start();
      } catch (err) {
        log.error({ err }, `The manager failed to start: ${(err as Error).message}`);
        await manager.stop("start-up failure").catch(() => undefined);
        return 1;
      }
      if (this.stopReason) void manager.stop(this.stopReason);
      await manager.stopped;
      this.manager = undefined;
      if (!manager.steppedDown || this.stopReason) return manager.exitCode;
      this.ha.setRole("standby", "it lost the store's lease to another manager");
      log.warn(
        `Role change at ${new Date(this.ha.changedAt).toISOString()}: active -> standby (${this.ha.why}); its forked workers are stopped`,
      );
    }
  }

  /** As a standby, wait for the store's lease; the store once taken (undefined: stopped or failed). */
  private async waitForStore(): Promise<RedisStore | undefined> {
    const log = this.logger.log;
    const standby = new StandbyServer(this.opts, this.ha, log);
    this.ha.holder = undefined;
    let store: RedisStore;
    try {
      store = (await openStore({
        ...this.opts,
        identity: this.ha.identity,
        onLostDoes: "steps down to standby",
        log: { info: (msg) => log.info(msg), warn: (msg) => log.warn(msg) },
        standbyWait: {
          signal: this.abort.signal,
          onHolder: (holder, until) => {
            this.ha.holder = holder ? managerInfo(holder) : undefined;
            this.ha.holderUntil = until;
            standby.holderChanged();
            // Serve ping and status only once someone else holds the store.
            standby.bind().catch((err: unknown) => {
              log.error({ err }, `Standby: cannot bind ${this.opts.zmqControlAddr}`);
            });
          },
        },
      })) as RedisStore;
    } catch (err) {
      await standby.close();
      if (this.stopReason) return undefined;
      log.error({ err }, `The manager failed to take the store: ${(err as Error).message}`);
      process.stderr.write(`zqs manager: failed to start: ${(err as Error).message}\n`);
      return undefined;
    }
    await standby.close();
    const taken = store.taken;
    const from = taken?.from;
    const why = !from
      ? "the store was free"
      : taken.gone
        ? `its holder, ${describeOwner(from)}, is no longer running`
        : `the lease of ${describeOwner(from)} lapsed`;
    const wasStandby = this.ha.holder !== undefined;
    this.ha.setRole("active", why, from !== undefined);
    const at = new Date(this.ha.changedAt).toISOString();
    const expiry =
      taken?.expiredAt !== undefined && Number.isFinite(taken.expiredAt)
        ? `; the lease was due to expire at ${new Date(taken.expiredAt).toISOString()}`
        : "";
    log.info(
      wasStandby
        ? `Role change at ${at}: standby -> active, took over the store (${why}${expiry})`
        : `Role: active at ${at} (${why})`,
    );
    return store;
  }
}
