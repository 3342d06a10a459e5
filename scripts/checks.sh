#!/usr/bin/env bash
# The checks `npm test` runs before vitest (its pretest), side by side: tsc and
# eslint are single-threaded, so one after the other they left a core idle for
# about two minutes. First the build, the type check and the linters that do not
# read dist/ (each is its own npm script, as a developer runs it alone); then
# lint:package, which packs the dist/ just built. Each check's output is printed
# in one piece when it ends; the run fails if any check failed, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=()

run_together() {
  local pids=() names=() i
  for name in "$@"; do
    npm run --silent "$name" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      echo "== npm run ${names[$i]}: ok"
    else
      echo "== npm run ${names[$i]}: FAILED"
      failed+=("${names[$i]}")
    fi
    cat "$dir/${names[$i]}.log"
  done
}

run_together build typecheck lint:eslint lint:format lint:deps
# lint:package packs dist/: only after a build that succeeded.
[[ " ${failed[*]} " == *" build "* ]] || run_together lint:package
if [ ${#failed[@]} -gt 0 ]; then
  echo "checks failed: ${failed[*]}" >&2
  exit 1
fi
