// A no-op function for the benchmarks (run with the default, permissive permissions).
export function noop() {
  return null;
}

// The no-op that prints three lines, as the example profile's function_sleep(0) does.
export function noop_print() {
  console.log("******** Starting the function 'noop_print' ********");
  console.log("Sleeping for 0 seconds ...");
  console.log("******** Finished the function 'noop_print' ********");
  return null;
}
