/**
 * The recorded Python session (vectors.json cases 18–212: calls before any
 * environment opens, the lists of plans among them, which the Python server
 * and zqs know at start; environment, tasks, queue, history, plan control,
 * locks, scripts, close/destroy, manager_stop)
 * replayed in order against ONE real zqs manager with the example profile,
 * one test per case. How refs, `before` steps, timing-dependent snapshots and
 * the deliberate zqs differences are handled: test/helpers/replay.ts.
 *
 * A case whose method answers "not implemented yet" is reported as skipped
 * (with the reply), and so are the cases built on it; they run as soon as
 * the manager serves them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";
import { STORES, type StoreSetup } from "../helpers/stores.js";
import { replaySession, type CaseOutcome, type ReplayClient } from "../helpers/replay.js";
import { vector } from "../helpers/vectors.js";

const FROM = 18;
const TO = 212;

/**
 * A REQ client that replaces its socket after a failed round trip (a REQ
 * socket that timed out cannot send again), so that one lost reply fails one
 * case, not every case after it.
 */
class ReconnectingClient implements ReplayClient {
  private c: RawClient;
  constructor(private readonly addr: string) {
    this.c = new RawClient(addr);
  }
  async request(method: string, params?: unknown): Promise<Record<string, unknown>> {
    try {
      return await this.c.request(method, params);
    } catch (err) {
      this.c.close();
      this.c = new RawClient(this.addr);
      throw err;
    }
  }
  close(): void {
    this.c.close();
  }
}

interface Deferred {
  promise: Promise<CaseOutcome>;
  resolve: (o: CaseOutcome) => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: (o: CaseOutcome) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<CaseOutcome>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Observed by the case's test; this keeps an unread rejection quiet.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * The replay against a manager on the store `prepare` makes (test/helpers/stores.ts).
 * The session runs once, in order; each case's test waits for its outcome.
 */
export function replaySuite(label: string, prepare: () => Promise<StoreSetup>): void {
  describe.sequential(label, () => {
    let m: RunningManager | undefined;
    let client: ReconnectingClient | undefined;
    const outcomes = new Map<number, Deferred>();
    for (let i = FROM; i <= TO; i++) outcomes.set(i, deferred());

    let store: StoreSetup | undefined;
    beforeAll(async () => {
      store = await prepare();
      m = await startManager({ args: store.args });
      client = new ReconnectingClient(m.controlAddr);
      const c = client;
      void replaySession(c, {
        from: FROM,
        to: TO,
        onCase: (o) => outcomes.get(o.index)?.resolve(o),
      }).catch((err: unknown) => {
        for (const d of outcomes.values()) d.reject(err);
      });
    });
    afterAll(async () => {
      client?.close();
      await m?.stop();
      await store?.cleanup();
    });

    for (let i = FROM; i <= TO; i++) {
      it(`#${i} ${vector(i).name}`, async (ctx) => {
        const o = await outcomes.get(i)?.promise;
        if (!o) throw new Error(`no outcome for case #${i}`);
        if (o.status === "skipped") ctx.skip(o.reason);
        if (o.status === "failed") throw o.error;
      });
    }

    it("the manager exits after manager_stop (case 212)", async (ctx) => {
      const stop = await outcomes.get(TO)?.promise;
      if (stop?.status !== "passed") ctx.skip("manager_stop did not pass");
      expect(await m?.exited).toBe(0);
    });
  });
}

for (const [label, make] of STORES) replaySuite(`recorded session, ${label} store`, make);
