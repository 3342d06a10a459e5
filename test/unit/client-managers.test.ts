/**
 * Which manager a client with several addresses talks to (ManagerSet), with
 * fake connections: a live one answers, a dead one times out (before sending,
 * or after), a standby refuses naming the active one.
 */
import { describe, expect, it } from "vitest";
import { RequestTimeoutError } from "../../src/client/errors.js";
import type { WireRequest } from "../../src/client/errors.js";
import type { Channel, ManagerSwitch } from "../../src/client/managers.js";
import { addressList, ManagerSet } from "../../src/client/managers.js";
import { resolveClientOptions } from "../../src/client/options.js";
import type { GlobalOptions } from "../../src/cli/connection.js";
import { clientOptions } from "../../src/cli/connection.js";

type Behaviour =
  | { kind: "active" }
  | { kind: "standby"; active?: string }
  | { kind: "dead"; phase: "send" | "receive" };

const wire: WireRequest = { method: "queue_item_add", params: {} };

function setOf(
  behaviours: Record<string, Behaviour>,
  opts: { failoverWait?: number; onCall?: (address: string) => void } = {},
) {
  const calls: string[] = [];
  const switches: ManagerSwitch[] = [];
  const open = (address: string): Channel => ({
    request(_body, timeout, request) {
      calls.push(address);
      opts.onCall?.(address);
      const b = behaviours[address] as Behaviour;
      if (b.kind === "dead") {
        return Promise.reject(
          new RequestTimeoutError(`dead ${address}`, { request, timeout, phase: b.phase }),
        );
      }
      const reply =
        b.kind === "active"
          ? { success: true, from: address, manager_state: "active" }
          : {
              success: false,
              msg: "This manager is on standby",
              manager_state: "standby",
              active_manager: b.active === undefined ? undefined : { control_address: b.active },
            };
      return Promise.resolve(Buffer.from(JSON.stringify(reply)));
    },
    close: () => Promise.resolve(),
  });
  const set = new ManagerSet({
    addresses: Object.keys(behaviours),
    failoverWait: opts.failoverWait ?? 0,
    open,
    decode: (b) => JSON.parse(b.toString()) as unknown,
    onSwitch: (e) => switches.push(e),
  });
  return { set, calls, switches, behaviours };
}

describe("ManagerSet", () => {
  it("stays with the first address while it answers", async () => {
    const { set, calls, switches } = setOf({ a: { kind: "active" }, b: { kind: "active" } });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "a" });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "a" });
    expect(calls).toEqual(["a", "a"]);
    expect(switches).toEqual([]);
  });

  it("moves on from a manager it cannot reach (nothing was sent: even a write)", async () => {
    const { set, calls, switches } = setOf({
      a: { kind: "dead", phase: "send" },
      b: { kind: "active" },
    });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "b" });
    expect(switches.map((e) => [e.from, e.to])).toEqual([["a", "b"]]);
    expect(switches[0]?.reason).toMatch(/^no connection to a/);
    // Later requests go straight to the active one.
    await set.request(wire, Buffer.alloc(0), 1, false);
    expect(calls).toEqual(["a", "b", "b"]);
    expect(set.address).toBe("b");
  });

  it("retries a request that went out unanswered only when it is retryable", async () => {
    const read = setOf({ a: { kind: "dead", phase: "receive" }, b: { kind: "active" } });
    expect(await read.set.request(wire, Buffer.alloc(0), 1, true)).toMatchObject({ from: "b" });
    expect(read.calls).toEqual(["a", "b"]);

    const write = setOf({ a: { kind: "dead", phase: "receive" }, b: { kind: "active" } });
    await expect(write.set.request(wire, Buffer.alloc(0), 1, false)).rejects.toThrow(/dead a/);
    expect(write.calls).toEqual(["a"]);
    // It may have been applied; but the next request tries the other manager first.
    expect(write.set.address).toBe("b");
  });

  it("follows a standby's pointer to the active manager", async () => {
    const { set, calls, switches } = setOf({
      a: { kind: "standby", active: "c" },
      b: { kind: "active" },
      c: { kind: "active" },
    });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "c" });
    expect(calls).toEqual(["a", "c"]);
    expect(switches[0]).toMatchObject({ from: "a", to: "c" });
    expect(switches[0]?.reason).toMatch(/a is on standby \(the active manager is c\)/);
  });

  it("tries the next address when the standby names none of its addresses", async () => {
    const { set, calls } = setOf({
      a: { kind: "standby", active: "tcp://*:60615" },
      b: { kind: "active" },
    });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "b" });
    expect(calls).toEqual(["a", "b"]);
  });

  it("answers with the standby's refusal when no manager is active, each tried once", async () => {
    const { set, calls } = setOf({
      a: { kind: "standby", active: "b" },
      b: { kind: "dead", phase: "send" },
    });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({
      success: false,
      manager_state: "standby",
    });
    expect(calls).toEqual(["a", "b"]);
  });

  it("while every manager that answers is on standby, tries again until one takes over", async () => {
    const behaviours: Record<string, Behaviour> = {
      a: { kind: "dead", phase: "send" },
      b: { kind: "standby", active: "a" },
    };
    let answersOfB = 0;
    const { set, calls } = setOf(behaviours, {
      failoverWait: 3600,
      // b takes over at its third answer.
      onCall: (address) => {
        if (address === "b" && ++answersOfB === 3) behaviours.b = { kind: "active" };
      },
    });
    expect(await set.request(wire, Buffer.alloc(0), 1, false)).toMatchObject({ from: "b" });
    expect(calls).toEqual(["a", "b", "a", "b", "a", "b"]);
    expect(set.address).toBe("b");
  });

  it("throws the last timeout when every manager is unreachable", async () => {
    const { set, calls } = setOf({
      a: { kind: "dead", phase: "send" },
      b: { kind: "dead", phase: "send" },
    });
    await expect(set.request(wire, Buffer.alloc(0), 1, true)).rejects.toThrow(/dead b/);
    expect(calls).toEqual(["a", "b"]);
  });

  it("with one address, a standby's answer is the reply and a timeout is thrown", async () => {
    const standby = setOf({ a: { kind: "standby", active: "b" } });
    expect(await standby.set.request(wire, Buffer.alloc(0), 1, true)).toMatchObject({
      manager_state: "standby",
    });
    const dead = setOf({ a: { kind: "dead", phase: "send" } });
    await expect(dead.set.request(wire, Buffer.alloc(0), 1, true)).rejects.toThrow(/dead a/);
  });
});

