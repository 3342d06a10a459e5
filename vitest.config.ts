import { defineConfig } from "vitest/config";
import { HeavyFirst } from "./test/sequencer.js";

export default defineConfig({
  test: {
    // Failure guards, never speed claims: generous, so that a busy machine
    // (the suite must pass beside two CPU hogs) never trips them; a test that
    // hangs still fails. Speed is measured in bench/.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    include: ["test/**/*.test.ts"],
    // Integration tests start real managers and mostly wait on them (about one
    // core busy of two): three files at a time. The million-task soak and the
    // socket load start first (test/sequencer.ts), so their minutes of load
    // overlap the rest instead of following it.
    maxWorkers: 3,
    fileParallelism: true,
    sequence: { sequencer: HeavyFirst },
  },
});
