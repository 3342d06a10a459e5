#!/usr/bin/env bash
# What `npm install` users get, checked on the tarball `npm pack` makes from the
# built dist/ (run `npm run build` first; `npm test` does): publint (package.json
# fields, `exports`, files the fields name exist in the tarball) and Are the Types
# Wrong? (each `exports` subpath's types resolve and match its JavaScript).
# attw's profile is `esm-only`: zqs is an ES-module-only package ("type": "module",
# no "require" condition), so the resolutions it checks are node16 from ESM and
# bundlers; node10 (no `exports` support) and CommonJS `require` under node16 (which
# TypeScript types as dynamic-import-only) are out of scope.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# --ignore-scripts: pack the dist/ just built (prepack would build it again).
tgz=$(npm pack --ignore-scripts --silent --pack-destination "$dir")
publint run --strict "$dir/$tgz"
attw --profile esm-only "$dir/$tgz"
