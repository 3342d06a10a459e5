/** The little of the `ws` package (a dependency of @fastify/websocket) the tests use. */
declare module "ws" {
  export default class WebSocket {
    constructor(url: string, opts?: { headers?: Record<string, string> });
    on(event: "open", fn: () => void): this;
    on(event: "message", fn: (data: Buffer) => void): this;
    on(event: "close", fn: (code: number, reason: Buffer) => void): this;
    on(event: "error", fn: (err: Error) => void): this;
    on(
      event: "unexpected-response",
      fn: (req: unknown, res: { statusCode?: number }) => void,
    ): this;
    send(data: string): void;
    close(): void;
    terminate(): void;
    /** Stop (and start again) reading from the socket. */
    pause(): void;
    resume(): void;
  }
}
