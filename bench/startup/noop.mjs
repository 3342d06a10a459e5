// A no-op function for the benchmarks (run with the default, permissive permissions).
export function noop() {
  return null;
}
