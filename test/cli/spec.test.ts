/**
 * The CLI's command specs (src/cli/spec.ts): flags, parsers, defaults, types and
 * method parameters come from one table; the whole `zqs` program builds from
 * its specs (every `param` names a parameter of its method).
 */
import { Command } from "commander";
import { describe, expect, expectTypeOf, it } from "vitest";
import { UsageError } from "../../src/cli/errors.js";
import { integer, positiveSeconds } from "../../src/cli/parse.js";
import { buildProgram } from "../../src/cli/program.js";
import { bindSpec, flagOf } from "../../src/cli/spec.js";
import { methods } from "../../src/protocol/index.js";

const spec = {
  method: "function_execute",
  arguments: {
    name: { description: "function name" },
    args: { description: "positional arguments", optional: true, variadic: true },
  },
  options: {
    background: { description: "switch", param: "run_in_background" },
    taskTimeout: {
      value: "<seconds>",
      description: "seconds",
      parse: positiveSeconds,
      param: "timeout",
    },
    maxRetries: { value: "<n>", description: "n", parse: integer, param: true },
    after: { value: "<uids...>", description: "list", param: true },
    waitTimeout: {
      value: "<seconds>",
      description: "with a default",
      parse: positiveSeconds,
      default: Infinity,
    },
    mode: { value: "<m>", description: "choices", choices: ["a", "b"] },
  },
} as const;

/** Parse `argv` with a command bound to `spec`; what the handler would get. */
async function read(argv: string[]) {
  const cmd = new Command("t").exitOverride();
  const bound = bindSpec(cmd, spec);
  let got: ReturnType<typeof bound.read> | undefined;
  cmd.action(() => {
    got = bound.read();
  });
  await cmd.parseAsync(argv, { from: "user" });
  if (!got) throw new Error("the action did not run");
  return got;
}

describe("one spec per command", () => {
  it("flags are the keys in kebab case", () => {
    expect(flagOf("waitTimeout")).toBe("--wait-timeout");
    expect(flagOf("item_uid")).toBe("--item-uid");
    const cmd = new Command("t");
    bindSpec(cmd, spec);
    expect(cmd.options.map((o) => o.flags)).toEqual([
      "--background",
      "--task-timeout <seconds>",
      "--max-retries <n>",
      "--after <uids...>",
      "--wait-timeout <seconds>",
      "--mode <m>",
    ]);
    expect(cmd.usage()).toBe("[options] <name> [args...]");
  });

  it("values are parsed, defaulted and typed from the spec; params are filled by name", async () => {
    const { args, opts, params } = await read([
      "f",
      "1",
      "x",
      "--task-timeout",
      "2.5",
      "--max-retries",
      "3",
      "--after",
      "u1",
      "u2",
    ]);
    expect(args).toEqual({ name: "f", args: ["1", "x"] });
    expect(opts).toEqual({
      background: false,
      taskTimeout: 2.5,
      maxRetries: 3,
      after: ["u1", "u2"],
      waitTimeout: Infinity,
      mode: undefined,
    });
    expect(params).toEqual({
      run_in_background: false,
      timeout: 2.5,
      max_retries: 3,
      after: ["u1", "u2"],
    });
    expectTypeOf(args.name).toEqualTypeOf<string>();
    expectTypeOf(args.args).toEqualTypeOf<string[]>();
    expectTypeOf(opts.background).toEqualTypeOf<boolean>();
    expectTypeOf(opts.taskTimeout).toEqualTypeOf<number | undefined>();
    expectTypeOf(opts.after).toEqualTypeOf<string[] | undefined>();
    expectTypeOf(opts.waitTimeout).toEqualTypeOf<number>();
    expectTypeOf(opts.mode).toEqualTypeOf<"a" | "b" | undefined>();
  });

  it("a bad value is a usage error naming its flag", async () => {
    const err = await read(["f", "--task-timeout", "soon"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      "--task-timeout must be a positive number of seconds, got 'soon'",
    );
  });

  it("an option filling a parameter its method does not take is refused at definition", () => {
    expect(() =>
      bindSpec(new Command("t"), {
        method: "function_execute",
        options: { count: { value: "<n>", description: "n", param: true } },
      }),
    ).toThrow(/'count' fills 'count', not a parameter of function_execute/);
    expect(() =>
      bindSpec(new Command("t"), { arguments: { uid: { description: "u", param: "task_uid" } } }),
    ).toThrow(/not a parameter of any method/);
  });
});

describe("the zqs program", () => {
  const program = buildProgram();
  const leaves = (c: Command, path: string[] = []): [string, Command][] =>
    c.commands.length === 0
      ? [[path.join(" "), c]]
      : c.commands.flatMap((s) => leaves(s, [...path, s.name()]));

  it("builds from its specs, every command described", () => {
    const all = leaves(program);
    expect(all.length).toBeGreaterThan(40);
    for (const [name, c] of all) expect(c.description(), name).not.toBe("");
  });

  it("commands without their own help text take their method's summary", () => {
    const byName = new Map(leaves(program));
    expect(byName.get("re resume")?.description()).toBe("resume a paused plan");
    expect(byName.get("run info")?.description()).toBe(
      methods.run_info.summary.replace(/\.$/, "").replace(/^C/, "c"),
    );
    expect(byName.get("queue stop")?.description()).toBe(
      "stop the queue after the running item (--cancel: cancel a pending stop)",
    );
  });
});
