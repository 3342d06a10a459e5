// @ts-check
// The "add a plan" form: one field per parameter of the plan's description
// (plans_allowed), and the values typed in them read back as plan arguments.
import { h } from "../lib/dom.js";

/** @typedef {{name: string, kind?: {value?: number}, default?: unknown, annotation?: any, description?: string}} PlanParam */

/** Parameter kinds (Python's inspect.Parameter.kind values). */
const VAR_POSITIONAL = 2;
const VAR_KEYWORD = 4;

/**
 * A typed value: JSON (`3`, `[1, 2]`, `{"a": 1}`), a Python literal as the
 * descriptions show defaults (`None`, `True`, `['det1']`), or else the text
 * itself (a device name, say). Empty means "not given".
 * @param {string} text
 * @returns {unknown}
 */
export function parseValue(text) {
  const t = text.trim();
  if (t === "") return undefined;
  try {
    return JSON.parse(t);
  } catch {
    // not JSON
  }
  const py = t
    .replace(/\bNone\b/g, "null")
    .replace(/\bTrue\b/g, "true")
    .replace(/\bFalse\b/g, "false")
    .replace(/'/g, '"');
  try {
    return JSON.parse(py);
  } catch {
    return t;
  }
}

/**
 * A short text of a parameter's annotation (`typing.List[float]` → `List[float]`).
 * @param {PlanParam} p
 */
function typeText(p) {
  const a = p.annotation;
  const type = typeof a === "string" ? a : (a?.type ?? "");
  return type.replace(/\b(typing|collections\.abc)\./g, "");
}

/**
 * The devices or plans an annotation names (`{"devices": {"Motors": ["m1"]}}`), flattened.
 * @param {PlanParam} p
 */
function choicesOf(p) {
  /** @type {string[]} */
  const out = [];
  const a = p.annotation;
  if (a && typeof a === "object") {
    for (const key of ["devices", "plans", "enums"]) {
      for (const list of Object.values(a[key] ?? {})) {
        if (Array.isArray(list)) out.push(...list.map(String));
      }
    }
  }
  return out;
}

/**
 * Build the fields of one plan into `box` (replacing what was there). Each
 * input is named `param-<name>` and carries `data-kind`.
 * @param {HTMLElement} box
 * @param {{parameters?: PlanParam[]} | undefined} plan
 */
export function renderParams(box, plan) {
  box.replaceChildren();
  /** @type {PlanParam[]} */
  const params = Array.isArray(plan?.parameters) ? plan.parameters : [];
  if (params.length === 0) {
    box.append(h("p", { class: "muted" }, "This plan takes no parameters."));
    return;
  }
  for (const p of params) {
    const kind = p.kind?.value ?? 1;
    const required = !("default" in p) && kind !== VAR_POSITIONAL && kind !== VAR_KEYWORD;
    const id = `param-${p.name}`;
    const choices = choicesOf(p);
    const input = h("input", {
      id,
      name: id,
      type: "text",
      "data-param": p.name,
      "data-kind": String(kind),
      placeholder: "default" in p ? `default: ${p.default}` : required ? "required" : "",
      spellcheck: "false",
      ...(choices.length ? { list: `${id}-choices` } : {}),
    });
    if (required) input.required = true;
    const label = h(
      "label",
      { for: id, class: "param" },
      h("span", { class: "param-name" }, kind === VAR_POSITIONAL ? `*${p.name}` : p.name),
      typeText(p) ? h("code", { class: "param-type" }, typeText(p)) : null,
    );
    const desc = p.description
      ? h("span", { class: "param-desc" }, String(p.description).split("\n")[0])
      : null;
    box.append(
      h(
        "div",
        { class: "param-row" },
        label,
        input,
        choices.length
          ? h("datalist", { id: `${id}-choices` }, ...choices.map((c) => h("option", { value: c })))
          : null,
        desc,
      ),
    );
  }
}

/**
 * The plan item from the form's fields: named parameters go to `kwargs`;
 * when a `*args` parameter is given, those before it go to `args` in order
 * and it spreads its list after them. Throws an Error naming a missing
 * required parameter.
 * @param {HTMLElement} box
 * @param {string} planName
 */
export function readItem(box, planName) {
  const inputs = /** @type {HTMLInputElement[]} */ ([...box.querySelectorAll("input[data-param]")]);
  const fields = inputs.map((input) => ({
    name: input.dataset.param ?? "",
    kind: Number(input.dataset.kind),
    required: input.required,
    value: parseValue(input.value),
  }));
  for (const f of fields) {
    if (f.required && f.value === undefined)
      throw new Error(`The parameter '${f.name}' is required`);
  }
  const star = fields.findIndex((f) => f.kind === VAR_POSITIONAL && f.value !== undefined);
  /** @type {unknown[]} */
  const args = [];
  /** @type {Record<string, unknown>} */
  const kwargs = {};
  fields.forEach((f, i) => {
    if (f.value === undefined) return;
    if (i < star && f.kind < VAR_POSITIONAL) args.push(f.value);
    else if (i === star) args.push(...(Array.isArray(f.value) ? f.value : [f.value]));
    else if (f.kind === VAR_KEYWORD && f.value && typeof f.value === "object") {
      Object.assign(kwargs, f.value);
    } else if (f.kind !== VAR_POSITIONAL) kwargs[f.name] = f.value;
  });
  for (let i = 0; i < star; i++) {
    const f = fields[i];
    if (f && f.kind < VAR_POSITIONAL && f.value === undefined) {
      throw new Error(`Give '${f.name}' too when '*${fields[star]?.name}' is given`);
    }
  }
  return { item_type: "plan", name: planName, args, kwargs };
}
