/**
 * The order vitest starts the test files in. The long soak and load files
 * start first, each in a worker of its own, so that their minutes of load
 * overlap the rest of the suite rather than follow it. Then the files known to
 * take half a minute or more whose source is short: vitest's own order starts
 * the longest of its last run first, but on a fresh clone (CI) it has no last
 * run and starts the largest files first, which left these to the end, where
 * one of them alone made the tail of the run. The others keep vitest's order.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Files started before the others, in this order (paths from the project root). */
export const FIRST = [
  "test/soak/million.test.ts",
  "test/load/sockets.test.ts",
  "test/cli/readme-examples.test.ts",
  "test/compat/replay.test.ts",
  "test/queue/soak.test.ts",
  "test/schedules/restart.test.ts",
  "test/package/install.test.ts",
  "test/schedules/schedules.test.ts",
];

function rank(spec: TestSpecification): number {
  const i = FIRST.findIndex((f) => spec.moduleId.endsWith(`/${f}`));
  return i === -1 ? FIRST.length : i;
}

export class HeavyFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Array.prototype.sort is stable: the others keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
