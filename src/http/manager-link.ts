/**
 * The gateway's connection to the manager: requests over the control socket
 * (the client's transport, in the manager's encoding) with the caller's user
 * and group put in, and the info socket's messages (status, console, task
 * events). The gateway is a client like any other, so it may run on another
 * host than the manager; given several addresses (an active manager and its
 * standbys) it follows the active one as the client does (managers.ts), and
 * its info subscription with it.
 */
import { curveKeyPair } from "zeromq";
import { buildRequest } from "../client/core.js";
import { ClientClosedError, RequestParameterError, RequestTimeoutError } from "../client/errors.js";
import type { WireRequest } from "../client/errors.js";
import { InfoHub } from "../client/info.js";
import type { Topic } from "../client/info.js";
import type { ManagerSwitch } from "../client/managers.js";
import { addressList, ManagerSet, newIdempotencyKey } from "../client/managers.js";
import { Transport } from "../client/transport.js";
import type { MethodName, WireEncoding } from "../protocol/index.js";
import { decode, encode, isReadOnly } from "../protocol/index.js";
import { callerParams } from "./params.js";

export interface ManagerLinkOptions {
  /** One address, or several separated by commas (the active manager is followed). */
  controlAddr: string;
  /** `null`: no info socket (streams stay silent). One, or one per control address. */
  infoAddr: string | null;
  /** Told when the gateway moves to another manager (the gateway logs it). */
  onSwitch?: (e: ManagerSwitch) => void;
  encoding: WireEncoding;
  /** Seconds to wait for a reply (default 10). */
  timeout?: number;
  /** Seconds to wait to reach the manager (default 2). */
  connectTimeout?: number;
  /** CURVE: the manager's public key and this gateway's own pair (a new pair if absent). */
  curve?: { serverKey: string; publicKey?: string; secretKey?: string };
}

/** The manager did not answer (not running, unreachable, too slow): the gateway says 408, as the Python gateway. */
export class ManagerUnavailableError extends Error {
  override name = "ManagerUnavailableError";
}

export type Reply = Record<string, unknown>;

export interface Caller {
  user: string;
  userGroup: string;
}

export interface CallExtras {
  /** Sent as the request's `idempotency_key` (the HTTP `Idempotency-Key` header). */
  idempotencyKey?: string | undefined;
}

export interface ManagerBackend {
  readonly controlAddr: string;
  call(
    method: MethodName,
    params: Record<string, unknown>,
    caller: Caller,
    extras?: CallExtras,
  ): Promise<Reply>;
  /** Messages of one info topic (payload as published); returns the unsubscribe function. */
  on(topic: Topic, fn: (payload: unknown) => void): () => void;
  close(): Promise<void>;
}

export class ManagerLink implements ManagerBackend {
  private readonly managers: ManagerSet;
  private readonly hub: InfoHub | undefined;

  constructor(private readonly opts: ManagerLinkOptions) {
    const controls = addressList(opts.controlAddr, "--zqs-addr");
    const infos = opts.infoAddr === null ? null : addressList(opts.infoAddr, "--zqs-info-addr");
    if (infos && infos.length > 1 && infos.length !== controls.length) {
      throw new TypeError(
        `--zqs-info-addr must be one address or one per --zqs-addr address (${controls.length}), got ${infos.length}`,
      );
    }
    let curve: { serverKey: string; publicKey: string; secretKey: string } | undefined;
    if (opts.curve) {
      const pair =
        opts.curve.publicKey && opts.curve.secretKey
          ? { publicKey: opts.curve.publicKey, secretKey: opts.curve.secretKey }
          : curveKeyPair();
      curve = { serverKey: opts.curve.serverKey, ...pair };
    }
    this.managers = new ManagerSet({
      addresses: controls,
      open: (address) =>
        new Transport({
          address,
          timeoutSend: opts.connectTimeout ?? 2,
          ...(curve ? { curve } : {}),
        }),
      decode: (body) => decode(body, opts.encoding),
      onSwitch: opts.onSwitch,
    });
    this.hub = infos ? new InfoHub(infos[0] as string) : undefined;
    if (infos && infos.length > 1) {
      this.managers.onSwitch((_e, i) => this.hub?.retarget(infos[i] as string));
    }
  }

  /** The control address requests go to now. */
  get controlAddr(): string {
    return this.managers.address;
  }

  /**
   * One request as `caller`: their user and group replace whatever the body
   * says (callerParams: not a `user` that filters). Parameters are checked as
   * the manager checks them; a refusal is the manager's own failure reply.
   */
  async call(
    method: MethodName,
    params: Record<string, unknown>,
    caller: Caller,
    extras: CallExtras = {},
  ): Promise<Reply> {
    const p = { ...params };
    for (const k of callerParams(method)) p[k] = k === "user" ? caller.user : caller.userGroup;
    let wire: WireRequest;
    try {
      wire = buildRequest(method, p, {
        user: caller.user,
        userGroup: caller.userGroup,
        lockKey: null,
      });
    } catch (err) {
      if (err instanceof RequestParameterError) return err.response;
      throw err;
    }
    const readOnly = isReadOnly(method);
    const key =
      extras.idempotencyKey ??
      (!readOnly && this.managers.several ? newIdempotencyKey() : undefined);
    if (key !== undefined) wire = { ...wire, idempotency_key: key };
    let reply: unknown;
    try {
      reply = await this.managers.request(
        wire,
        encode(wire, this.opts.encoding),
        this.opts.timeout ?? 10,
        readOnly || key !== undefined,
      );
    } catch (err) {
      if (err instanceof RequestTimeoutError || err instanceof ClientClosedError) {
        throw new ManagerUnavailableError(
          `The manager at ${this.controlAddr} does not answer: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
    if (reply === null || typeof reply !== "object" || Array.isArray(reply)) {
      throw new Error(`The manager's reply to '${method}' is not a map`);
    }
    return reply as Reply;
  }

  on(topic: Topic, fn: (payload: unknown) => void): () => void {
    return this.hub ? this.hub.on(topic, fn) : () => undefined;
  }

  async close(): Promise<void> {
    this.hub?.close();
    await this.managers.close();
  }
}
