/**
 * Start-up times: the manager from spawn until it answers `status`, beside a
 * bare zeromq.js echo server from fork until it is bound; `environment_open`
 * until the worker is ready, beside a bare fork of Node until its first IPC message.
 */
import { fork } from "node:child_process";
import path from "node:path";
import { RawClient, ROOT, startManager, waitUntil } from "../test/helpers/manager.js";
import { median, nowMs, startEchoServer } from "./lib.js";

export interface StartupTimes {
  managerMs: number;
  echoServerMs: number;
  envOpenMs: number;
  bareForkMs: number;
}

async function bareFork(): Promise<number> {
  const t0 = nowMs();
  const p = fork("-e", ["process.send('ready')"], { stdio: "ignore", execArgv: [] });
  await new Promise<void>((resolve) => p.once("message", () => resolve()));
  const ms = nowMs() - t0;
  p.kill();
  return ms;
}

export async function benchStartup(rounds = 5): Promise<StartupTimes> {
  const manager: number[] = [];
  const echo: number[] = [];
  const env: number[] = [];
  const fk: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = nowMs();
    const e = await startEchoServer("rep");
    echo.push(nowMs() - t0);
    e.stop();
    fk.push(await bareFork());

    t0 = nowMs();
    const m = await startManager({
      checkReplies: false,
      examples: false,
      publishConsole: false,
      args: ["--startup-dir", path.join(ROOT, "bench/startup")],
    });
    manager.push(nowMs() - t0);
    const c = new RawClient(m.controlAddr);
    t0 = nowMs();
    await c.request("environment_open");
    await waitUntil(async () => (await c.request("status")).worker_environment_exists, 20_000, 2);
    env.push(nowMs() - t0);
    c.close();
    await m.stop();
  }
  return {
    managerMs: median(manager),
    echoServerMs: median(echo),
    envOpenMs: median(env),
    bareForkMs: median(fk),
  };
}
