/** Shutdown: manager_stop (safe_on, safe_off), SIGTERM and SIGINT all end the process with code 0. */
import { afterEach, expect, it } from "vitest";
import { RawClient, startManager, type RunningManager } from "../helpers/manager.js";

let m: RunningManager | undefined;
let c: RawClient | undefined;

afterEach(async () => {
  c?.close();
  c = undefined;
  await m?.stop();
  m = undefined;
});

for (const option of ["safe_on", "safe_off"]) {
  it(`manager_stop (${option}) replies success, then the process exits with code 0`, async () => {
    m = await startManager({ examples: false });
    c = new RawClient(m.controlAddr);
    const reply = await c.request("manager_stop", { option });
    expect(reply).toEqual({ success: true, msg: "" });
    expect(await m.exited).toBe(0);
    expect(m.proc.signalCode).toBeNull();
    expect(m.output()).toContain("Stopping the manager (manager_stop request)");
  });
}

it("manager_stop without params defaults to safe_on and stops", async () => {
  m = await startManager({ examples: false });
  c = new RawClient(m.controlAddr);
  expect(await c.request("manager_stop")).toEqual({ success: true, msg: "" });
  expect(await m.exited).toBe(0);
});

it("a refused manager_stop (bad option) leaves the manager running", async () => {
  m = await startManager({ examples: false });
  c = new RawClient(m.controlAddr);
  const r = await c.request("manager_stop", { option: "bogus" });
  expect(r.success).toBe(false);
  // A stop would begin right after its reply, before the next request is read.
  expect((await c.request("status")).manager_state).toBe("idle");
  expect(m.proc.exitCode).toBeNull();
  expect(m.output()).not.toContain("Stopping the manager");
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  it(`${signal} makes the process exit with code 0`, async () => {
    m = await startManager({ examples: false });
    c = new RawClient(m.controlAddr);
    expect((await c.request("status")).manager_state).toBe("idle");
    m.proc.kill(signal);
    expect(await m.exited).toBe(0);
    expect(m.proc.signalCode).toBeNull();
    expect(m.output()).toContain(`Stopping the manager (signal ${signal})`);
  });
}
