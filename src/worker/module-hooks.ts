/**
 * How user code in the worker finds zqs, wherever it lives.
 *
 * Startup code usually sits in the user's own folder, outside any package that
 * depends on zqs, and zqs may be installed globally, in a project or run from
 * a clone. So the worker answers the bare specifiers `zqs` and `zqs/...` itself:
 * they resolve as if imported from inside the running package (Node's
 * self-reference), through its package.json `exports`. User code thus shares
 * the worker's own module instances (`context()`, the run engine's metadata).
 * A copy of zqs in the user's node_modules is not used: the worker and the API
 * its code calls stay one version.
 *
 *  - `import` (ES modules, `.mjs`, `.js`, `.ts`, and `import()` anywhere): a
 *    `resolve` hook registered with `module.register` (this file is the hooks
 *    module; the hooks run in Node's loader thread).
 *  - `require` (CommonJS, `.cjs` and `.js` outside an ES module package):
 *    the same answer from `createRequire` inside the package; loading zqs's ES
 *    modules with `require` needs Node 20.19 or later.
 *  - TypeScript `.ts` files are ES modules (the tsx loader compiles them):
 *    a `.ts` file outside an ES module package would otherwise be compiled to
 *    CommonJS, where its imports of zqs would load second copies of zqs.
 */
import Module, { createRequire, register } from "node:module";

/** The package's own name: the bare specifiers user code imports. */
const SELF = "zqs";

function isSelf(specifier: string): boolean {
  return specifier === SELF || specifier.startsWith(`${SELF}/`);
}

/** A TypeScript file that is not `.mts` or `.cts` (the query or hash of a URL left out). */
const PLAIN_TS = /\.ts(?:[?#].*)?$/;

interface ResolveContext {
  conditions: string[];
  importAttributes: Record<string, string>;
  parentURL?: string;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
  importAttributes?: Record<string, string>;
}
type NextResolve = (specifier: string, context?: Partial<ResolveContext>) => Promise<ResolveResult>;

/** The `resolve` hook (Node's module customization hooks). */
export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  if (isSelf(specifier)) return nextResolve(specifier, { ...context, parentURL: import.meta.url });
  const resolved = await nextResolve(specifier, context);
  if (PLAIN_TS.test(resolved.url)) return { ...resolved, format: "module" };
  return resolved;
}

let installed = false;

/** Register the hooks in this process; call before user code is imported. */
export function installModuleHooks(): void {
  if (installed) return;
  installed = true;
  register(import.meta.url);
  const selfRequire = createRequire(import.meta.url);
  const cjs = Module as unknown as {
    _resolveFilename: (this: unknown, request: unknown, ...rest: unknown[]) => string;
  };
  const original = cjs._resolveFilename;
  // `selfRequire.resolve` comes back here with a parent inside the package: that
  // nested call is Node's own resolution (self-reference through `exports`).
  let resolvingSelf = false;
  cjs._resolveFilename = function (request, ...rest) {
    if (typeof request !== "string" || !isSelf(request) || resolvingSelf) {
      return original.call(this, request, ...rest);
    }
    resolvingSelf = true;
    try {
      return selfRequire.resolve(request);
    } finally {
      resolvingSelf = false;
    }
  };
}
