/**
 * Many requests to a manager without a round trip each: one DEALER keeps
 * `inFlight` requests outstanding (a REQ socket waits for each reply before the
 * next request, and a soak of thousands of tasks then measures round trips).
 */
import { Dealer } from "zeromq";
import { encode } from "../../src/protocol/index.js";

/**
 * Send `{method, params}` `total` times (JSON), `inFlight` at a time, and hand
 * each decoded reply to `onReply` with its 1-based count, in the order they come.
 */
export async function pipelined(
  addr: string,
  request: { method: string; params: unknown },
  total: number,
  onReply: (reply: Record<string, unknown>, count: number) => void,
  inFlight = 16,
): Promise<void> {
  const body = encode(request, "json");
  const d = new Dealer({ linger: 0 });
  d.connect(addr);
  try {
    let sent = 0;
    for (; sent < Math.min(inFlight, total); sent++) await d.send([Buffer.alloc(0), body]);
    for (let got = 1; got <= total; got++) {
      const frames = await d.receive();
      onReply(
        JSON.parse((frames[frames.length - 1] as Buffer).toString()) as Record<string, unknown>,
        got,
      );
      if (sent < total) {
        await d.send([Buffer.alloc(0), body]);
        sent++;
      }
    }
  } finally {
    d.close();
  }
}
