/** Shared pieces of the worker-layer unit tests: the example profile and the recorded vectors. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Environment } from "../../src/worker/introspect.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const STARTUP_DIR = path.join(ROOT, "examples", "startup");
export const PERMISSIONS_FILE = path.join(ROOT, "examples", "user_group_permissions.yaml");

export const STARTUP_FILES = ["00-devices.mjs", "15-plans.mjs", "99-custom.mjs"];

export async function importStartup(file: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(path.join(STARTUP_DIR, file)).href)) as Record<
    string,
    unknown
  >;
}

/** The example profile loaded as the worker loads it (files in name order). */
export async function loadProfile(): Promise<Environment> {
  const env = new Environment();
  for (const f of STARTUP_FILES) env.addModule(await importStartup(f), f.replace(/\.mjs$/, ""));
  return env;
}

interface VectorCase {
  name: string;
  reply: Record<string, unknown>;
}

let cases: VectorCase[] | undefined;

/** The reply of a recorded case, by name. */
export function vectorReply(name: string): Record<string, unknown> {
  cases ??= JSON.parse(
    readFileSync(path.join(ROOT, "test", "fixtures", "vectors.json"), "utf8"),
  ) as VectorCase[];
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no vector named '${name}'`);
  return c.reply;
}
