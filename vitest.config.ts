import { defineConfig } from "vitest/config";

/** Files that keep both cores busy for a long time: they run alone, after the rest. */
const ALONE = ["test/soak/**/*.test.ts", "test/load/**/*.test.ts"];

export default defineConfig({
  test: {
    // Failure guards, never speed claims: generous, so that a busy machine
    // (the suite must pass beside two CPU hogs) never trips them; a test that
    // hangs still fails. Speed is measured in bench/.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include: ["test/**/*.test.ts"],
          exclude: ALONE,
          // Integration tests start real managers; two cores, so keep parallelism modest.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
      {
        extends: true,
        test: {
          name: "alone",
          include: ALONE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
