/**
 * Start a gateway from options: the link to the manager, the keys, the
 * gateway, listening. Used by `zqs http` and by `zqs manager --http-addr`.
 */
import { publicKeyFromPrivate } from "../client/keys.js";
import { ApiKeyStore, newSecret } from "./api-keys.js";
import { Auth } from "./auth.js";
import { Gateway } from "./gateway.js";
import { ManagerLink } from "./manager-link.js";
import type { HttpOptions } from "./options.js";
import { parseHostPort } from "./options.js";

export interface StartedGateway {
  gateway: Gateway;
  url: string;
  /** The single-user key the gateway made (no key was configured), to print once. */
  generatedKey: string | undefined;
  close(): Promise<void>;
}

export async function startGateway(opts: HttpOptions): Promise<StartedGateway> {
  const keys = new ApiKeyStore(opts.apiKeys);
  let generatedKey: string | undefined;
  let single = opts.singleUserApiKey;
  if (!single && keys.size === 0 && !opts.allowAnonymous) {
    generatedKey = newSecret();
    single = generatedKey;
  }
  if (single) keys.addSingleUser(single);
  const auth = new Auth(keys, { allowAnonymous: opts.allowAnonymous ?? null });
  const link = new ManagerLink({
    controlAddr: opts.zqsAddr,
    infoAddr: opts.zqsInfoAddr,
    onSwitch: (e) =>
      process.stderr.write(
        `zqs http: switched from the manager at ${e.from} to ${e.to}: ${e.reason}\n`,
      ),
    encoding: opts.zmqEncoding,
    timeout: opts.timeout,
    ...(opts.zmqPublicKey
      ? {
          curve: {
            serverKey: opts.zmqPublicKey,
            ...(opts.zmqClientPrivateKey
              ? {
                  publicKey: publicKeyFromPrivate(opts.zmqClientPrivateKey),
                  secretKey: opts.zmqClientPrivateKey,
                }
              : {}),
          },
        }
      : {}),
  });
  const gateway = new Gateway({
    backend: link,
    auth,
    allowedOrigins: opts.allowedOrigins ?? [],
    apiKeyMaxLifetime: opts.apiKeyMaxLifetime,
    ...(opts.dashboardDir ? { dashboardDir: opts.dashboardDir } : {}),
    streamBuffer: opts.streamBuffer,
    console: { consoleKeep: opts.consoleKeep, consoleKeepBytes: opts.consoleKeepBytes },
  });
  const { host, port } = parseHostPort(opts.listen);
  let bound;
  try {
    bound = await gateway.listen(host, port);
  } catch (err) {
    await gateway.close().catch(() => undefined);
    throw err;
  }
  const h = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
  return {
    gateway,
    url: `http://${h}:${bound.port}`,
    generatedKey,
    close: () => gateway.close(),
  };
}

/** The lines to print once the gateway listens. */
export function startedMessage(s: StartedGateway, managerAddr: string): string {
  const lines = [`zqs http gateway at ${s.url} for the manager at ${managerAddr}`];
  if (s.generatedKey) {
    lines.push(
      "No API key was configured: this one opens everything (single user) until the gateway stops.",
      `Dashboard: ${s.url}/?token=${s.generatedKey}`,
      `API: curl -H 'Authorization: ApiKey ${s.generatedKey}' ${s.url}/api/status`,
    );
  }
  return lines.join("\n");
}
