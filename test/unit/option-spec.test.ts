/** One option type and one resolver (src/options/spec.ts) for every command's options. */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { resolveWorkerOptions, WORKER_OPTION_SPECS } from "../../src/cli/commands/worker.js";
import { HTTP_OPTION_SPECS } from "../../src/http/options.js";
import { OPTION_SPECS, resolveOptions } from "../../src/manager/options.js";
import { addTable, resolveTable, type TableOption } from "../../src/options/spec.js";

const table: TableOption[] = [
  {
    key: "count",
    flag: "--count",
    value: "<n>",
    env: "T_COUNT",
    description: "a count",
    default: 1,
    parse: (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new Error(`expected an integer, got '${raw}'`);
      return n;
    },
  },
  { key: "loud", flag: "--loud", description: "a switch", default: false },
];

describe("the resolver", () => {
  it("takes the flag over the variable over the default, parsing text only", () => {
    expect(resolveTable(table, {}, {})).toEqual({ count: 1, loud: false });
    expect(resolveTable(table, {}, { T_COUNT: "7" })).toEqual({ count: 7, loud: false });
    expect(resolveTable(table, { count: "3", loud: true }, { T_COUNT: "7" })).toEqual({
      count: 3,
      loud: true,
    });
    // An empty variable is no value.
    expect(resolveTable(table, {}, { T_COUNT: "" })).toEqual({ count: 1, loud: false });
  });

  it("names where a bad value came from: the flag or the variable", () => {
    expect(() => resolveTable(table, { count: "x" }, {})).toThrow(
      "--count: expected an integer, got 'x'",
    );
    expect(() => resolveTable(table, {}, { T_COUNT: "y" })).toThrow(
      "T_COUNT: expected an integer, got 'y'",
    );
  });

  it("every command's table is of one kind: flags from keys, each key and flag once", () => {
    for (const specs of [OPTION_SPECS, HTTP_OPTION_SPECS, WORKER_OPTION_SPECS]) {
      const cmd = new Command("t");
      addTable(cmd, specs);
      // Commander stores each option under its table key (what resolveTable reads).
      expect(cmd.options.map((o) => o.attributeName())).toEqual(specs.map((s) => s.key));
      expect(new Set(specs.map((s) => s.flag)).size).toBe(specs.length);
    }
  });
});

describe("zqs worker's table", () => {
  it("gives the agent typed values and refuses bad ones naming the flag", () => {
    expect(resolveWorkerOptions({ connect: "tcp://h:1" }, {})).toMatchObject({
      slots: 1,
      tags: [],
      drainTimeout: 60,
      orphanPolicy: "finish",
      workerTimeout: 3,
      keptEnds: 64,
    });
    expect(
      resolveWorkerOptions(
        { connect: "tcp://h:1", slots: "4", tags: "gpu, big,", drainTimeout: "0.5" },
        {},
      ),
    ).toMatchObject({ slots: 4, tags: ["gpu", "big"], drainTimeout: 0.5 });
    expect(() => resolveWorkerOptions({ slots: "0" }, {})).toThrow(
      "--slots: expected a positive integer, got '0'",
    );
    expect(resolveWorkerOptions({ connect: "tcp://h:1", keptEnds: "16" }, {}).keptEnds).toBe(16);
    expect(() => resolveWorkerOptions({ keptEnds: "-1" }, {})).toThrow(
      "--kept-ends: expected a positive integer, got '-1'",
    );
    expect(() => resolveWorkerOptions({ orphanPolicy: "drop" }, {})).toThrow(
      "--orphan-policy: expected finish or abort, got 'drop'",
    );
    expect(() => resolveWorkerOptions({ privateKey: "k" }, {})).toThrow(
      /--private-key: expected a CURVE key/,
    );
    expect(() => resolveWorkerOptions({ startupDir: "a", startupModule: "b" }, {})).toThrow(
      "--startup-dir and --startup-module cannot be used together",
    );
  });
});

describe("zqs manager's table", () => {
  it("--zmq-info-interval: seconds above 0, at most 1, refused naming the flag", () => {
    expect(resolveOptions({}).zmqInfoInterval).toBe(1);
    expect(resolveOptions({ zmqInfoInterval: "0.05" }).zmqInfoInterval).toBe(0.05);
    expect(() => resolveOptions({ zmqInfoInterval: "0" })).toThrow(
      "--zmq-info-interval: expected seconds, got '0'",
    );
    expect(() => resolveOptions({ zmqInfoInterval: "2" })).toThrow(
      "--zmq-info-interval: expected at most 1 second, got '2'",
    );
  });
});