describe("client address options", () => {
  it("reads several addresses from -a and from QSERVER_ZMQ_CONTROL_ADDRESS alike", () => {
    const flag = clientOptions({ address: "tcp://a:1,tcp://b:1" } as GlobalOptions);
    expect(resolveClientOptions(flag).zmqControlAddrs).toEqual(["tcp://a:1", "tcp://b:1"]);
    const saved = process.env.QSERVER_ZMQ_CONTROL_ADDRESS;
    process.env.QSERVER_ZMQ_CONTROL_ADDRESS = "tcp://a:1, tcp://b:1";
    try {
      expect(resolveClientOptions({}).zmqControlAddrs).toEqual(["tcp://a:1", "tcp://b:1"]);
    } finally {
      if (saved === undefined) delete process.env.QSERVER_ZMQ_CONTROL_ADDRESS;
      else process.env.QSERVER_ZMQ_CONTROL_ADDRESS = saved;
    }
  });

  it("splits addresses on commas and refuses an empty one", () => {
    expect(addressList(" tcp://a:1 ,tcp://b:2", "x")).toEqual(["tcp://a:1", "tcp://b:2"]);
    expect(() => addressList("tcp://a:1,,tcp://b:2", "Option 'x'")).toThrow(
      /Option 'x' must be one address or several separated by commas/,
    );
  });

  it("keys writes by default only with several managers, and pairs info addresses", () => {
    const one = resolveClientOptions({ zmqControlAddr: "tcp://a:1", zmqInfoAddr: "tcp://a:2" });
    expect(one.idempotencyKeys).toBe(false);
    const two = resolveClientOptions({
      zmqControlAddr: "tcp://a:1,tcp://b:1",
      zmqInfoAddr: "tcp://a:2,tcp://b:2",
    });
    expect(two.idempotencyKeys).toBe(true);
    expect(two.zmqControlAddrs).toEqual(["tcp://a:1", "tcp://b:1"]);
    expect(two.zmqInfoAddrs).toEqual(["tcp://a:2", "tcp://b:2"]);
    const shared = resolveClientOptions({
      zmqControlAddr: ["tcp://a:1", "tcp://b:1"],
      zmqInfoAddr: "tcp://p:2",
    });
    expect(shared.zmqInfoAddrs).toEqual(["tcp://p:2", "tcp://p:2"]);
    expect(() =>
      resolveClientOptions({ zmqControlAddr: "tcp://a:1,tcp://b:1", zmqInfoAddr: "x,y,z" }),
    ).toThrow(/one address or one per control address \(2\), got 3/);
  });
});
