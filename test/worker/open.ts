/** Open the environment and fail at once, with the manager's output, when it does not open. */
import { expect } from "vitest";
import { waitUntil, type RawClient, type RunningManager } from "../helpers/manager.js";

export async function openOrExplain(m: RunningManager, c: RawClient): Promise<void> {
  expect(await c.request("environment_open")).toEqual({ success: true, msg: "" });
  // Opening ends either way with the manager idle (it reports creating_environment until then).
  const s = await waitUntil(async () => {
    const st = await c.request("status");
    return st.manager_state === "idle" ? st : undefined;
  }, 30_000);
  expect(s?.worker_environment_exists, m.output()).toBe(true);
}
