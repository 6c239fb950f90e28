#!/usr/bin/env bash
# Debian packages the benchmarks use (wrk, the HTTP load generator of bench/poll.py), installed
# only when missing. bench/poll.py falls back to its own Python load generator without it.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "wrk is missing (run: sudo apt-get install -y wrk); bench/poll.py uses its own client" >&2
  exit 0
fi
echo "installing Debian package: wrk"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
