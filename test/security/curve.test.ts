/**
 * CURVE on the control socket, with real managers, the real client
 * (REManagerAPI) and the built CLI:
 *  - the server's secret key from QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER or from
 *    --zmq-private-key (the option beats the variable); an encrypted round trip;
 *  - a client without the server's public key (or with a wrong one) gets no
 *    service: RequestTimeoutError, while the manager keeps serving the others;
 *  - an allow-list of client public keys (--zmq-allowed-clients, a ZAP handler)
 *    admits a listed client and refuses an unlisted one, logged once per key;
 *  - `zqs keys` prints a valid pair: the public key derived from the private
 *    one matches, and a manager with that private key talks to clients given
 *    that public key.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { curveKeyPair } from "zeromq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  publicKeyFromPrivate,
  REManagerAPI,
  RequestTimeoutError,
  type ClientOptions,
} from "../../src/client/index.js";
import { parseAllowedClients } from "../../src/manager/rpc/server.js";
import { startManager, waitUntil, type RunningManager } from "../helpers/manager.js";
import { json, zqs } from "../cli/helpers.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A client the manager serves: its timeouts are failure guards. */
function client(m: RunningManager, opts: ClientOptions = {}): REManagerAPI {
  return made(m, { timeoutRecv: 60, timeoutSend: 60, ...opts });
}

/** A client the manager must not serve: it times out soon. */
function stranger(m: RunningManager, opts: ClientOptions = {}): REManagerAPI {
  return made(m, { timeoutRecv: 1, timeoutSend: 0.5, ...opts });
}

function made(m: RunningManager, opts: ClientOptions): REManagerAPI {
  const c = new REManagerAPI({ zmqControlAddr: m.controlAddr, zmqInfoAddr: null, ...opts });
  cleanup.push(() => c.close());
  return c;
}

/** A request that must get no service: its error, and how long it took. */
async function refused(p: Promise<unknown>): Promise<unknown> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the request was answered").toBeInstanceOf(RequestTimeoutError);
  return err;
}

async function curveManager(
  server: { publicKey: string; secretKey: string },
  how: {
    env?: Record<string, string>;
    args?: string[];
    probe?: { publicKey: string; secretKey: string };
  },
): Promise<RunningManager> {
  const probe = how.probe ?? curveKeyPair();
  const m = await startManager({
    examples: false,
    publishConsole: false,
    ...(how.args ? { args: how.args } : {}),
    ...(how.env ? { env: how.env } : {}),
    probeCurve: { serverKey: server.publicKey, ...probe },
  });
  cleanup.push(() => m.stop());
  return m;
}

