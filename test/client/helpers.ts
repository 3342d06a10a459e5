/**
 * Helpers of the client tests: a client for a test manager, a recording proxy
 * that shows exactly what reached the manager, and a bare ROUTER that answers
 * only when told to (for timeouts and late replies).
 */
import { Dealer, Router } from "zeromq";
import type { ClientOptions } from "../../src/client/index.js";
import { REManagerAPI } from "../../src/client/index.js";
import { decode, encode, type WireEncoding } from "../../src/protocol/index.js";
import { freePort, type RunningManager } from "../helpers/manager.js";
import { gateModule } from "../helpers/startup.js";
import { ENV_OPEN_MS, GUARD_MS, waitUntil } from "../helpers/wait.js";

export const USER = "Test User";
export const GROUP = "primary";

/** The client's timeouts as failure guards (the defaults, 2 s, are short for a busy machine), in s. */
export const GUARDS = { timeoutSend: GUARD_MS / 1000, timeoutRecv: GUARD_MS / 1000 } as const;
/** A wait's failure guard, in s. */
export const WAIT_S = GUARD_MS / 1000;

/** A client of a test manager: schema-checked replies, a test user, generous timeouts. */
export function clientOf(
  m: RunningManager | { controlAddr: string; infoAddr?: string },
  opts: ClientOptions = {},
) {
  return new REManagerAPI({
    zmqControlAddr: m.controlAddr,
    zmqInfoAddr: m.infoAddr ?? null,
    user: USER,
    userGroup: GROUP,
    checkReplies: true,
    ...GUARDS,
    ...opts,
  });
}

export async function openEnvironment(api: REManagerAPI): Promise<void> {
  const s = await api.status({ reload: true });
  if (s.worker_environment_exists) return;
  await api.environmentOpen();
  const after = await api.waitForCondition((st) => st.manager_state === "idle", {
    timeout: ENV_OPEN_MS / 1000,
  });
  if (!after.worker_environment_exists) throw new Error("the environment did not open");
}

/** Add `func_for_test_gate(marker)` (a task that runs until released) to the open environment. */
export async function uploadGate(api: REManagerAPI): Promise<void> {
  const up = await api.scriptUpload(gateModule("func_for_test_gate"));
  await api.waitForCompletedTask(up.task_uid as string, { timeout: WAIT_S });
  await api.waitForIdle({ timeout: WAIT_S });
}

export interface Exchange {
  request: Record<string, unknown>;
  reply?: Record<string, unknown>;
}

/**
 * A ROUTER in front of the manager that forwards every request and reply and
 * records both (decoded), so a test sees exactly what reached the manager.
 */
export class RecordingProxy {
  readonly exchanges: Exchange[] = [];
  private readonly front = new Router({ linger: 0 });
  private readonly back = new Dealer({ linger: 0 });
  private closed = false;
  private readonly byEnvelope = new Map<string, Exchange>();
  private constructor(
    readonly address: string,
    private readonly enc: WireEncoding,
  ) {}

  static async start(target: string, enc: WireEncoding = "json"): Promise<RecordingProxy> {
    const address = `tcp://127.0.0.1:${await freePort()}`;
    const p = new RecordingProxy(address, enc);
    await p.front.bind(address);
    p.back.connect(target);
    void p.forward();
    void p.backward();
    return p;
  }

  private async forward(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.front.receive();
      } catch {
        return;
      }
      const body = frames[frames.length - 1] as Buffer;
      const ex: Exchange = { request: decode(body, this.enc) as Record<string, unknown> };
      this.exchanges.push(ex);
      this.byEnvelope.set(Buffer.concat(frames.slice(0, -1)).toString("hex"), ex);
      await this.back.send(frames).catch(() => undefined);
    }
  }

  private async backward(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.back.receive();
      } catch {
        return;
      }
      const body = frames[frames.length - 1] as Buffer;
      const ex = this.byEnvelope.get(Buffer.concat(frames.slice(0, -1)).toString("hex"));
      if (ex) ex.reply = decode(body, this.enc) as Record<string, unknown>;
      await this.front.send(frames).catch(() => undefined);
    }
  }

  /** Requests of one method, in order. */
  requests(method?: string): Record<string, unknown>[] {
    return this.exchanges
      .map((e) => e.request)
      .filter((r) => method === undefined || r.method === method);
  }

  last(): Exchange | undefined {
    return this.exchanges[this.exchanges.length - 1];
  }

  /** The last exchange, once its reply has passed. */
  async lastAnswered(): Promise<Exchange> {
    return waitUntil(
      () => {
        const l = this.last();
        return l?.reply ? l : undefined;
      },
      GUARD_MS,
      2,
    );
  }

  close(): void {
    this.closed = true;
    this.front.close();
    this.back.close();
  }
}

export interface HeldRequest {
  envelope: Buffer[];
  request: Record<string, unknown>;
}

/** A bare ROUTER that never answers unless told to. */
export class SilentServer {
  readonly held: HeldRequest[] = [];
  private readonly sock = new Router({ linger: 0 });
  private closed = false;
  /** When set, requests are answered at once with this function's reply. */
  autoReply: ((req: Record<string, unknown>) => Record<string, unknown>) | undefined;
  private constructor(
    readonly address: string,
    private readonly enc: WireEncoding,
  ) {}

  static async start(enc: WireEncoding = "json", addr?: string): Promise<SilentServer> {
    const address = addr ?? `tcp://127.0.0.1:${await freePort()}`;
    const s = new SilentServer(address, enc);
    await s.sock.bind(address);
    void s.loop();
    return s;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch {
        return;
      }
      const h: HeldRequest = {
        envelope: frames.slice(0, -1),
        request: decode(frames[frames.length - 1] as Buffer, this.enc) as Record<string, unknown>,
      };
      if (this.autoReply) await this.answer(h, this.autoReply(h.request));
      else this.held.push(h);
    }
  }

  async answer(h: HeldRequest, reply: Record<string, unknown>): Promise<void> {
    await this.sock.send([...h.envelope, encode(reply, this.enc)]);
  }

  close(): void {
    this.closed = true;
    this.sock.close();
  }
}

/** Seconds since the epoch, as the manager writes times. */
export const nowSec = (): number => Date.now() / 1000;
