/**
 * The HTTP gateway in the manager's process (--http-addr): the same gateway as
 * `zqs http`, a client of this manager's own sockets, started once they are
 * bound and closed first at stop.
 */
import type { Logger } from "pino";
import type { WireEncoding } from "../protocol/index.js";
import type { ManagerOptions } from "./options.js";

type GatewayOptions = Pick<
  ManagerOptions,
  | "zmqControlAddr"
  | "zmqInfoAddr"
  | "zmqPrivateKey"
  | "httpApiKeys"
  | "httpSingleUserApiKey"
  | "httpAllowAnonymous"
  | "httpAllowedOrigins"
  | "httpApiKeyMaxLifetime"
  | "httpStreamBuffer"
  | "httpConsoleKeep"
  | "httpConsoleKeepBytes"
>;

export class EmbeddedGateway {
  private started: { close(): Promise<void>; url: string } | undefined;
  private stopped = false;

  constructor(
    private readonly listen: string,
    private readonly opts: GatewayOptions,
    private readonly encoding: WireEncoding,
    /** The control socket's allow-list, when there is one: the gateway's own key joins it. */
    private readonly allowList: () => { allowOwn(key: string): void } | undefined,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    // Fastify is loaded only when the gateway is wanted.
    const { startGateway, startedMessage } = await import("../http/start.js");
    const { connectableAddress } = await import("../http/options.js");
    const { publicKeyFromPrivate } = await import("../client/keys.js");
    const o = this.opts;
    const zqsAddr = connectableAddress(o.zmqControlAddr);
    // With an allow-list, the gateway's own key pair is allowed too.
    let clientKey: string | undefined;
    const allowList = this.allowList();
    if (o.zmqPrivateKey && allowList) {
      const { curveKeyPair } = await import("zeromq");
      const pair = curveKeyPair();
      allowList.allowOwn(pair.publicKey);
      clientKey = pair.secretKey;
    }
    const started = await startGateway({
      zqsAddr,
      zqsInfoAddr: connectableAddress(o.zmqInfoAddr),
      listen: this.listen,
      zmqEncoding: this.encoding,
      zmqPublicKey: o.zmqPrivateKey ? publicKeyFromPrivate(o.zmqPrivateKey) : undefined,
      zmqClientPrivateKey: clientKey,
      apiKeys: o.httpApiKeys,
      singleUserApiKey: o.httpSingleUserApiKey,
      allowAnonymous: o.httpAllowAnonymous,
      allowedOrigins: o.httpAllowedOrigins,
      apiKeyMaxLifetime: o.httpApiKeyMaxLifetime,
      dashboardDir: undefined,
      timeout: 10,
      streamBuffer: o.httpStreamBuffer,
      consoleKeep: o.httpConsoleKeep,
      consoleKeepBytes: o.httpConsoleKeepBytes,
    });
    if (this.stopped) {
      // Stopped while the gateway was starting.
      await started.close();
      return;
    }
    this.started = started;
    this.log.info(`HTTP gateway at ${started.url}`);
    // On stdout only, never on QS_Console: a generated key must not reach the info socket.
    if (started.generatedKey) process.stdout.write(startedMessage(started, zqsAddr) + "\n");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.started
      ?.close()
      .catch((err: unknown) => this.log.error({ err }, "Closing the HTTP gateway failed"));
  }
}
