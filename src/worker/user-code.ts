/**
 * The user code the worker holds: the startup code (a directory of files in
 * name order, or one module), then uploaded scripts, gathered in one
 * `Environment` (its plans, devices and functions).
 */
import { createHash } from "node:crypto";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { WORKER_ENV, type EnvironmentContent } from "../protocol/ipc.js";
import { describeThrown } from "./describe.js";
import { Environment } from "./introspect.js";

const STARTUP_EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".mts"];

type Exports = Record<string, unknown>;

function startupFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => STARTUP_EXTENSIONS.includes(path.extname(f)) && !f.endsWith(".d.ts"))
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

export class UserCode {
  readonly env = new Environment();
  private typeScript: Promise<void> | undefined;

  /** Loads the startup code: the files of `dir`, or the module `mod` (a path or a package). */
  async loadStartup(dir: string | undefined, mod: string | undefined): Promise<void> {
    if (dir) {
      for (const file of startupFiles(dir)) {
        this.env.addModule(
          await this.importFile(file),
          path.basename(file).replace(/\.[^.]+$/, ""),
        );
      }
    } else if (mod) {
      const isPath = mod.startsWith(".") || mod.startsWith("/") || /\.[cm]?[jt]s$/.test(mod);
      const exports = isPath
        ? await this.importFile(path.resolve(mod))
        : ((await import(mod)) as Exports);
      this.env.addModule(exports, path.basename(mod).replace(/\.[^.]+$/, ""));
    }
  }

  /**
   * Loads an uploaded script `id` (its imports of zqs resolve as startup code's
   * do): written to `uploadDir`, the directory the forking process made and removes.
   */
  async loadScript(id: string, script: string, uploadDir: string | undefined): Promise<void> {
    if (script.trim() === "") return;
    if (!uploadDir) throw new Error(`No directory for uploaded scripts (${WORKER_ENV.uploadDir})`);
    const looksTs = /^\s*(interface|type)\s+\w+|:\s*(string|number|boolean|unknown|any)\b/m.test(
      script,
    );
    const file = path.join(uploadDir, `${id}${looksTs ? ".ts" : ".mjs"}`);
    writeFileSync(file, script);
    let exports: Exports;
    try {
      exports = await this.importFile(file);
    } catch (err) {
      // (sic) "stript": the Python server's words, kept for clients that match them.
      throw new Error(`Failed to execute stript: ${describeThrown(err).message}`, { cause: err });
    }
    this.env.addModule(exports, `script_${id.slice(0, 8)}`);
  }

  describe(): EnvironmentContent {
    return this.env.describe();
  }

  /** Each function's name → the first 16 hex digits of the SHA-256 of its source. */
  functionHashes(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, fn] of this.env.functions) {
      out[name] = createHash("sha256").update(fn.toString()).digest("hex").slice(0, 16);
    }
    return out;
  }

  private async importFile(file: string): Promise<Exports> {
    if (/\.(ts|mts|cts)$/.test(file)) await this.enableTypeScript();
    return (await import(pathToFileURL(file).href)) as Exports;
  }

  /**
   * TypeScript goes through tsx's loader, registered in this process the first time
   * a TypeScript file is met (zqs's own code is compiled JS and needs no loader).
   * Registered after the module hooks, so that `.ts` files are ES modules and their
   * imports of zqs reach the worker's own modules.
   */
  private enableTypeScript(): Promise<void> {
    this.typeScript ??= (async () => {
      try {
        const tsx = await import("tsx/esm/api");
        tsx.register();
      } catch (err) {
        throw new Error(
          `Loading TypeScript startup code needs the 'tsx' package: ${describeThrown(err).message}`,
          { cause: err },
        );
      }
    })();
    return this.typeScript;
  }
}
