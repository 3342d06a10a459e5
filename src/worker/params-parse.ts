/**
 * A function's parameters read from its source text with acorn.
 *
 * The text is what `Function.prototype.toString()` gives, so it is one of:
 * a function declaration or expression (plain, `async`, `function*`,
 * `async function*`), an arrow function (with or without parens), or a
 * method (`foo(a) {}`, `async *gen(a) {}`, `static f() {}`, `get x() {}`,
 * `["computed"](a) {}`, `#private(a) {}`), which is parsed inside a class body
 * (or an object literal, for the `async constructor() {}` an object may hold).
 * Bound and native functions (`function () { [native code] }`) and classes
 * have no readable parameters: `undefined`. Only the head, up to the end of
 * the parameter list, is parsed (given an empty body): see `cutHead`.
 *
 * How JavaScript parameters map to Python's kinds (see `bind.ts` for calls):
 *  - `a`, `a = 1`: POSITIONAL_OR_KEYWORD; a destructuring pattern in that place
 *    is named by its position (`arg2`);
 *  - `...rest`: VAR_POSITIONAL (`args` when the rest is a pattern);
 *  - a trailing object pattern `{ a = 1, b, ...extra } = {}` is the keyword
 *    options object: each key is a KEYWORD_ONLY parameter (computed keys are
 *    left out) and `...extra` is VAR_KEYWORD.
 * A default's text is its Python repr when it is a plain literal (`null` →
 * `None`, `['det1', "det2"]` → `['det1', 'det2']`; decimal numbers as written,
 * so `0.0` stays `0.0`), else the expression's source text as written.
 */
import { parseExpressionAt, tokTypes, tokenizer } from "acorn";
import type { Expression, Function as FunctionNode, ObjectPattern, Options, Pattern } from "acorn";
import type { ParameterMeta } from "./api.js";
import { pyRepr } from "../protocol/pyrepr.js";

/** A parameter as the worker knows it: metadata plus the default's source text when read from source. */
export interface ParameterInfo extends ParameterMeta {
  /** Python-style text of a default read from the source (`"1"`, `"None"`, `"['det1']"`). */
  defaultRepr?: string;
}

const OPTIONS: Options = { ecmaVersion: "latest", preserveParens: true };

/** The expression filling `source` whole (only blanks and comments around it), or `undefined`. */
function parseWhole(source: string): Expression | undefined {
  try {
    const node = parseExpressionAt(source, 0, OPTIONS);
    const next = tokenizer(source.slice(node.end), OPTIONS).getToken();
    return next.type === tokTypes.eof ? node : undefined;
  } catch {
    return undefined;
  }
}

// ---- Python reprs of literals -------------------------------------------------

/** Decimal numbers are shown as written (`0.0`, `-1.50`, `1e-3`); others by value (`0x10` → `16`). */
const DECIMAL = /^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** All the texts, or `undefined` when one is missing. */
function every(texts: (string | undefined)[]): string[] | undefined {
  return texts.every((t): t is string => t !== undefined) ? texts : undefined;
}

/** The Python repr of a plain literal (numbers, strings, booleans, null, lists and dicts of them), else `undefined`. */
function pythonLiteral(node: Expression): string | undefined {
  switch (node.type) {
    case "ParenthesizedExpression":
      return pythonLiteral(node.expression);
    case "Literal": {
      const v = node.value;
      if (v === null) return "None";
      if (typeof v === "boolean") return v ? "True" : "False";
      if (typeof v === "string") return pyRepr(v);
      if (typeof v === "bigint") return v.toString();
      if (typeof v === "number") return DECIMAL.test(node.raw ?? "") ? node.raw : String(v);
      return undefined; // a regular expression
    }
    case "Identifier":
      return node.name === "undefined" ? "None" : undefined;
    case "UnaryExpression": {
      const arg = node.argument;
      const numeric =
        arg.type === "Literal" && (typeof arg.value === "number" || typeof arg.value === "bigint");
      return node.operator === "-" && numeric ? `-${pythonLiteral(arg)}` : undefined;
    }
    case "TemplateLiteral": {
      const cooked = node.quasis[0]?.value.cooked;
      return node.expressions.length === 0 && typeof cooked === "string"
        ? pyRepr(cooked)
        : undefined;
    }
    case "ArrayExpression": {
      const items = every(
        node.elements.map((e) =>
          e === null || e.type === "SpreadElement" ? undefined : pythonLiteral(e),
        ),
      );
      return items && `[${items.join(", ")}]`;
    }
    case "ObjectExpression": {
      const items = every(
        node.properties.map((p) => {
          if (p.type !== "Property" || p.computed || p.shorthand || p.method || p.kind !== "init") {
            return undefined;
          }
          const key = keyName(p.key);
          const value = pythonLiteral(p.value);
          return key === undefined || value === undefined ? undefined : `${pyRepr(key)}: ${value}`;
        }),
      );
      return items && `{${items.join(", ")}}`;
    }
    default:
      return undefined;
  }
}

/** The name a non-computed property key stands for (`a`, `'a-b'`, `1`). */
function keyName(key: Expression): string | undefined {
  if (key.type === "Identifier") return key.name;
  if (key.type === "Literal") return String(key.value);
  return undefined;
}

/** Python repr of a default expression when it is a plain literal, else its source text. */
function defaultText(node: Expression, source: string): string {
  return pythonLiteral(node) ?? source.slice(node.start, node.end);
}

