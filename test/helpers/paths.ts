/** Where things are: the repository, the built CLI, the examples, the worker API as workers load it. */
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(ROOT, "dist/cli/main.js");
export const EXAMPLES = path.join(ROOT, "examples");
/** The worker API as the worker itself loads it (the same module instance: context() works). */
export const WORKER_API = pathToFileURL(path.join(ROOT, "dist/worker/index.js")).href;
