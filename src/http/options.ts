/**
 * Options of the gateway (`zqs http`), one table: the command line, the
 * environment variables, the defaults and README's list. `zqs manager
 * --http-addr` starts the same gateway with the `--http-*` options of the
 * manager's table.
 */
import {
  DEFAULT_CONTROL_ADDR,
  DEFAULT_INFO_ADDR,
  ENV_CONTROL_ADDR,
  ENV_INFO_ADDR,
} from "../client/options.js";
import { curveKey, positiveInteger } from "../options/parsers.js";
import { resolveTable, type TableOption } from "../options/spec.js";
import { CONSOLE_KEEP, CONSOLE_KEEP_BYTES } from "./events.js";
import { DEFAULT_STREAM_BUFFER } from "./stream-buffer.js";

export const ENV_SINGLE_USER_KEY = "QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY";
export const DEFAULT_LISTEN = "127.0.0.1:60610";
/** The longest lifetime of a key created over HTTP, in seconds (a year). */
export const DEFAULT_API_KEY_MAX_LIFETIME = 365 * 24 * 3600;

export interface HttpOptions {
  zqsAddr: string;
  zqsInfoAddr: string | null;
  listen: string;
  zmqEncoding: "json" | "msgpack";
  zmqPublicKey: string | undefined;
  zmqClientPrivateKey: string | undefined;
  apiKeys: string | undefined;
  singleUserApiKey: string | undefined;
  allowAnonymous: "read" | "write" | undefined;
  dashboardDir: string | undefined;
  allowedOrigins: string[] | undefined;
  apiKeyMaxLifetime: number;
  timeout: number;
  streamBuffer: number;
  consoleKeep: number;
  consoleKeepBytes: number;
}

/** A row of the gateway's table (src/options/spec.ts: one style for every command). */
export type HttpOptionSpec = TableOption<keyof HttpOptions, HttpOptions[keyof HttpOptions]>;

export function anonymousScope(raw: string): "read" | "write" {
  const v = raw.trim().toLowerCase();
  if (v !== "read" && v !== "write") throw new Error(`expected read or write, got '${raw}'`);
  return v;
}

/**
 * The gateway's limits on its streams, shared by `zqs http` (`--stream-buffer`...)
 * and `zqs manager --http-addr` (`--http-stream-buffer`...).
 */
export const STREAM_LIMIT_SPECS = [
  {
    key: "streamBuffer",
    flag: "stream-buffer",
    value: "<bytes>",
    description:
      "bytes waiting for one stream client (SSE, WebSocket) before its events are dropped; it gets a 'dropped' event with the count when it reads again",
    default: DEFAULT_STREAM_BUFFER,
  },
  {
    key: "consoleKeep",
    flag: "console-keep",
    value: "<messages>",
    description: "console messages kept for /api/console_output_update (the oldest go)",
    default: CONSOLE_KEEP,
  },
  {
    key: "consoleKeepBytes",
    flag: "console-keep-bytes",
    value: "<bytes>",
    description: "bytes of console text kept for /api/console_output_update (the oldest go)",
    default: CONSOLE_KEEP_BYTES,
  },
] as const;

/** `scheme://host[:port]` of a URL that is only an origin; throws otherwise. */
export function parseOrigin(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new Error(`expected an origin like http://host:port, got '${raw}'`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.origin !== raw.trim()) {
    throw new Error(`expected an origin like http://host:port (no path), got '${raw}'`);
  }
  return u.origin;
}

/** A comma list of origins (`http://host:port,...`); empty: none. */
export function parseOrigins(raw: string): string[] {
  return raw
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "")
    .map(parseOrigin);
}

/** A number of seconds above zero. */
export function positiveSeconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected seconds, got '${raw}'`);
  return n;
}

/** `HOST:PORT` (IPv6 as `[::1]:PORT`). */
export function parseHostPort(raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`expected HOST:PORT, got '${raw}'`);
  }
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

/** A bind address as a client connects to it: `tcp://*:N` and `tcp://0.0.0.0:N` → `tcp://127.0.0.1:N`. */
export function connectableAddress(bind: string): string {
  return bind
    .replace(/^tcp:\/\/(\*|0\.0\.0\.0):/, "tcp://127.0.0.1:")
    .replace(/^tcp:\/\/\[::\]:/, "tcp://[::1]:");
}

