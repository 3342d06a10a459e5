/** Run the built `zqs` binary (node dist/cli/main.js) as a user would. */
import { spawn } from "node:child_process";
import { CLI } from "../helpers/manager.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `zqs ...args` (async, so the test's own sockets keep working). */
export function zqs(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    // Tests pass addresses explicitly unless they test the environment variables.
    if (!opts.env?.QSERVER_ZMQ_CONTROL_ADDRESS) delete env.QSERVER_ZMQ_CONTROL_ADDRESS;
    if (!opts.env?.QSERVER_ZMQ_INFO_ADDRESS) delete env.QSERVER_ZMQ_INFO_ADDRESS;
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      p.kill("SIGKILL");
      reject(
        new Error(
          `zqs ${args.join(" ")} did not end within ${opts.timeoutMs ?? 30_000} ms\n${stdout}\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parse the JSON a `--json` command printed. */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}
