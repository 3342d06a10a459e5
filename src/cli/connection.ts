/**
 * The global options of the client commands (on the program; usable before or
 * after the command) and the client options they make.
 */
import type { ClientOptions } from "../client/index.js";
import { publicKeyFromPrivate } from "../client/index.js";
import { UsageError } from "./errors.js";
import { positiveSeconds } from "./parse.js";
import type { OptionsSpec, OptionValues } from "./spec.js";

/** Seconds a CLI command waits to reach the manager unless --timeout says otherwise. */
export const CLI_CONNECT_SECONDS = 5;

export const GLOBAL_OPTIONS = {
  address: {
    short: "-a",
    value: "<addr>",
    description:
      "control socket of the manager, or several separated by commas (an active manager and its standbys: requests follow the active one; env QSERVER_ZMQ_CONTROL_ADDRESS; default tcp://localhost:60615)",
  },
  infoAddress: {
    value: "<addr>",
    description:
      "info socket of the manager (one per control address, separated by commas), or 'off' (env QSERVER_ZMQ_INFO_ADDRESS; default tcp://localhost:60625)",
  },
  encoding: { value: "<enc>", description: "message encoding", choices: ["json", "msgpack"] },
  publicKey: {
    value: "<z85>",
    description: "the manager's CURVE public key (env QSERVER_ZMQ_PUBLIC_KEY)",
  },
  clientPrivateKey: {
    value: "<z85>",
    description:
      "this client's own CURVE private key, for a manager with an allow-list of clients (write --client-private-key=KEY: a key may begin with '-')",
  },
  timeout: {
    value: "<seconds>",
    description: `seconds to wait to reach the manager and for each reply (default ${CLI_CONNECT_SECONDS} and 2)`,
  },
  user: {
    value: "<name>",
    description: "user name sent with requests (default 'Queue Server API User')",
  },
  userGroup: { value: "<group>", description: "user group sent with requests (default 'primary')" },
  lockKey: { value: "<key>", description: "lock key sent with requests that take one" },
  json: { description: "print replies as JSON (for scripts)" },
} as const satisfies OptionsSpec;

export type GlobalOptions = OptionValues<typeof GLOBAL_OPTIONS>;

/** The client's options; bad values are usage errors (checked before any request). */
export function clientOptions(g: GlobalOptions): ClientOptions {
  const o: ClientOptions = {};
  if (g.address !== undefined) o.zmqControlAddr = g.address;
  if (g.infoAddress !== undefined) o.zmqInfoAddr = g.infoAddress === "off" ? null : g.infoAddress;
  if (g.encoding !== undefined) o.zmqEncoding = g.encoding;
  if (g.publicKey !== undefined) o.zmqPublicKey = g.publicKey;
  if (g.clientPrivateKey !== undefined) {
    let publicKey: string;
    try {
      publicKey = publicKeyFromPrivate(g.clientPrivateKey);
    } catch (err) {
      throw new UsageError(`--client-private-key: ${(err as Error).message}`);
    }
    o.zmqClientKeyPair = { publicKey, secretKey: g.clientPrivateKey.trim() };
  }
  // A one-shot command is a new process that connects first: reaching the
  // manager gets a budget of its own (the library's 0.5 s is too short on a
  // busy machine); --timeout sets it and each reply's.
  o.timeoutSend = CLI_CONNECT_SECONDS;
  if (g.timeout !== undefined) {
    const t = positiveSeconds(g.timeout, "--timeout");
    o.timeoutSend = t;
    o.timeoutRecv = t;
  }
  if (g.user !== undefined) o.user = g.user;
  if (g.userGroup !== undefined) o.userGroup = g.userGroup;
  if (g.lockKey !== undefined) o.lockKey = g.lockKey;
  o.onManagerSwitch = (e) =>
    process.stderr.write(`zqs: switched from the manager at ${e.from} to ${e.to}: ${e.reason}\n`);
  return o;
}
