/** Options of the client, their defaults and the environment variables they read. */
import type { WireEncoding } from "../protocol/index.js";
import type { ManagerSwitch } from "./managers.js";
import { addressList, DEFAULT_FAILOVER_WAIT } from "./managers.js";

export const DEFAULT_CONTROL_ADDR = "tcp://localhost:60615";
export const DEFAULT_INFO_ADDR = "tcp://localhost:60625";
export const DEFAULT_USER = "Queue Server API User";
export const DEFAULT_USER_GROUP = "primary";

export const ENV_CONTROL_ADDR = "QSERVER_ZMQ_CONTROL_ADDRESS";
export const ENV_INFO_ADDR = "QSERVER_ZMQ_INFO_ADDRESS";
export const ENV_PUBLIC_KEY = "QSERVER_ZMQ_PUBLIC_KEY";

export interface ClientOptions {
  /**
   * Control socket of the manager (env `QSERVER_ZMQ_CONTROL_ADDRESS`, default
   * `tcp://localhost:60615`). Several (a list, or separated by commas): an
   * active manager and its standbys; the client follows the active one.
   */
  zmqControlAddr?: string | readonly string[];
  /**
   * Info (PUB) socket of the manager (env `QSERVER_ZMQ_INFO_ADDRESS`, default
   * `tcp://localhost:60625`). `null` turns subscriptions off: waits then poll.
   * With several control addresses: one info address, or one per control
   * address in the same order (the subscription follows the active manager).
   */
  zmqInfoAddr?: string | readonly string[] | null;
  /**
   * Send a random `idempotency_key` with every state-changing request, so that
   * one that got no reply may be sent again to another manager and is applied
   * once (default: on with several control addresses, off with one).
   */
  idempotencyKeys?: boolean;
  /** Called when the client moves to another manager (a failover). */
  onManagerSwitch?: (e: ManagerSwitch) => void;
  /**
   * Seconds a request keeps trying while the managers that answer are all on
   * standby (a takeover under way), before it fails with the standby's
   * refusal (default 15; only with several control addresses).
   */
  failoverWait?: number;
  /** Encoding of requests and replies (default "json"). */
  zmqEncoding?: WireEncoding;
  /**
   * The server's CURVE public key (z85, 40 characters; env `QSERVER_ZMQ_PUBLIC_KEY`).
   * When set, the client encrypts the control connection with a key pair of its own.
   */
  zmqPublicKey?: string | null;
  /**
   * The client's own CURVE key pair (z85). Default: a new pair from zeromq's
   * `curveKeyPair()` (needed only when the server keeps an allow-list of clients).
   */
  zmqClientKeyPair?: { publicKey: string; secretKey: string };
  /** Seconds to wait for a reply (default 2). */
  timeoutRecv?: number;
  /**
   * Seconds to wait until a request is handed to a connection (default 2, as
   * long as a reply: a new client connects first, which a busy machine can
   * make slow; with no manager there, a request fails after this long).
   */
  timeoutSend?: number;
  /** Filled in as `user` for the methods that take it (default "Queue Server API User"). */
  user?: string;
  /** Filled in as `user_group` for the methods that take it (default "primary"). */
  userGroup?: string;
  /** Sent as `lock_key` with the methods that take one, unless the call gives its own. */
  lockKey?: string | null;
  /** Throw `RequestFailedError` on `success: false` replies (default true). */
  requestFailExceptions?: boolean;
  /** Seconds a `status()` reply is reused (default 0.5). */
  statusExpiration?: number;
  /**
   * Check each successful reply against its schema in the method table and
   * throw `RequestError` when it does not match (default false; tests use it).
   */
  checkReplies?: boolean;
}

export interface ResolvedOptions {
  /** The control address(es) as given (separated by commas). */
  zmqControlAddr: string;
  zmqInfoAddr: string | null;
  /** Every control address, active first (as far as the client knows at the start). */
  zmqControlAddrs: string[];
  /** The info address of each control address (by position), or null when off. */
  zmqInfoAddrs: string[] | null;
  idempotencyKeys: boolean;
  onManagerSwitch: ((e: ManagerSwitch) => void) | undefined;
  failoverWait: number;
  zmqEncoding: WireEncoding;
  zmqPublicKey: string | null;
  zmqClientKeyPair: { publicKey: string; secretKey: string } | undefined;
  timeoutRecv: number;
  timeoutSend: number;
  user: string;
  userGroup: string;
  lockKey: string | null;
  requestFailExceptions: boolean;
  statusExpiration: number;
  checkReplies: boolean;
}

function envValue(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
}

function seconds(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || Number.isNaN(v) || v < 0) {
    throw new TypeError(
      `Option '${name}' must be a non-negative number of seconds, got ${String(v)}`,
    );
  }
  return v;
}

/** Explicit options beat environment variables, which beat defaults. */
export function resolveClientOptions(opts: ClientOptions = {}): ResolvedOptions {
  const enc = opts.zmqEncoding ?? "json";
  if (enc !== "json" && enc !== "msgpack") {
    throw new TypeError(`Option 'zmqEncoding' must be "json" or "msgpack", got ${String(enc)}`);
  }
  const publicKey =
    opts.zmqPublicKey === null ? null : (opts.zmqPublicKey ?? envValue(ENV_PUBLIC_KEY) ?? null);
  if (publicKey !== null && publicKey.length !== 40) {
    throw new TypeError("Option 'zmqPublicKey' must be a z85-encoded key of 40 characters");
  }
  const controls = addressList(
    opts.zmqControlAddr ?? envValue(ENV_CONTROL_ADDR) ?? DEFAULT_CONTROL_ADDR,
    "Option 'zmqControlAddr'",
  );
  const infos =
    opts.zmqInfoAddr === null
      ? null
      : addressList(
          opts.zmqInfoAddr ?? envValue(ENV_INFO_ADDR) ?? DEFAULT_INFO_ADDR,
          "Option 'zmqInfoAddr'",
        );
  if (infos && infos.length > 1 && infos.length !== controls.length) {
    throw new TypeError(
      `Option 'zmqInfoAddr' must be one address or one per control address (${controls.length}), got ${infos.length}`,
    );
  }
  if (opts.onManagerSwitch !== undefined && typeof opts.onManagerSwitch !== "function") {
    throw new TypeError("Option 'onManagerSwitch' must be a function");
  }
  return {
    zmqControlAddr: controls.join(","),
    zmqInfoAddr: infos === null ? null : infos.join(","),
    zmqControlAddrs: controls,
    zmqInfoAddrs: infos === null ? null : controls.map((_a, i) => infos[i] ?? (infos[0] as string)),
    idempotencyKeys: opts.idempotencyKeys ?? controls.length > 1,
    onManagerSwitch: opts.onManagerSwitch,
    failoverWait: seconds("failoverWait", opts.failoverWait, DEFAULT_FAILOVER_WAIT),
    zmqEncoding: enc,
    zmqPublicKey: publicKey,
    zmqClientKeyPair: opts.zmqClientKeyPair,
    timeoutRecv: seconds("timeoutRecv", opts.timeoutRecv, 2),
    timeoutSend: seconds("timeoutSend", opts.timeoutSend, 2),
    user: opts.user ?? DEFAULT_USER,
    userGroup: opts.userGroup ?? DEFAULT_USER_GROUP,
    lockKey: opts.lockKey ?? null,
    requestFailExceptions: opts.requestFailExceptions ?? true,
    statusExpiration: seconds("statusExpiration", opts.statusExpiration, 0.5),
    checkReplies: opts.checkReplies ?? false,
  };
}
