/** StatusState: status_uid and the change markers are new after every change, stable between. */
import { describe, expect, it } from "vitest";
import { StatusState } from "../../src/manager/state.js";

describe("StatusState", () => {
  it("gives a new status_uid after a change, the same one while nothing changes", () => {
    const state = new StatusState();
    const first = state.status().status_uid;
    expect(state.status().status_uid).toBe(first);
    state.set({ items_in_queue: 3 });
    const second = state.status().status_uid;
    expect(second).not.toBe(first);
    // A burst of changes read once: one new uid, different from every one before.
    state.set({ items_in_queue: 4 });
    state.set({ items_in_queue: 5 });
    const third = state.status().status_uid;
    expect(new Set([first, second, third]).size).toBe(3);
    // Setting a field to the value it has is no change.
    state.set({ items_in_queue: 5 });
    expect(state.status().status_uid).toBe(third);
  });

  it("gives a bumped marker a new uid, the others keep theirs", () => {
    const state = new StatusState();
    const before = state.status();
    state.bump("task_results_uid");
    const after = state.status();
    expect(after.task_results_uid).not.toBe(before.task_results_uid);
    expect(state.marker("task_results_uid")).toBe(after.task_results_uid);
    expect(after.plan_queue_uid).toBe(before.plan_queue_uid);
    expect(after.status_uid).not.toBe(before.status_uid);
    state.bump("task_results_uid");
    state.bump("task_results_uid");
    expect(state.marker("task_results_uid")).not.toBe(after.task_results_uid);
    expect(state.status().task_results_uid).toBe(state.marker("task_results_uid"));
  });
});
