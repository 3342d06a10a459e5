/**
 * The worker's heartbeat: a thread writes one byte to fd 3 every
 * HEARTBEAT_INTERVAL_MS, so that the manager can tell a hung process from a
 * busy one (a long synchronous call does not stop the thread).
 */
import { Worker } from "node:worker_threads";
import { HEARTBEAT_FD, HEARTBEAT_INTERVAL_MS } from "../protocol/ipc.js";

/**
 * Starts the heartbeat thread; resolves once it has written its first beat, so
 * that the manager has heard a beat before anything else this process says
 * (it judges a worker that never beat by the longer start-up allowance).
 */
export function startHeartbeat(): Promise<void> {
  const code = `
    const fs = require("node:fs");
    const { parentPort } = require("node:worker_threads");
    const beat = () => { try { fs.writeSync(${HEARTBEAT_FD}, "."); } catch { process.exit(0); } };
    beat();
    parentPort.postMessage("beating");
    setInterval(beat, ${HEARTBEAT_INTERVAL_MS});
  `;
  const w = new Worker(code, { eval: true });
  w.unref();
  return new Promise((resolve) => {
    w.once("message", () => resolve());
    w.once("error", () => resolve());
  });
}
