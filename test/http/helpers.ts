/**
 * The HTTP gateway in tests: a real gateway (in this process, on a free port)
 * in front of a real manager, and plain HTTP calls to it (node:http, since
 * fetch refuses a body on GET and the Python client sends one).
 */
import http from "node:http";
import { ApiKeyStore } from "../../src/http/api-keys.js";
import { Auth } from "../../src/http/auth.js";
import { Gateway } from "../../src/http/gateway.js";
import { ManagerLink } from "../../src/http/manager-link.js";
import type { RunningManager } from "../helpers/manager.js";
import { GUARD_MS, waitUntil } from "../helpers/wait.js";

export const SINGLE_KEY = "single-user-key-for-tests-0123456789";

export interface TestGateway {
  gateway: Gateway;
  url: string;
  keys: ApiKeyStore;
  close(): Promise<void>;
}

export async function startTestGateway(
  m: Pick<RunningManager, "controlAddr" | "infoAddr">,
  opts: {
    encoding?: "json" | "msgpack";
    keysFile?: string;
    singleKey?: string | null;
    allowAnonymous?: "read" | "write";
    timeout?: number;
    dashboardDir?: string;
    /** The manager's CURVE public key (the gateway makes its own key pair). */
    serverKey?: string;
    allowedOrigins?: string[];
    apiKeyMaxLifetime?: number;
  } = {},
): Promise<TestGateway> {
  const keys = new ApiKeyStore(opts.keysFile);
  if (opts.singleKey !== null)
    keys.addSingleUser(opts.singleKey ?? SINGLE_KEY, "Single User", "primary");
  const auth = new Auth(keys, { allowAnonymous: opts.allowAnonymous ?? null });
  const link = new ManagerLink({
    controlAddr: m.controlAddr,
    infoAddr: m.infoAddr,
    encoding: opts.encoding ?? "json",
    timeout: opts.timeout ?? 30,
    ...(opts.serverKey ? { curve: { serverKey: opts.serverKey } } : {}),
  });
  const gateway = new Gateway({
    backend: link,
    auth,
    ...(opts.dashboardDir ? { dashboardDir: opts.dashboardDir } : {}),
    ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
    ...(opts.apiKeyMaxLifetime ? { apiKeyMaxLifetime: opts.apiKeyMaxLifetime } : {}),
  });
  const { port } = await gateway.listen("127.0.0.1", 0);
  return { gateway, url: `http://127.0.0.1:${port}`, keys, close: () => gateway.close() };
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The JSON body (an empty map when the body is not a JSON map). */
  json: Record<string, unknown>;
  /** `detail` of a 4xx/5xx body. */
  detail: string | undefined;
}

/** One HTTP request; `body` goes as JSON (on GET too), `key` as `Authorization: ApiKey`. */
export function call(
  url: string,
  verb: string,
  path: string,
  opts: {
    body?: unknown;
    key?: string;
    auth?: string;
    cookie?: string;
    rawBody?: string;
    /** More headers (or others than those above). */
    headers?: Record<string, string>;
  } = {},
): Promise<HttpReply> {
  const headers: Record<string, string> = {};
  const payload = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  }
  if (opts.key !== undefined) headers.Authorization = `ApiKey ${opts.key}`;
  if (opts.auth !== undefined) headers.Authorization = opts.auth;
  if (opts.cookie !== undefined) headers.Cookie = opts.cookie;
  Object.assign(headers, opts.headers);
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: verb, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: Record<string, unknown> = {};
        try {
          const v: unknown = JSON.parse(text);
          if (v !== null && typeof v === "object" && !Array.isArray(v)) {
            json = v as Record<string, unknown>;
          }
        } catch {
          // Not JSON (a page, metrics text): `text` has it.
        }
        const detail = typeof json.detail === "string" ? json.detail : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, detail });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A client bound to one gateway and key. */
export function client(url: string, key: string) {
  return (verb: string, path: string, body?: unknown) =>
    call(url, verb, path, { key, ...(body !== undefined ? { body } : {}) });
}

/** Wait until the manager's status (through the gateway) satisfies `pred`. */
export async function waitStatus(
  api: ReturnType<typeof client>,
  pred: (s: Record<string, unknown>) => boolean,
  timeoutMs = GUARD_MS,
): Promise<Record<string, unknown>> {
  return waitUntil(async () => {
    const r = await api("GET", "/api/status");
    return r.status === 200 && pred(r.json) ? r.json : undefined;
  }, timeoutMs);
}

/** Read Server-Sent Events from a path until `until` says stop; returns the events read. */
export function readSse(
  url: string,
  path: string,
  key: string,
  until: (events: { event: string; data: unknown }[]) => boolean,
  timeoutMs = GUARD_MS,
): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: unknown }[] = [];
    const req = http.request(
      `${url}${path}`,
      { headers: { Authorization: `ApiKey ${key}`, Accept: "text/event-stream" } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`SSE: HTTP ${res.statusCode}`));
          return;
        }
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString("utf8");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev && data !== undefined) events.push({ event: ev, data: JSON.parse(data) });
          }
          if (until(events)) {
            clearTimeout(timer);
            req.destroy();
            resolve(events);
          }
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE: timed out; got ${JSON.stringify(events).slice(0, 2000)}`));
    }, timeoutMs);
    req.on("error", (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}
