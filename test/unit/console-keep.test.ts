/**
 * The console output the gateway keeps for `/api/console_output_update` is
 * bounded by count and by bytes (events.ts), with a fake link to the manager.
 */
import { describe, expect, it } from "vitest";
import { EventHub } from "../../src/http/events.js";
import type { ManagerBackend } from "../../src/http/manager-link.js";
import { TOPIC_CONSOLE } from "../../src/protocol/index.js";

function fakeBackend() {
  const fns = new Map<string, (p: unknown) => void>();
  const backend: ManagerBackend = {
    controlAddr: "fake",
    call: () => Promise.reject(new Error("not used")),
    on: (topic, fn) => {
      fns.set(topic, fn);
      return () => fns.delete(topic);
    },
    close: () => Promise.resolve(),
  };
  const print = (msg: string) => fns.get(TOPIC_CONSOLE)?.({ time: 1, msg });
  return { backend, print };
}

describe("EventHub console output kept", () => {
  it("keeps at most --console-keep messages", () => {
    const { backend, print } = fakeBackend();
    const hub = new EventHub(backend, { consoleKeep: 3, consoleKeepBytes: 1_000_000 });
    for (let i = 0; i < 10; i++) print(`line ${i}\n`);
    expect(hub.consoleAfter("").msgs.map((m) => m.msg)).toEqual([
      "line 7\n",
      "line 8\n",
      "line 9\n",
    ]);
    hub.close();
  });

  it("keeps at most --console-keep-bytes of text (the newest message always)", () => {
    const { backend, print } = fakeBackend();
    const hub = new EventHub(backend, { consoleKeep: 1000, consoleKeepBytes: 250 });
    for (let i = 0; i < 10; i++) print("x".repeat(99) + "\n");
    expect(hub.consoleKept).toEqual({ messages: 2, bytes: 200 });
    print("y".repeat(999) + "\n");
    expect(hub.consoleKept).toEqual({ messages: 1, bytes: 1000 });
    hub.close();
  });
});
