#!/usr/bin/env node
/** The `zqs` command (see program.ts). */
import { buildProgram } from "./program.js";

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`zqs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
