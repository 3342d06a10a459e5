/**
 * Names that every JavaScript object has as properties (`constructor`,
 * `toString`, `__proto__`, ...) are ordinary names in the code that keys maps
 * by names a client sends: the parameter checks, plan validation, argument
 * binding, permissions and the client's item and wait helpers. (The manager
 * as a whole is checked in test/foundation/prototype-names.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { toWireValue } from "../../src/client/items.js";
import { waitForTasks } from "../../src/client/wait.js";
import { Permissions, validatePermissions } from "../../src/manager/access/permissions.js";
import { checkParams } from "../../src/protocol/index.js";
import {
  matchArguments,
  validatePlanItem,
  type PlanDescription,
} from "../../src/protocol/plan-params.js";
import { bindArguments } from "../../src/worker/bind.js";

const NAMES = Object.getOwnPropertyNames(Object.prototype);

/** `{name: value}` with `name` an own key (also `__proto__`). */
const own = (name: string, value: unknown): Record<string, unknown> =>
  JSON.parse(JSON.stringify({ [name]: value })) as Record<string, unknown>;

describe.each(NAMES)("the name %s", (name) => {
  it("is kept as a key of a map parameter (an item, a queue mode)", () => {
    const item = { item_type: "plan", name: "count", ...own(name, 1) };
    const r = checkParams("queue_item_add", { item });
    expect(r.ok && Object.hasOwn(r.params.item ?? {}, name)).toBe(true);
    const mode = checkParams("queue_mode_set", { mode: own(name, true) });
    expect(mode.ok && Object.keys(mode.params.mode ?? {})).toEqual([name]);
  });

  it("is a keyword argument like any other (unexpected, or collected by **kwargs)", () => {
    const f = [{ name: "x", kind: "POSITIONAL_OR_KEYWORD" as const, hasDefault: true }];
    expect(() => matchArguments("f", f, [], own(name, 1))).toThrow(
      `f() got an unexpected keyword argument '${name}'`,
    );
    const g = [...f, { name: "kw", kind: "VAR_KEYWORD" as const, hasDefault: false }];
    const matched = matchArguments("g", g, [], own(name, 1));
    expect(Object.hasOwn(matched.varKwargs, name)).toBe(true);
    expect(Object.getPrototypeOf(matched.varKwargs)).toBe(Object.prototype);
    const call = bindArguments("g", [{ name: "x" }, { name: "kw", kind: "VAR_KEYWORD" }], [], {
      ...own(name, 1),
      x: 2,
    });
    expect(call[0]).toBe(2);
    expect(Object.entries(call[1] as object)).toEqual([[name, 1]]);
  });

  it("is a plan, device or function name checked against a custom list of a parameter", () => {
    const plan: PlanDescription = {
      name: "p",
      properties: { is_generator: true },
      module: "m",
      parameters: [
        {
          name: "motor",
          kind: { name: "POSITIONAL_OR_KEYWORD", value: 1 },
          // A type name that is a property of every object: not a custom list here.
          annotation: { type: name, devices: { Motors: ["motor1"] } },
        },
      ],
    };
    expect(validatePlanItem({ name: "p", args: ["motor1"] }, plan)).toBeUndefined();
  });

  it("is a user group the permissions may define, and otherwise an unknown one", () => {
    const doc = validatePermissions(
      JSON.parse(
        JSON.stringify({
          user_groups: {
            root: { allowed_plans: [null] },
            [name]: { allowed_plans: [":^count$"] },
          },
        }),
      ),
    );
    const p = new Permissions(doc);
    expect(p.hasGroup(name)).toBe(true);
    expect(p.planAllowed(name, "count")).toBe(true);
    expect(p.planAllowed(name, "scan")).toBe(false);
    expect(Object.getPrototypeOf(doc.user_groups)).toBe(Object.prototype);
    const without = new Permissions(validatePermissions({ user_groups: { root: {} } }));
    expect(without.hasGroup(name)).toBe(false);
    expect(without.planAllowed(name, "count")).toBe(false);
  });

  it("is a key the client's items keep", () => {
    const wire = toWireValue({ kwargs: own(name, 1) }) as { kwargs: object };
    expect(Object.entries(wire.kwargs)).toEqual([[name, 1]]);
  });

  it("is a task uid the client's wait reports", async () => {
    const done = await waitForTasks(
      [name],
      async (uids) => {
        expect(uids).toEqual([name]);
        return own(name, "completed") as Record<string, "completed">;
      },
      undefined,
      { timeout: 5 },
    );
    expect(Object.entries(done)).toEqual([[name, "completed"]]);
    // A uid the reply does not carry is not found in Object.prototype either.
    await expect(
      waitForTasks([name], async () => ({}), undefined, { timeout: 0.2 }),
    ).rejects.toThrow();
  });
});
