/** AccessControl and the requester checks, from a fake access context (no manager). */
import { describe, expect, it } from "vitest";
import { AccessControl } from "../../src/manager/access/access.js";
import type { AccessContext } from "../../src/manager/access/context.js";
import {
  checkCall,
  requireFunctionAllowed,
  requireRequester,
} from "../../src/manager/access/requester.js";
import type { EnvironmentContent } from "../../src/protocol/ipc.js";
import type { StoreOp } from "../../src/manager/store/types.js";

function make() {
  const writes: StoreOp[][] = [];
  const bumps: string[][] = [];
  let content: EnvironmentContent = {
    plans_existing: { count: { name: "count" }, scan: { name: "scan" } },
    devices_existing: { det: { name: "det" } },
    functions: [],
  };
  let known = true;
  const ctx: AccessContext = {
    permissionsFile: undefined,
    content: () => content,
    listsKnown: () => Promise.resolve(known),
    listsWaitSeconds: 7,
    state: { bump: (...n) => void bumps.push(n) },
    writeInBackground: (ops) => void writes.push(ops),
    log: { error: () => undefined },
  };
  const setContent = (c: EnvironmentContent) => (content = c);
  const setKnown = (k: boolean) => (known = k);
  return { access: new AccessControl(ctx), writes, bumps, setContent, setKnown };
}

describe("AccessControl from a fake context", () => {
  it("requireLists passes once the lists are known, else refuses naming the option", async () => {
    const { access, setKnown } = make();
    await expect(access.requireLists()).resolves.toBeUndefined();
    setKnown(false);
    await expect(access.requireLists()).rejects.toThrow(
      /still being read from the startup code \(waited 7 s, --startup-lists-wait\)/,
    );
  });

  it("caches a group's allowed lists until the content changes", () => {
    const { access, setContent } = make();
    const first = access.allowedLists("root");
    expect(Object.keys(first.plans).sort()).toEqual(["count", "scan"]);
    setContent({
      plans_existing: { count: { name: "count" } },
      devices_existing: {},
      functions: [],
    });
    expect(access.allowedLists("root")).toBe(first);
    access.contentChanged();
    expect(Object.keys(access.allowedLists("root").plans)).toEqual(["count"]);
  });

  it("permissions_set writes in the background and bumps the allowed markers", () => {
    const { access, writes, bumps } = make();
    expect(access.hasGroup("primary")).toBe(true);
    const doc = { user_groups: { root: { allowed_plans: [null], allowed_devices: [null] } } };
    access.setPermissions(doc);
    expect(access.hasGroup("primary")).toBe(false);
    expect(writes).toHaveLength(1);
    expect(writes[0]?.[0]).toMatchObject({ op: "set", key: "permissions" });
    expect(bumps).toEqual([["plans_allowed_uid", "devices_allowed_uid"]]);
  });
});

describe("requester checks", () => {
  const groups = { hasGroup: (g: string) => g === "primary", functionAllowed: () => false };
  it("names what is missing or unknown, in order", () => {
    expect(() => requireRequester(groups, undefined, undefined)).toThrow(
      "Incorrect request format: user group is not specified",
    );
    expect(() => requireRequester(groups, undefined, "primary")).toThrow(
      "Incorrect request format: user name is not specified",
    );
    expect(() => requireRequester(groups, "u", "other")).toThrow("Unknown user group: 'other'");
    expect(requireRequester(groups, "u", "primary")).toEqual({ user: "u", group: "primary" });
  });
  it("checks a call's shape and whether the group may call it", () => {
    expect(() => checkCall({ name: "" })).toThrow("function name is not specified");
    expect(() => checkCall({ name: "f", args: 1 })).toThrow("'args' must be a list, got 1");
    expect(() => checkCall({ name: "f", kwargs: [] })).toThrow("'kwargs' must be a dictionary");
    expect(checkCall({ name: "f", args: [1] })).toEqual({
      name: "f",
      args: [1],
      kwargs: undefined,
    });
    expect(() => requireFunctionAllowed(groups, "primary", "f")).toThrow(
      "Function 'f' is not allowed for users from 'primary' group.",
    );
  });
});
