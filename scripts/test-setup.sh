#!/usr/bin/env bash
# What `npm test` needs besides node_modules: Debian's redis-server (the Redis
# store's tests), redis-sentinel (the high-availability tests), chromium (the
# dashboard's browser tests, driven by puppeteer-core; never a browser download)
# and systemd's systemd-analyze (it verifies the example unit docs/zqs.service;
# nothing is started with it). Installed with apt-get when this
# user can; otherwise the run stops at once, naming the command to run.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -n "${REDIS_SERVER:-}" ] || have redis-server || missing+=(redis-server)
[ -n "${REDIS_SERVER:-}" ] || have redis-sentinel || missing+=(redis-sentinel)
[ -n "${ZQS_CHROMIUM:-}" ] || have chromium || missing+=(chromium)
[ -n "${SYSTEMD_ANALYZE:-}" ] || have systemd-analyze || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0

apt=""
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt="apt-get"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt="sudo -n apt-get"
  fi
fi
if [ -z "$apt" ]; then
  echo "zqs tests need ${missing[*]}, which are not installed. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  echo "(or set REDIS_SERVER / ZQS_CHROMIUM / SYSTEMD_ANALYZE to their paths)" >&2
  exit 1
fi
echo "zqs tests need ${missing[*]}: installing with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$apt update -qq
$apt install -y -qq "${missing[@]}" >/dev/null
