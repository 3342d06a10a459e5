/**
 * The task ends a worker agent keeps for its manager (kept-ends.ts): with a
 * manager that acknowledges ends, an end is kept until acknowledged, whatever
 * else the manager says meanwhile (a heartbeat sent before the end reached it),
 * and goes again after a `who`; with an older manager, as before.
 */
import { describe, expect, it } from "vitest";
import type { TaskEnd } from "../../src/remote-worker/kept-ends.js";
import { KeptEnds } from "../../src/remote-worker/kept-ends.js";

function end(id: string, attempt = 1): TaskEnd {
  return {
    type: "task_done",
    id,
    attempt,
    success: true,
    msg: "",
    traceback: "",
    return_value: id,
    time_start: 1,
    time_stop: 2,
  };
}

function kept(max = 8, maxBytes?: number) {
  const lines: string[] = [];
  return {
    k: new KeptEnds(
      () => max,
      (l) => lines.push(l),
      ...(maxBytes === undefined ? [] : [() => maxBytes]),
    ),
    lines,
  };
}

const WELCOME_ACKS = { type: "welcome", heartbeat_ms: 100, timeout_ms: 400, acks: true } as const;
const WELCOME_OLD = { type: "welcome", heartbeat_ms: 100, timeout_ms: 400 } as const;
const HEARTBEAT = { type: "heartbeat" } as const;

