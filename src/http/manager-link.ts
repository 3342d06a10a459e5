/**
 * The gateway's connection to the manager: requests over the control socket
 * (the client's transport, in the manager's encoding) with the caller's user
 * and group put in, and the info socket's messages (status, console, task
 * events). The gateway is a client like any other, so it may run on another
 * host than the manager.
 */
import { curveKeyPair } from "zeromq";
import { buildRequest } from "../client/core.js";
import { ClientClosedError, RequestParameterError, RequestTimeoutError } from "../client/errors.js";
import { InfoHub } from "../client/info.js";
import type { Topic } from "../client/info.js";
import { Transport } from "../client/transport.js";
import type { MethodName, WireEncoding } from "../protocol/index.js";
import { decode, encode } from "../protocol/index.js";
import { callerParams } from "./params.js";

export interface ManagerLinkOptions {
  controlAddr: string;
  /** `null`: no info socket (streams stay silent). */
  infoAddr: string | null;
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

export interface ManagerBackend {
  readonly controlAddr: string;
  call(method: MethodName, params: Record<string, unknown>, caller: Caller): Promise<Reply>;
  /** Messages of one info topic (payload as published); returns the unsubscribe function. */
  on(topic: Topic, fn: (payload: unknown) => void): () => void;
  close(): Promise<void>;
}

export class ManagerLink implements ManagerBackend {
  private readonly transport: Transport;
  private readonly hub: InfoHub | undefined;
  readonly controlAddr: string;

  constructor(private readonly opts: ManagerLinkOptions) {
    this.controlAddr = opts.controlAddr;
    let curve: { serverKey: string; publicKey: string; secretKey: string } | undefined;
    if (opts.curve) {
      const pair =
        opts.curve.publicKey && opts.curve.secretKey
          ? { publicKey: opts.curve.publicKey, secretKey: opts.curve.secretKey }
          : curveKeyPair();
      curve = { serverKey: opts.curve.serverKey, ...pair };
    }
    this.transport = new Transport({
      address: opts.controlAddr,
      timeoutSend: opts.connectTimeout ?? 2,
      ...(curve ? { curve } : {}),
    });
    this.hub = opts.infoAddr ? new InfoHub(opts.infoAddr) : undefined;
  }

  /**
   * One request as `caller`: their user and group replace whatever the body
   * says (callerParams: not a `user` that filters). Parameters are checked as
   * the manager checks them; a refusal is the manager's own failure reply.
   */
  async call(method: MethodName, params: Record<string, unknown>, caller: Caller): Promise<Reply> {
    const p = { ...params };
    for (const k of callerParams(method)) p[k] = k === "user" ? caller.user : caller.userGroup;
    let wire;
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
    let body: Buffer;
    try {
      body = await this.transport.request(
        encode(wire, this.opts.encoding),
        this.opts.timeout ?? 10,
        wire,
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
    const reply = decode(body, this.opts.encoding);
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
    await this.transport.close();
  }
}
