/**
 * The receive loop of a ROUTER socket (the control socket, the socket of
 * workers on other hosts): each message is handed to `onFrames` as it comes;
 * a failed receive is logged and the loop goes on, until the socket closes or
 * `running()` turns false; a handler that throws is logged, never stops it.
 */
import type { Logger } from "pino";
import type { Router } from "zeromq";

export interface RouterLoopOptions {
  /** The socket, as a log line names it ("the control socket"). */
  name: string;
  log: Logger;
  /** Whether to go on (false once the owner closes). */
  running(): boolean;
  onFrames(frames: Buffer[]): void;
  /**
   * After a message this large, let the other sockets and the timers have a
   * turn: messages already queued resolve `receive()` without a turn of the
   * event loop. Default: never.
   */
  yieldAfterBytes?: number;
}

/** Runs until the socket closes (or `running()` is false); resolves then. */
export async function routerLoop(router: Router, o: RouterLoopOptions): Promise<void> {
  const yieldAfter = o.yieldAfterBytes ?? Infinity;
  while (o.running()) {
    let frames: Buffer[];
    try {
      frames = await router.receive();
    } catch (err) {
      if (!o.running() || router.closed) return;
      o.log.warn({ err }, `Receive failed on ${o.name}`);
      continue;
    }
    try {
      o.onFrames(frames);
    } catch (err) {
      // A last line of defence: a peer's message never stops the manager.
      o.log.error({ err }, `Handling a message on ${o.name} failed`);
    }
    if (frames.length > 0 && (frames[frames.length - 1]?.length ?? 0) > yieldAfter) {
      await new Promise((r) => setImmediate(r));
    }
  }
}
