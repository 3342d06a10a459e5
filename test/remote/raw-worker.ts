/**
 * A raw ZeroMQ DEALER that speaks the worker wire protocol (worker-wire.ts)
 * by hand: a peer that says what the test makes it say, as a hostile or
 * broken worker would.
 */
import { randomBytes } from "node:crypto";
import { Dealer } from "zeromq";
import { helloProof } from "../../src/protocol/worker-proof.js";
import type { ManagerMessage } from "../../src/protocol/worker-wire.js";
import { decodeWire, encodeWire, managerMessageSchema } from "../../src/protocol/worker-wire.js";
import { waitUntil } from "../helpers/manager.js";

export interface RawCurve {
  serverKey: string;
  publicKey: string;
  secretKey: string;
}

export class RawWorker {
  readonly sock: Dealer;
  readonly received: ManagerMessage[] = [];
  /** When each of `received` came (performance.now()). */
  readonly receivedAt: number[] = [];
  readonly instance = randomBytes(12).toString("hex");

  constructor(
    addr: string,
    private readonly curve?: RawCurve,
  ) {
    this.sock = new Dealer({
      linger: 0,
      ...(curve
        ? {
            curveServerKey: curve.serverKey,
            curvePublicKey: curve.publicKey,
            curveSecretKey: curve.secretKey,
          }
        : {}),
    });
    this.sock.connect(addr);
    const sock = this.sock;
    void (async () => {
      try {
        for await (const [body] of sock) {
          const r = decodeWire(body as Buffer, managerMessageSchema);
          if (!r.ok) continue;
          this.received.push(r.msg);
          this.receivedAt.push(performance.now());
        }
      } catch {
        // closed
      }
    })();
  }

  /** Send a raw body (already encoded). */
  async sendRaw(body: Buffer): Promise<void> {
    await this.sock.send(body);
  }

  /** A hello with these fields over a minimal one; with CURVE, its key and proof (of `proveAs`). */
  async hello(name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const proof = this.curve
      ? {
          key: this.curve.publicKey,
          proof: helloProof(this.curve.secretKey, this.curve.serverKey, name, this.instance),
        }
      : {};
    await this.sendRaw(
      encodeWire({
        type: "hello",
        name,
        instance: this.instance,
        ...proof,
        hostname: "raw-host",
        pid: 1,
        slots: 1,
        tags: [],
        version: "0",
        functions: { agent_pid: "0", gate: "0", report: "0", spin: "0" },
        ...extra,
      }),
    );
  }

  /** The first `welcome` or `refused` answer. */
  answer(): Promise<ManagerMessage> {
    return waitUntil(() => this.received.find((m) => m.type === "welcome" || m.type === "refused"));
  }

  got(type: ManagerMessage["type"]): ManagerMessage[] {
    return this.received.filter((m) => m.type === type);
  }

  close(): void {
    this.sock.close();
  }
}
