/**
 * The task steps moved to the shared harness (test/helpers/tasks.ts,
 * test/helpers/process.ts); re-exported here for tests written against this path.
 */
export { execute, fn, openEnvironment, USER, waitCompleted } from "../helpers/tasks.js";
export { childPids } from "../helpers/process.js";