describe("the server's secret key", () => {
  it("from QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: encrypted round trips (client and CLI)", async () => {
    const server = curveKeyPair();
    const m = await curveManager(server, {
      env: { QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: server.secretKey },
    });
    expect(m.output()).toContain("CURVE on");
    const api = client(m, { zmqPublicKey: server.publicKey });
    const s = await api.status({ reload: true });
    expect(s.manager_state).toBe("idle");
    // A request with a body and a reply with data, both ways through the cipher.
    const perm = await api.permissionsGet();
    expect(perm.success).toBe(true);
    const groups = (perm.user_group_permissions as { user_groups: Record<string, unknown> })
      .user_groups;
    expect(Object.keys(groups)).toContain("root");

    const cli = await zqs([
      "-a",
      m.controlAddr,
      "--info-address",
      "off",
      "--timeout",
      "60",
      `--public-key=${server.publicKey}`,
      "--json",
      "status",
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(json(cli).manager_state).toBe("idle");
    // The key also comes from the client's variable QSERVER_ZMQ_PUBLIC_KEY.
    const viaEnv = await zqs(
      ["-a", m.controlAddr, "--info-address", "off", "--timeout", "60", "--json", "ping"],
      {
        env: { QSERVER_ZMQ_PUBLIC_KEY: server.publicKey },
      },
    );
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
  });

  it("from --zmq-private-key, which beats the environment variable", async () => {
    const server = curveKeyPair();
    const other = curveKeyPair();
    const m = await curveManager(server, {
      args: [`--zmq-private-key=${server.secretKey}`],
      env: { QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: other.secretKey },
    });
    const api = client(m, { zmqPublicKey: server.publicKey });
    expect((await api.status({ reload: true })).manager_state).toBe("idle");
    // The variable's key is not the one in force.
    await refused(stranger(m, { zmqPublicKey: other.publicKey }).status({ reload: true }));
  });

  it("a malformed key stops the manager at start with a clear message (exit 2)", async () => {
    const err = await startManager({
      examples: false,
      publishConsole: false,
      args: ["--zmq-private-key", "not-a-key"],
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/exited early \(code 2\)/);
    expect(err?.message).toContain("--zmq-private-key: expected a CURVE key of 40 z85 characters");
  });
});

describe("clients without the right key", () => {
  const server = curveKeyPair();
  let m: RunningManager;
  beforeAll(async () => {
    m = await startManager({
      examples: false,
      publishConsole: false,
      env: { QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: server.secretKey },
      probeCurve: { serverKey: server.publicKey, ...curveKeyPair() },
    });
  });
  afterAll(async () => {
    await m.stop();
  });

  it("time out (no key, a wrong key, the CLI without a key) while the manager serves others", async () => {
    const good = client(m, { zmqPublicKey: server.publicKey });
    expect((await good.status({ reload: true })).manager_state).toBe("idle");

    const plain = stranger(m, { zmqPublicKey: null });
    const wrong = stranger(m, { zmqPublicKey: curveKeyPair().publicKey });
    // Refused clients keep trying while a keyed client is served, again and again.
    let settled = false;
    const attempts = Promise.all([
      refused(plain.status({ reload: true })),
      refused(wrong.status({ reload: true })),
      refused(plain.request("function_execute", {}, { timeout: 1 })),
    ]).finally(() => (settled = true));
    let served = 0;
    while (!settled) {
      expect((await good.request("ping")).manager_state).toBe("idle");
      served++;
    }
    await attempts;
    expect(served).toBeGreaterThan(0);
    // Still usable after its timeout, and still refused.
    await refused(plain.status({ reload: true }));

    const cli = await zqs([
      "-a",
      m.controlAddr,
      "--info-address",
      "off",
      "--timeout",
      "0.5",
      "status",
    ]);
    expect(cli.code, cli.stdout + cli.stderr).toBe(3);
    expect(cli.stderr).toMatch(/Timed out/i);

    expect((await good.status({ reload: true })).manager_state).toBe("idle");
    expect(m.proc.exitCode).toBeNull();
  });
});

describe("the allow-list of client public keys (--zmq-allowed-clients)", () => {
  const server = curveKeyPair();
  const listed = curveKeyPair();
  const listedCli = curveKeyPair();
  const unlisted = curveKeyPair();
  let m: RunningManager;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "zqs-allow-"));
    const file = path.join(dir, "clients.txt");
    writeFileSync(
      file,
      [
        "# clients of the beamline",
        `${listed.publicKey}   # the test client`,
        "",
        `  ${listedCli.publicKey}`,
        "# retired: " + unlisted.publicKey.slice(0, 10),
      ].join("\n"),
    );
    m = await startManager({
      examples: false,
      publishConsole: false,
      args: ["--zmq-allowed-clients", file],
      env: { QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: server.secretKey },
      probeCurve: { serverKey: server.publicKey, ...listed },
    });
  });
  afterAll(async () => {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("admits a listed client and refuses an unlisted one, logging that key once", async () => {
    expect(m.output()).toContain("(2 allowed client key(s))");
    const ok = client(m, { zmqPublicKey: server.publicKey, zmqClientKeyPair: listed });
    expect((await ok.status({ reload: true })).manager_state).toBe("idle");

    const no = stranger(m, { zmqPublicKey: server.publicKey, zmqClientKeyPair: unlisted });
    // Several requests, and a fresh connection with the same key.
    await refused(no.status({ reload: true }));
    await refused(no.request("ping"));
    const again = stranger(m, { zmqPublicKey: server.publicKey, zmqClientKeyPair: unlisted });
    await refused(again.status({ reload: true }));
    // The listed client is served throughout.
    expect((await ok.request("ping")).manager_state).toBe("idle");

    const line = `Refused a client whose public key is not on the allow-list: ${unlisted.publicKey}`;
    await waitUntil(() => m.output().includes(line));
    expect(m.output().split(line).length - 1, m.output()).toBe(1);
    // Listed keys are never refused.
    expect(m.output()).not.toContain(`allow-list: ${listed.publicKey}`);
  });

  it("the CLI gets in with a listed --client-private-key and times out without one", async () => {
    const at = ["-a", m.controlAddr, "--info-address", "off", `--public-key=${server.publicKey}`];
    const yes = await zqs([
      ...at,
      "--timeout",
      "60",
      `--client-private-key=${listedCli.secretKey}`,
      "--json",
      "status",
    ]);
    expect(yes.code, yes.stderr).toBe(0);
    expect(json(yes).manager_state).toBe("idle");
    const no = await zqs([...at, "--timeout", "0.5", "status"]);
    expect(no.code, no.stdout + no.stderr).toBe(3);
    const bad = await zqs([...at, "--client-private-key=short", "status"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--client-private-key");
  });

  it("a listed key added to the file is admitted without a restart", async () => {
    const late = curveKeyPair();
    const c = stranger(m, { zmqPublicKey: server.publicKey, zmqClientKeyPair: late });
    await refused(c.status({ reload: true }));
    const file = path.join(dir, "clients.txt");
    writeFileSync(file, `${listed.publicKey}\n${listedCli.publicKey}\n${late.publicKey}\n`);
    const c2 = client(m, { zmqPublicKey: server.publicKey, zmqClientKeyPair: late });
    expect((await c2.status({ reload: true })).manager_state).toBe("idle");
    // The log line comes through the manager's stdout, which may be read after the reply.
    await waitUntil(() => m.output().includes("Reloaded the allow-list of clients"));
  });

  it("a bad allow-list, or one without CURVE, stops the manager at start", async () => {
    const file = path.join(dir, "bad.txt");
    writeFileSync(file, `${listed.publicKey}\nnot a key\n`);
    const e1 = await startManager({
      examples: false,
      publishConsole: false,
      args: ["--zmq-allowed-clients", file],
      env: { QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER: server.secretKey },
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(e1?.message).toMatch(/exited early \(code 1\)/);
    expect(e1?.message).toContain(`${file}:2: expected a CURVE public key`);
    const e2 = await startManager({
      examples: false,
      publishConsole: false,
      args: ["--zmq-allowed-clients", path.join(dir, "clients.txt")],
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(e2?.message).toMatch(/exited early \(code 2\)/);
    expect(e2?.message).toContain("--zmq-allowed-clients needs CURVE");
  });
});

describe("zqs keys", () => {
  it("prints a valid pair: the public key derived from the private one matches, and it works", async () => {
    const j = await zqs(["--json", "keys"]);
    expect(j.code, j.stderr).toBe(0);
    const pair = json<{ private_key: string; public_key: string }>(j);
    expect(pair.private_key).toMatch(/^.{40}$/);
    expect(publicKeyFromPrivate(pair.private_key)).toBe(pair.public_key);
    const derived = await zqs(["keys", `--public-from=${pair.private_key}`]);
    expect(derived.stdout.trim()).toBe(pair.public_key);

    // The human form: the same two keys, labelled.
    const h = await zqs(["keys"]);
    const priv = /^Private key .*:\s+(\S{40})$/m.exec(h.stdout)?.[1];
    const pub = /^Public key .*:\s+(\S{40})$/m.exec(h.stdout)?.[1];
    expect(priv && pub, h.stdout).toBeTruthy();
    expect(publicKeyFromPrivate(priv as string)).toBe(pub);
    // Two runs give two different pairs.
    expect(priv).not.toBe(pair.private_key);

    // A manager with the printed private key talks to a client given the printed public key.
    const server = { publicKey: pair.public_key, secretKey: pair.private_key };
    const m = await curveManager(server, {
      args: [`--zmq-private-key=${server.secretKey}`],
    });
    const api = client(m, { zmqPublicKey: pair.public_key });
    expect((await api.status({ reload: true })).manager_state).toBe("idle");
  });
});

describe("the allow-list file format", () => {
  it("reads keys, skips comments and blank lines, names the line of a bad key", () => {
    const a = curveKeyPair().publicKey;
    const b = curveKeyPair().publicKey;
    const keys = parseAllowedClients(
      `# comment\n\n  ${a}  # trailing comment\n#${b}\n${b}\n`,
      "l.txt",
    );
    expect([...keys]).toEqual([a, b]);
    expect(() => parseAllowedClients(`${a}\n${a.slice(0, 39)}\n`, "l.txt")).toThrow(
      "l.txt:2: expected a CURVE public key",
    );
    // 40 z85 characters whose first block is out of range (above 2^32 - 1).
    expect(() => parseAllowedClients(`$${a.slice(1)}`, "l.txt")).toThrow("l.txt:1:");
  });
});
