/**
 * The hellos of workers on other hosts: whether one may join under its name.
 * With CURVE a hello must prove the key it names (worker-proof.ts); the name
 * is judged against the worker known by it (worker-names.ts): taken, refused,
 * or claimed, waiting for its live holder to speak (refused then) or be lost
 * (the claim takes the name then). A refusal is told to the connection and
 * logged once per connection, as is a broken message.
 */
import type { Logger } from "pino";
import { checkHelloProof } from "../../protocol/worker-proof.js";
import type { HelloMsg, ManagerMessage } from "../../protocol/worker-wire.js";
import type { RemoteWorker } from "./remote-worker.js";
import type { NameHolder, PendingClaim } from "./worker-names.js";
import { judgeClaim, nameInUse, PendingClaims } from "./worker-names.js";

/** What the hellos need of the remote pool. */
export interface HelloContext {
  /** With CURVE: the manager's secret key (a hello's proof is checked with it). */
  curveSecretKey: string | undefined;
  log: Pick<Logger, "warn">;
  sendTo(route: Buffer, msg: ManagerMessage): void;
  /** The worker known by this name, if one is. */
  known(name: string): RemoteWorker | undefined;
  /** How long this worker may stay silent before it is lost. */
  lossMs(w: RemoteWorker): number;
  /** The hello's worker takes its name (new, back, or on a new connection). */
  take(route: Buffer, key: string, m: HelloMsg, curveKey: string | undefined): void;
}

export class RemoteHellos {
  /** Peers whose broken messages were logged (once each). */
  private readonly complained = new Set<string>();
  /** Hellos under the name of a live worker, waiting for it to speak or be lost. */
  private readonly pending = new PendingClaims();

  constructor(private readonly ctx: HelloContext) {}

  /** A hello on connection `key` (hex of `route`): taken, refused or kept waiting. */
  hello(route: Buffer, key: string, m: HelloMsg): void {
    const proven = this.provenKey(m);
    if ("refusal" in proven) return this.refuse(route, key, m.name, proven.refusal);
    const held = this.ctx.known(m.name);
    const v = judgeClaim(held && this.holder(held), m, proven.key);
    if (v.verdict === "refuse") return this.refuse(route, key, m.name, v.reason);
    if (v.verdict === "wait" && held) {
      const replaced = this.pending.add({ route: key, routeBuf: route, hello: m, key: proven.key });
      if (replaced) {
        this.refuse(replaced.routeBuf, replaced.route, m.name, nameInUse(m.name, held));
      }
      return;
    }
    this.ctx.take(route, key, m, proven.key);
  }

  /** Whether a connection has a claim waiting (its other messages are not answered `who`). */
  waiting(key: string): boolean {
    return this.pending.waiting(key);
  }

  /** `w` spoke: it is live, and a claim of its name that waited on it is refused. */
  spoke(w: RemoteWorker): void {
    const claim = this.pending.take(w.name);
    if (claim) this.refuse(claim.routeBuf, claim.route, w.name, nameInUse(w.name, w));
  }

  /** The name goes to a hello on connection `key`: a claim of it from another one is refused. */
  taken(name: string, key: string, holder: Pick<NameHolder, "hostname" | "pid">): void {
    const claim = this.pending.take(name);
    if (claim && claim.route !== key) {
      this.refuse(claim.routeBuf, claim.route, name, nameInUse(name, holder));
    }
  }

  /** The holder of the name left or was lost: the claim that waited on it, taken out. */
  claimOf(name: string): PendingClaim | undefined {
    return this.pending.take(name);
  }

  /** Log a broken message of a connection (once per connection). */
  complain(key: string, error: string): void {
    if (this.complained.has(key)) return;
    if (this.complained.size > 10_000) this.complained.clear();
    this.complained.add(key);
    this.ctx.log.warn(`Dropped a message from a worker connection: ${error}`);
  }

  /** Tell a connection why its hello is refused (logged once per connection). */
  refuse(route: Buffer, key: string, name: string | undefined, reason: string): void {
    this.ctx.sendTo(route, { type: "refused", reason });
    if (this.complained.has(`refused:${key}`)) return;
    if (this.complained.size > 10_000) this.complained.clear();
    this.complained.add(`refused:${key}`);
    this.ctx.log.warn(`Refused a worker${name !== undefined ? ` named '${name}'` : ""}: ${reason}`);
  }

  /** With CURVE, the key a hello proves (worker-proof.ts); a refusal when it proves none. */
  private provenKey(m: HelloMsg): { key: string | undefined } | { refusal: string } {
    const secret = this.ctx.curveSecretKey;
    if (!secret) return { key: undefined };
    if (m.key === undefined || m.proof === undefined) {
      return { refusal: "with CURVE, a hello names the worker's public key and proves it" };
    }
    if (!checkHelloProof(secret, m.key, m.name, m.instance, m.proof)) {
      return { refusal: `the hello does not prove that the worker holds the key ${m.key}` };
    }
    return { key: m.key };
  }

  private holder(w: RemoteWorker): NameHolder {
    const live =
      (w.state === "online" || w.state === "draining") &&
      Date.now() - w.lastSeen <= this.ctx.lossMs(w);
    return { instance: w.instance, key: w.key, live, hostname: w.hostname, pid: w.pid };
  }
}
