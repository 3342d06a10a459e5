#!/usr/bin/env node
/** The `zqs` command: `zqs manager` starts the daemon; client commands follow. */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerClientCommands } from "./client.js";
import { runManager } from "./manager.js";

export function buildProgram(): Command {
  const program = new Command("zqs")
    .description("zqs: a queue server for Node.js, wire-compatible with bluesky-queueserver")
    .version(VERSION);
  runManager(program);
  registerClientCommands(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`zqs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
