#!/usr/bin/env bash
# The test suite's local Bluesky PDS (tests/peers/pds): `npm ci` there, only when node_modules is
# missing or was installed from another lockfile or another Node (better-sqlite3 is compiled for
# one Node ABI). The first install takes about a minute: better-sqlite3 builds from source.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/peers/pds"
stamp="$dir/node_modules/.linkarooie-installed"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "the test PDS needs Node.js (>= 18.7) and npm on PATH" >&2
  exit 1
fi
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node-$(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "installing the test PDS into tests/peers/pds/node_modules (npm ci, about a minute)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$dir" && CI=true npm ci --no-audit --no-fund --loglevel=error </dev/null >"$log" 2>&1); then
  cat "$log" >&2
  echo "npm ci failed in $dir" >&2
  exit 1
fi
echo "$want" >"$stamp"
