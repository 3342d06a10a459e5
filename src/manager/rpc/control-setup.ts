/**
 * The control socket as the options describe it (address, CURVE, allow-lists
 * of clients and workers): one recipe for the active manager and a standby.
 */
import type { Logger } from "pino";
import type { ManagerOptions } from "../options.js";
import type { Dispatcher } from "./dispatch.js";
import { AllowList, ControlServer, socketMessageLimit, WORKER_ZAP_DOMAIN } from "./server.js";

export type ControlSetupOptions = Pick<
  ManagerOptions,
  | "zmqControlAddr"
  | "maxMessageSize"
  | "zmqPrivateKey"
  | "zmqAllowedClients"
  | "zmqAllowedWorkers"
  | "zmqEncoding"
  | "bindRetry"
>;

/** How long a control socket keeps trying an address this process closed a moment ago (ms, --bind-retry). */
export function bindRetryMs(opts: Pick<ManagerOptions, "bindRetry">): number {
  return Math.round(opts.bindRetry * 1000);
}

/** The control server and its client allow-list (undefined without one). */
export function controlServer(
  opts: ControlSetupOptions,
  dispatcher: Dispatcher,
  log: Logger,
  extra: { bindRetryMs?: number } = {},
): { control: ControlServer; allowedClients: AllowList | undefined } {
  const allowedClients = opts.zmqAllowedClients ? new AllowList(opts.zmqAllowedClients) : undefined;
  const control = new ControlServer(
    {
      address: opts.zmqControlAddr,
      socketMaxMessageSize: socketMessageLimit(opts.maxMessageSize),
      ...(opts.zmqPrivateKey ? { curveSecretKey: opts.zmqPrivateKey } : {}),
      ...(allowedClients ? { allowedClients } : {}),
      ...(opts.zmqAllowedWorkers
        ? {
            otherZapDomains: new Map([
              [WORKER_ZAP_DOMAIN, { list: new AllowList(opts.zmqAllowedWorkers), who: "worker" }],
            ]),
          }
        : {}),
      replyEncodingForErrors: opts.zmqEncoding === "msgpack" ? "msgpack" : "json",
      ...(extra.bindRetryMs !== undefined ? { bindRetryMs: extra.bindRetryMs } : {}),
    },
    dispatcher,
    log,
  );
  return { control, allowedClients };
}