export const HTTP_OPTION_SPECS: HttpOptionSpec[] = [
  {
    key: "zqsAddr",
    flag: "--zqs-addr",
    value: "<addr>",
    env: ENV_CONTROL_ADDR,
    description:
      "control socket of the manager, or several separated by commas (an active manager and its standbys: the gateway follows the active one)",
    default: DEFAULT_CONTROL_ADDR,
  },
  {
    key: "zqsInfoAddr",
    flag: "--zqs-info-addr",
    value: "<addr>",
    env: ENV_INFO_ADDR,
    description:
      "info socket of the manager (its --zmq-publish-console ON; one per --zqs-addr), or 'off': the streams and /api/events need it",
    default: DEFAULT_INFO_ADDR,
    parse: (raw) => (raw.trim() === "off" ? null : raw.trim()),
  },
  {
    key: "listen",
    flag: "--listen",
    value: "<host:port>",
    description: "where the gateway listens",
    default: DEFAULT_LISTEN,
    parse: (raw) => (parseHostPort(raw), raw.trim()),
  },
  {
    key: "zmqEncoding",
    flag: "--zmq-encoding",
    value: "<json|msgpack>",
    description: "encoding of the requests to the manager (as the manager's --zmq-encoding)",
    default: "json",
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (v !== "json" && v !== "msgpack")
        throw new Error(`expected json or msgpack, got '${raw}'`);
      return v;
    },
  },
  {
    key: "zmqPublicKey",
    flag: "--zmq-public-key",
    value: "<z85>",
    env: "QSERVER_ZMQ_PUBLIC_KEY",
    description: "the manager's CURVE public key (a manager with --zmq-private-key)",
    default: undefined,
    parse: curveKey,
  },
  {
    key: "zmqClientPrivateKey",
    flag: "--zmq-client-private-key",
    value: "<z85>",
    description:
      "the gateway's own CURVE private key, for a manager with --zmq-allowed-clients (default: a new key pair)",
    default: undefined,
    parse: curveKey,
  },
  {
    key: "apiKeys",
    flag: "--api-keys",
    value: "<file>",
    description:
      "YAML file of API keys by SHA-256 hash → user, user_group, scopes (keys created over HTTP are added to it)",
    default: undefined,
  },
  {
    key: "singleUserApiKey",
    flag: "--single-user-api-key",
    value: "<key>",
    env: ENV_SINGLE_USER_KEY,
    description:
      "one key with every scope (with no key at all, the gateway makes one and prints its login URL)",
    default: undefined,
  },
  {
    key: "allowAnonymous",
    flag: "--allow-anonymous",
    value: "<read|write>",
    description: "let callers without a key read (or also write); off by default",
    default: undefined,
    parse: anonymousScope,
  },
  {
    key: "dashboardDir",
    flag: "--dashboard-dir",
    value: "<dir>",
    description: "folder served at / (default: the package's dashboard/)",
    default: undefined,
  },
  {
    key: "allowedOrigins",
    flag: "--allowed-origins",
    value: "<origins>",
    description:
      "comma list of other origins (http://host:port) whose pages may use the dashboard's session cookie (default: none, only the gateway's own pages)",
    default: undefined,
    parse: parseOrigins,
  },
  {
    key: "apiKeyMaxLifetime",
    flag: "--api-key-max-lifetime",
    value: "<seconds>",
    description: "the longest 'expires_in' of a key created over HTTP",
    default: DEFAULT_API_KEY_MAX_LIFETIME,
    parse: positiveSeconds,
  },
  {
    key: "timeout",
    flag: "--timeout",
    value: "<seconds>",
    description:
      "how long to wait for the manager's reply before answering 408 (Request Timeout, as the Python gateway)",
    default: 10,
    parse: positiveSeconds,
  },
  ...STREAM_LIMIT_SPECS.map((s): HttpOptionSpec => ({
    key: s.key,
    flag: `--${s.flag}`,
    value: s.value,
    description: s.description,
    default: s.default,
    parse: positiveInteger,
  })),
];

/** Explicit values beat environment variables, which beat defaults. */
export function resolveHttpOptions(
  given: Partial<Record<keyof HttpOptions, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
): HttpOptions {
  const opts = resolveTable<HttpOptions>(HTTP_OPTION_SPECS, given, env);
  if (opts.zmqClientPrivateKey && !opts.zmqPublicKey) {
    throw new Error("--zmq-client-private-key needs the manager's key (--zmq-public-key)");
  }
  return opts;
}
