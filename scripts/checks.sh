#!/usr/bin/env bash
# The checks `npm test` runs, side by side, and the tests beside them:
#   bash scripts/checks.sh [COMMAND...]
# tsc and eslint are single-threaded, so one after the other they left a core
# idle for about two minutes. First the build, and beside it, at a lower
# priority (nice), the type check and the linters that do not read dist/ (each
# is its own npm script, as a developer runs it alone). Once the build is
# done: lint:package, which packs the dist/ just built, and COMMAND (`npm test`
# gives `vitest run`: the tests need only the build), whose output streams
# while the other checks go on (waiting for them first kept the tests from
# starting for a minute or more, on a machine the tests leave half idle while
# they wait on their managers). Each check's output is printed in one piece:
# the build's when it ends, the others' after COMMAND. The run fails if any
# check or COMMAND failed, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=()
pids=()
names=()

# Start checks in the background at niceness $1 (the checks after the build
# use the cores the build and the tests leave idle: the tests wait on timers
# and managers most of the time, and a check is never in a hurry).
start() {
  local niceness=$1
  shift
  for name in "$@"; do
    nice -n "$niceness" npm run --silent "$name" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
  done
}

# Wait for the check at index $1 and print its outcome and output.
report() {
  if wait "${pids[$1]}"; then
    echo "== npm run ${names[$1]}: ok"
  else
    echo "== npm run ${names[$1]}: FAILED"
    failed+=("${names[$1]}")
  fi
  cat "$dir/${names[$1]}.log"
}

start 0 build
start 10 typecheck lint:eslint lint:format lint:deps
report 0
if [ ${#failed[@]} -eq 0 ]; then
  # lint:package packs dist/: only after a build that succeeded.
  start 10 lint:package
  if [ $# -gt 0 ]; then
    "$@" || failed+=("'$*'")
  fi
fi
for i in "${!pids[@]}"; do
  [ "$i" -eq 0 ] || report "$i"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "checks failed: ${failed[*]}" >&2
  exit 1
fi
