/**
 * Python-style calls of JavaScript functions and plans.
 *
 * Requests carry `args` (a list) and `kwargs` (a map), as in Python. JavaScript
 * has positional parameters only, so a call is laid out as follows:
 *
 *  - POSITIONAL_ONLY and POSITIONAL_OR_KEYWORD parameters are the function's
 *    positional parameters, in order, whether the caller gave them by position
 *    or by keyword. One the caller left out gets its metadata default when
 *    `plan()`/`func()` gave one, else `undefined` (so the JavaScript default
 *    applies).
 *  - VAR_POSITIONAL (`*args`): the extra positional values. When it is the last
 *    parameter they are spread (a JavaScript rest parameter, `...args`); when
 *    keyword parameters follow it they are passed as ONE array, because a
 *    JavaScript rest parameter must come last.
 *  - KEYWORD_ONLY and VAR_KEYWORD (`**kwargs`): ONE trailing options object
 *    holding the keyword-only values (metadata defaults filled in, keys of
 *    source-read defaults left out so destructuring defaults apply) and every
 *    extra keyword. It is passed whenever the signature has such parameters.
 *
 * So Python's `count(detectors, num=1, delay=0.0, *, per_shot=None, md=None)`
 * is `async function* count(detectors, num = 1, delay = 0.0, { per_shot = null, md = null } = {})`,
 * `scan(detectors, *args, num=None, ...)` is `scan(detectors, args, { num = null, ... } = {})`,
 * and `f(*values)` is `function f(...values)`.
 */
import type { ParameterKind, ParameterMeta } from "./api.js";
import { setOwn } from "../protocol/own.js";
import { ArgumentError, matchArguments } from "../protocol/plan-params.js";

export { ArgumentError };

/** Turns a value given for a parameter into what the function receives (device names → devices). */
export type ArgumentConverter = (param: ParameterMeta, value: unknown) => unknown;

export function kindOf(p: ParameterMeta): ParameterKind {
  return p.kind ?? "POSITIONAL_OR_KEYWORD";
}

/** True when the parameter is optional (metadata default, or a default in the source). */
export function hasDefault(p: ParameterMeta): boolean {
  return Object.prototype.hasOwnProperty.call(p, "default");
}

/**
 * Lay `args` and `kwargs` out as a JavaScript call of a function with these
 * parameters. Throws a TypeError with Python's message when they do not fit
 * (unexpected keyword, missing or too many arguments).
 */
export function bindArguments(
  name: string,
  params: readonly ParameterMeta[],
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  convert: ArgumentConverter = (_p, v) => v,
): unknown[] {
  const matched = matchArguments(
    name,
    params.map((p) => ({ name: p.name, kind: kindOf(p), hasDefault: hasDefault(p) })),
    args,
    kwargs ?? {},
  );
  const out: unknown[] = [];
  let options: Record<string, unknown> | undefined;
  const last = params[params.length - 1];
  for (const p of params) {
    const kind = kindOf(p);
    const given = matched.values.has(p.name);
    switch (kind) {
      case "POSITIONAL_ONLY":
      case "POSITIONAL_OR_KEYWORD":
        out.push(
          given
            ? convert(p, matched.values.get(p.name))
            : p.default === undefined
              ? undefined
              : convert(p, p.default),
        );
        break;
      case "VAR_POSITIONAL": {
        const extra = matched.varArgs.map((v) => convert(p, v));
        if (p === last) out.push(...extra);
        else out.push(extra);
        break;
      }
      case "KEYWORD_ONLY":
        options ??= {};
        if (given) options[p.name] = convert(p, matched.values.get(p.name));
        else if (p.default !== undefined) options[p.name] = convert(p, p.default);
        break;
      case "VAR_KEYWORD":
        options ??= {};
        // Keywords are the caller's names (`__proto__` too): own keys of the options.
        for (const [k, v] of Object.entries(matched.varKwargs)) setOwn(options, k, convert(p, v));
        break;
    }
  }
  if (options) out.push(options);
  return out;
}
