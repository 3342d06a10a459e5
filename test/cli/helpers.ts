/** Run the built `zqs` binary (node dist/cli/main.js) as a user would. */
import { CLI } from "../helpers/manager.js";
import { runProcess, type RunResult } from "../helpers/process.js";

export type CliResult = RunResult;

/** Run `zqs ...args` (async, so the test's own sockets keep working). */
export function zqs(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const env = { ...process.env, ...opts.env };
  // Tests pass addresses explicitly unless they test the environment variables.
  if (!opts.env?.QSERVER_ZMQ_CONTROL_ADDRESS) delete env.QSERVER_ZMQ_CONTROL_ADDRESS;
  if (!opts.env?.QSERVER_ZMQ_INFO_ADDRESS) delete env.QSERVER_ZMQ_INFO_ADDRESS;
  return runProcess(process.execPath, [CLI, ...args], { env, timeoutMs: opts.timeoutMs });
}

/** Parse the JSON a `--json` command printed. */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}