describe("the task ends an agent keeps", () => {
  it("an end in flight when the manager died is sent again, though a heartbeat came after it", () => {
    const { k } = kept();
    k.heard(WELCOME_ACKS);
    k.sent([end("a")]);
    // A heartbeat the manager sent before the end reached it; then it dies.
    k.heard(HEARTBEAT);
    // The restarted manager does not know the connection.
    k.heard({ type: "who" });
    expect(k.again()).toBe(1);
    k.heard(WELCOME_ACKS);
    expect(k.takeResend().map((e) => e.id)).toEqual(["a"]);
  });

  it("an end acknowledged (by an ack, or riding on an execute_batch) is not sent again", () => {
    const { k } = kept();
    k.heard(WELCOME_ACKS);
    k.sent([end("a"), end("b"), end("c")]);
    k.heard({ type: "ack", acked: ["a"] });
    k.heard({
      type: "execute_batch",
      tasks: [{ type: "execute", id: "d", name: "f", args: [], kwargs: {}, attempt: 1 }],
      acked: ["c"],
    } as never);
    expect(k.size).toBe(1);
    k.heard({ type: "who" });
    expect(k.again()).toBe(1);
    expect(k.takeResend().map((e) => e.id)).toEqual(["b"]);
  });

  it("with a manager that does not acknowledge (an older one): any message but who confirms", () => {
    const { k } = kept();
    k.heard(WELCOME_OLD);
    k.sent([end("a")]);
    k.heard(HEARTBEAT);
    expect(k.size).toBe(0);
    k.sent([end("b")]);
    k.heard({ type: "who" });
    expect(k.again()).toBe(1);
  });

  it("an end sent again is kept again until acknowledged", () => {
    const { k } = kept();
    k.heard(WELCOME_ACKS);
    k.sent([end("a")]);
    k.heard({ type: "who" });
    k.again();
    k.heard(WELCOME_ACKS);
    k.sent(k.takeResend());
    k.heard(HEARTBEAT);
    expect(k.size).toBe(1);
    k.heard({ type: "ack", acked: ["a"] });
    expect(k.size).toBe(0);
  });

  it("a task dealt again drops the end of its earlier attempt", () => {
    const { k } = kept();
    k.heard(WELCOME_ACKS);
    k.sent([end("a", 1), end("b")]);
    k.dealtAgain("a");
    k.heard({ type: "who" });
    expect(k.again()).toBe(1);
    expect(k.takeResend().map((e) => e.id)).toEqual(["b"]);
  });

  it("an acknowledgement that comes before its end is recorded as sent: the end is not kept", () => {
    const { k, lines } = kept(2);
    k.heard(WELCOME_ACKS);
    // The socket took the message and the manager answered before the agent's send resolved.
    for (const id of ["a", "b", "c"]) {
      k.heard({ type: "ack", acked: [id] });
      k.sent([end(id)]);
    }
    expect(k.size).toBe(0);
    expect(lines).toEqual([]);
    // Ends not acknowledged are kept as before; another manager's early acks do not count.
    k.heard({ type: "ack", acked: ["d"] });
    k.heard(WELCOME_ACKS);
    k.sent([end("d")]);
    expect(k.size).toBe(1);
  });

  it("an early acknowledgement of a task's attempt does not pass for the next attempt's end", () => {
    const { k } = kept();
    k.heard(WELCOME_ACKS);
    k.heard({ type: "ack", acked: ["a"] });
    k.dealtAgain("a");
    k.sent([end("a", 2)]);
    expect(k.size).toBe(1);
  });

  it("holds at most max early acknowledgements, the newest", () => {
    const { k } = kept(2);
    k.heard(WELCOME_ACKS);
    k.heard({ type: "ack", acked: ["a", "b", "c"] });
    k.sent([end("a"), end("b"), end("c")]);
    expect(k.size).toBe(1);
    k.heard({ type: "who" });
    k.again();
    expect(k.takeResend().map((e) => e.id)).toEqual(["a"]);
  });

  it("keeps at most max ends, the oldest go, logged", () => {
    const { k, lines } = kept(2);
    k.heard(WELCOME_ACKS);
    k.sent([end("a"), end("b"), end("c")]);
    expect(k.size).toBe(2);
    expect(lines.join("\n")).toContain("Kept only the last 2 task ends");
    expect(lines.join("\n")).toContain("not sent again: 'a'");
  });

  it("logs the ends let go once until the manager acknowledges ends again", () => {
    const { k, lines } = kept(2);
    k.heard(WELCOME_ACKS);
    k.sent([end("a"), end("b"), end("c")]);
    k.sent([end("d")]);
    k.sent([end("e")]);
    expect(k.size).toBe(2);
    expect(lines.filter((l) => l.includes("Kept only"))).toHaveLength(1);
    k.heard({ type: "ack", acked: ["d", "e"] });
    expect(k.size).toBe(0);
    k.sent([end("f"), end("g"), end("h")]);
    expect(lines.filter((l) => l.includes("Kept only"))).toHaveLength(2);
    expect(lines.at(-1)).toContain("not sent again: 'f'");
  });

  it("keeps at most maxBytes of messages together: the oldest go, the newest stays whatever its size", () => {
    const { k, lines } = kept(100, 1000);
    k.heard(WELCOME_ACKS);
    // Two ends in one message of 600 bytes: 300 each.
    k.sent([end("a"), end("b")], 600);
    expect(k.heldBytes).toBe(600);
    k.sent([end("c")], 500);
    // 1,100 bytes: 'a' goes (800 left).
    expect(k.size).toBe(2);
    expect(k.heldBytes).toBe(800);
    expect(lines.join("\n")).toContain("at most 1000 bytes: --kept-ends-bytes");
    expect(lines.join("\n")).toContain("not sent again: 'a'");
    // One end larger than the bound alone: kept, the others go.
    k.sent([end("d")], 5000);
    expect(k.size).toBe(1);
    expect(k.heldBytes).toBe(5000);
    // Its bytes go with it: acknowledged, sent again, or dealt again.
    k.heard({ type: "who" });
    expect(k.again()).toBe(1);
    expect(k.heldBytes).toBe(5000);
    expect(k.takeResend().map((e) => e.id)).toEqual(["d"]);
    expect(k.heldBytes).toBe(0);
    k.heard(WELCOME_ACKS);
    k.sent([end("e")], 10);
    k.dealtAgain("e");
    expect(k.heldBytes).toBe(0);
  });
});
