/**
 * A worker on another host as `workers_list` and its events (QS_Task) show
 * it: one builder for the fields both carry (remote-worker.ts), each in its
 * own time format.
 */
import { describe, expect, it } from "vitest";
import { ConsoleLimit } from "../../src/manager/console-limit.js";
import {
  newRemoteWorker,
  workerEvent,
  workerRow,
} from "../../src/manager/workers/remote-worker.js";
import type { HelloMsg } from "../../src/protocol/worker-wire.js";

const HELLO = {
  type: "hello",
  name: "w1",
  instance: "i1",
  hostname: "host-a",
  pid: 4321,
  slots: 2,
  tags: ["gpu", "big"],
  version: "0",
  functions: { f: "hash" },
} as HelloMsg;

describe("a remote worker's row and event", () => {
  it("show the same fields; the row's times as ISO text, the event's as epoch seconds", () => {
    const connected = Date.UTC(2026, 0, 2, 3, 4, 5);
    const w = newRemoteWorker(
      Buffer.from("route"),
      "726f757465",
      HELLO,
      undefined,
      connected,
      new ConsoleLimit({ rate: 1, burst: 1 }, () => undefined),
    );
    w.lastSeen = connected + 1500;
    w.assigned.set("t1", 1);
    w.tasksDone = 3;
    w.tasksFailed = 1;
    const shared = {
      hostname: "host-a",
      pid: 4321,
      slots: 2,
      busy: 1,
      tags: ["gpu", "big"],
      state: "online",
    };
    expect(workerRow(w)).toEqual({
      name: "w1",
      kind: "remote",
      ...shared,
      connected_at: "2026-01-02T03:04:05.000Z",
      last_seen: "2026-01-02T03:04:06.500Z",
      tasks_done: 3,
      tasks_failed: 1,
    });
    expect(workerEvent("worker-offline", w, { reason: "lost" })).toEqual({
      event: "worker-offline",
      worker: "w1",
      ...shared,
      last_seen: (connected + 1500) / 1000,
      reason: "lost",
    });
  });
});