/**
 * Python repr of a JavaScript literal written in source (`null` → `None`,
 * `['det1', "det2"]` → `['det1', 'det2']`, `0.0` stays `0.0`); the trimmed
 * text itself when it is not a plain literal.
 */
export function literalRepr(text: string): string {
  const node = parseWhole(text);
  return node ? defaultText(node, text) : text.trim();
}

// ---- parameters -------------------------------------------------------------------

/** The function node a toString() text holds, with the text its ranges index. */
function functionOf(source: string): { fn: FunctionNode; source: string } | undefined {
  const whole = parseWhole(source);
  if (whole?.type === "FunctionExpression" || whole?.type === "ArrowFunctionExpression") {
    return { fn: whole, source };
  }
  if (whole?.type === "ClassExpression") return undefined;
  // A method: inside a class body, else (an `async constructor` of an object) an object literal.
  for (const [open, close] of [
    ["(class {", "\n})"],
    ["({", "\n})"],
  ] as const) {
    const wrapped = `${open}${source}${close}`;
    const node = parseWhole(wrapped);
    const inner = node?.type === "ParenthesizedExpression" ? node.expression : undefined;
    const members =
      inner?.type === "ClassExpression"
        ? inner.body.body
        : inner?.type === "ObjectExpression"
          ? inner.properties
          : [];
    const only = members.length === 1 ? members[0] : undefined;
    if (only && (only.type === "MethodDefinition" || only.type === "Property")) {
      if (only.value?.type === "FunctionExpression") return { fn: only.value, source: wrapped };
    }
  }
  return undefined;
}

function keywordParameters(pattern: ObjectPattern, source: string): ParameterInfo[] {
  const out: ParameterInfo[] = [];
  for (const prop of pattern.properties) {
    if (prop.type === "RestElement") {
      const name = prop.argument.type === "Identifier" ? prop.argument.name : "kwargs";
      out.push({ name, kind: "VAR_KEYWORD" });
      continue;
    }
    const name = prop.computed ? undefined : keyName(prop.key);
    if (name === undefined) continue;
    const p: ParameterInfo = { name, kind: "KEYWORD_ONLY" };
    if (prop.value.type === "AssignmentPattern") {
      p.default = undefined;
      p.defaultRepr = defaultText(prop.value.right, source);
    }
    out.push(p);
  }
  return out;
}

function parameterOf(param: Pattern, index: number, source: string): ParameterInfo {
  if (param.type === "RestElement") {
    const name = param.argument.type === "Identifier" ? param.argument.name : "args";
    return { name, kind: "VAR_POSITIONAL" };
  }
  const target = param.type === "AssignmentPattern" ? param.left : param;
  const p: ParameterInfo = {
    name: target.type === "Identifier" ? target.name : `arg${index}`,
    kind: "POSITIONAL_OR_KEYWORD",
  };
  if (param.type === "AssignmentPattern") {
    p.default = undefined;
    p.defaultRepr = defaultText(param.right, source);
  }
  return p;
}

const OPENERS = new Set([
  tokTypes.parenL,
  tokTypes.bracketL,
  tokTypes.braceL,
  tokTypes.dollarBraceL,
]);
const CLOSERS = new Set([tokTypes.parenR, tokTypes.bracketR, tokTypes.braceR]);

/**
 * A function's text cut after its parameter list (and the `=>` of an arrow):
 * the first parenthesis outside brackets opens the list, found with acorn's
 * tokenizer (which knows strings, templates, regular expressions and
 * comments). `undefined` when a brace comes first (a class) or the text does
 * not tokenize. Only the head is parsed: the worker reads every plan when its
 * environment opens, and a long body must not cost parsing time there.
 */
function cutHead(source: string): { head: string; body: string } | undefined {
  let depth = 0;
  let listEnd = -1;
  try {
    const tokens = tokenizer(source, OPTIONS);
    for (let tok = tokens.getToken(); tok.type !== tokTypes.eof; tok = tokens.getToken()) {
      if (listEnd >= 0) {
        const end = tok.type === tokTypes.arrow ? tok.end : listEnd;
        return { head: source.slice(0, end), body: source.slice(end) };
      }
      if (depth === 0 && tok.type === tokTypes.arrow) {
        return { head: source.slice(0, tok.end), body: source.slice(tok.end) }; // `x =>`
      }
      if (OPENERS.has(tok.type)) {
        if (depth === 0 && tok.type === tokTypes.braceL) return undefined;
        depth++;
      } else if (CLOSERS.has(tok.type)) {
        depth--;
        if (depth === 0 && tok.type === tokTypes.parenR) listEnd = tok.end;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The body `toString()` gives bound and native functions. */
const NATIVE_BODY = /^\s*\{\s*\[native code\]\s*\}\s*$/;

/**
 * Parameters read from a function's source text (as `toString()` gives it), or
 * `undefined` when the text holds no readable function (native and bound
 * functions, classes, anything that does not parse).
 */
export function parseParameters(text: string): ParameterInfo[] | undefined {
  const cut = cutHead(text);
  if (!cut || NATIVE_BODY.test(cut.body)) return undefined;
  const found = functionOf(`${cut.head} {}`);
  if (!found) return undefined;
  const { fn, source } = found;
  return fn.params.flatMap((param, index) => {
    const target = param.type === "AssignmentPattern" ? param.left : param;
    if (target.type === "ObjectPattern" && index === fn.params.length - 1) {
      return keywordParameters(target, source);
    }
    return [parameterOf(param, index, source)];
  });
}
