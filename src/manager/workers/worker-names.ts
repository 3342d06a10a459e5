/**
 * Who may use a worker's name. A name belongs to the worker that holds it:
 * its instance (a random token its agent makes at start) and, with CURVE, the
 * public key it proved in its first hello (worker-proof.ts).
 *
 *  - The same instance on a new connection is the same worker reconnecting:
 *    it gets its name back at once.
 *  - Another instance while the holder is live waits for the holder to show
 *    it is there (its next message: the claim is refused) or to be lost (the
 *    claim is taken): a worker restarted at once after a kill -9 gets its name
 *    when the old one times out, a second worker started under a live name is
 *    refused within a heartbeat.
 *  - With CURVE, a claim under another key than the name's is refused, the
 *    holder live or not, until the name is forgotten (--worker-forget-after).
 */
import type { HelloMsg } from "../../protocol/worker-wire.js";

/** What the judge needs to know of the name's holder. */
export interface NameHolder {
  instance: string;
  /** With CURVE: the key bound to the name. */
  key: string | undefined;
  /** Its connection is heard from within --worker-timeout. */
  live: boolean;
  hostname: string;
  pid: number;
}

export type ClaimVerdict =
  /** A new name, the holder's instance again, or a holder that is gone: take the name. */
  | { verdict: "take" }
  /** The holder is live: wait until it speaks (refuse) or is lost (take). */
  | { verdict: "wait" }
  | { verdict: "refuse"; reason: string };

/** Judge a hello's claim of its name (`key`: the key it proved, with CURVE). */
export function judgeClaim(
  holder: NameHolder | undefined,
  claim: Pick<HelloMsg, "name" | "instance">,
  key: string | undefined,
): ClaimVerdict {
  if (!holder) return { verdict: "take" };
  if (holder.key !== undefined && holder.key !== key) {
    return {
      verdict: "refuse",
      reason: `the name '${claim.name}' belongs to a worker with another CURVE key (${holder.key}); give this worker another --name`,
    };
  }
  if (holder.instance === claim.instance || !holder.live) return { verdict: "take" };
  return { verdict: "wait" };
}

/** The refusal of a claim whose holder showed it is live. */
export function nameInUse(name: string, holder: Pick<NameHolder, "hostname" | "pid">): string {
  return `the name '${name}' is in use by a live worker on ${holder.hostname} (pid ${holder.pid}); give this worker another --name`;
}

/** A claim waiting on a live holder: the hello to take the name with, if the holder is lost. */
export interface PendingClaim {
  route: string;
  routeBuf: Buffer;
  hello: HelloMsg;
  key: string | undefined;
}

/**
 * Claims waiting on live holders, by name: one each (a newer claim from
 * another connection replaces an older one, which is refused). The holder's
 * next message refuses the claim; its loss gives the claim the name.
 */
export class PendingClaims {
  private readonly byName = new Map<string, PendingClaim>();

  /** Keep a claim; returns the one of another connection it replaces, if any. */
  add(claim: PendingClaim): PendingClaim | undefined {
    const old = this.byName.get(claim.hello.name);
    this.byName.set(claim.hello.name, claim);
    return old && old.route !== claim.route ? old : undefined;
  }

  /** The claim on `name`, taken out. */
  take(name: string): PendingClaim | undefined {
    const c = this.byName.get(name);
    this.byName.delete(name);
    return c;
  }

  /** Whether a connection has a claim waiting (its other messages are not answered `who`). */
  waiting(route: string): boolean {
    for (const c of this.byName.values()) if (c.route === route) return true;
    return false;
  }
}
