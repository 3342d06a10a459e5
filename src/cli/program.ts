/** The `zqs` program: `zqs manager` starts the daemon; client commands follow. */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerClientCommands, runHttp, runManager, runWorker } from "./commands/index.js";

export function buildProgram(): Command {
  const program = new Command("zqs")
    .description("zqs: a queue server for Node.js, wire-compatible with bluesky-queueserver")
    .version(VERSION);
  runManager(program);
  runWorker(program);
  runHttp(program);
  registerClientCommands(program);
  return program;
}
