/**
 * The order vitest starts the test files in. The long soak and load files
 * start first, each in a worker of its own, so that their minutes of load
 * overlap the rest of the suite rather than follow it; the other files keep
 * vitest's own order (the longest of the last run first; on a fresh clone, the
 * largest first).
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Files started before the others, in this order (paths from the project root). */
export const FIRST = ["test/soak/million.test.ts", "test/load/sockets.test.ts"];

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
