/** What the parts of the worker report with: a `send` to the manager, and the shapes of times and errors. */
import type { WorkerToManager } from "../protocol/ipc.js";
import { describeThrown } from "./describe.js";

/** Sends one message to the manager (the worker's main wires it to IPC; a test records it). */
export type Send = (msg: WorkerToManager) => void;

/** Bytes written to stdout and stderr so far (a task's end carries it as `out`). */
export type OutputBytes = () => number;

/** Now, in seconds (the protocol's times). */
export function now(): number {
  return Date.now() / 1000;
}

/** An error's message and traceback, as task results carry them. */
export function errorText(err: unknown): { msg: string; traceback: string } {
  const { message, stack } = describeThrown(err);
  return { msg: message, traceback: stack };
}
