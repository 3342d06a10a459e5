import { describe, expect, it } from "vitest";
import { newTaskUid } from "../../src/manager/task-uid.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newTaskUid", () => {
  it("is a version 7 UUID whose first 48 bits are the milliseconds given", () => {
    const at = Date.UTC(2026, 11, 6, 19, 0, 0, 123);
    const uid = newTaskUid(at);
    expect(uid).toMatch(V7);
    expect(parseInt(uid.replace(/-/g, "").slice(0, 12), 16)).toBe(at);
  });

  it("sorts by time, and is unique within one millisecond (past one pool of random bytes)", () => {
    const uids = Array.from({ length: 1000 }, () => newTaskUid(1_000_000));
    expect(new Set(uids).size).toBe(1000);
    for (const u of uids) expect(u).toMatch(V7);
    const later = newTaskUid(1_000_001);
    expect(uids.every((u) => u < later)).toBe(true);
  });
});
