/**
 * A task's abort signal is made only when asked for (src/worker/lazy-abort.ts):
 * asked before or after the abort, it says the same.
 */
import { describe, expect, it } from "vitest";
import { LazyAbort } from "../../src/worker/lazy-abort.js";

describe("LazyAbort", () => {
  it("a signal asked for after the abort is already aborted, with the reason", () => {
    const a = new LazyAbort();
    expect(a.aborted).toBe(false);
    const reason = new Error("cancelled");
    a.abort(reason);
    expect(a.aborted).toBe(true);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBe(reason);
  });

  it("a signal asked for before the abort fires its listeners once, with the first reason", () => {
    const a = new LazyAbort();
    const signal = a.signal;
    expect(signal.aborted).toBe(false);
    const heard: unknown[] = [];
    signal.addEventListener("abort", () => heard.push(signal.reason));
    const first = new Error("timed out");
    a.abort(first);
    a.abort(new Error("again"));
    expect(heard).toEqual([first]);
    expect(a.signal).toBe(signal);
  });
});
