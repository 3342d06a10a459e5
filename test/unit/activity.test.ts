/** The activity owner (manager_state) against a real StatusState and a fake environment probe. */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Activity, BUSY, DOES_NOT_EXIST, NOT_OPEN } from "../../src/manager/activity.js";
import { RequestError } from "../../src/manager/errors.js";
import { StatusState } from "../../src/manager/state.js";

function make(open = true) {
  const state = new StatusState();
  const env = { open };
  return { state, env, a: new Activity(state, () => env.open) };
}

function refusal(fn: () => void): RequestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequestError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("Activity", () => {
  it("begins and ends activities with the fields that go with them", () => {
    const { state, a } = make();
    expect(a.idle).toBe(true);
    a.begin("executing_task", { worker_environment_state: "executing_task" });
    expect(state.status().manager_state).toBe("executing_task");
    expect(state.get("worker_environment_state")).toBe("executing_task");
    expect(a.idle).toBe(false);
    a.endIf("executing_queue");
    expect(a.current).toBe("executing_task");
    a.endIf("executing_task", { worker_environment_state: "idle" });
    expect(a.current).toBe("idle");
    expect(state.get("worker_environment_state")).toBe("idle");
  });

  it("requireIdle refuses with the method's wording and extras, naming the state", () => {
    const { a } = make();
    expect(() => a.requireIdle(BUSY.startQueue)).not.toThrow();
    a.begin("paused");
    const e = refusal(() => a.requireIdle(BUSY.startTask, { item: { name: "f" } }));
    expect(e.message).toBe(
      "Failed to start the task: RE Manager must be in idle state. Current state: 'paused'",
    );
    expect(e.extras).toEqual({ item: { name: "f" } });
    expect(refusal(() => a.requireIdle(BUSY.openEnvironment)).message).toBe(
      "RE Manager is busy: the environment cannot be opened in state 'paused'",
    );
  });

  it("requireEnvironmentOpen asks the probe each time", () => {
    const { a, env } = make(false);
    const e = refusal(() => a.requireEnvironmentOpen(NOT_OPEN, undefined, false));
    expect(e.message).toBe("RE Worker environment is not open");
    expect(e.prefixed).toBe(false);
    expect(refusal(() => a.requireEnvironmentOpen(DOES_NOT_EXIST)).prefixed).toBe(true);
    env.open = true;
    expect(a.environmentIsOpen).toBe(true);
    expect(() => a.requireEnvironmentOpen(NOT_OPEN)).not.toThrow();
  });

  it("is the only module under src/manager that writes manager_state", () => {
    const root = path.resolve(__dirname, "../../src/manager");
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) =>
      f.endsWith(".ts"),
    );
    const writers = files.filter((f) =>
      /setManagerState\(|manager_state:\s*"/.test(readFileSync(path.join(root, f), "utf8")),
    );
    expect(writers.sort()).toEqual(["activity.ts", "state.ts"].sort());
  });
});
