#!/usr/bin/env bash
# Runs one benchmark against a freshly started server on this machine and keeps
# the report in bench/results/NAME.txt (and .json).
#   bench/run.sh NAME [server flags --] generator args...
# Example: bench/run.sh broadcast-10k -- broadcast --viewers 10000 --approvals-per-sec 20 --duration 20
# With DATABASE_URL=postgres://… in the environment the server runs on PostgreSQL.
# MINSHENG_BIN and MINSHENG_LOAD_BIN choose other binaries (default: ./target/release/…),
# e.g. a server built from a clean checkout of one commit.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
server_flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do server_flags+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
ulimit -n "$(ulimit -Hn)"
# The load generator opens every connection from 127.0.0.1: lift the per-address cap (the
# total stays held to `ulimit -n`). Flags given to the script still win over these.
export MINSHENG_MAX_CONNECTIONS_PER_ADDRESS=${MINSHENG_MAX_CONNECTIONS_PER_ADDRESS:-1000000}
export MINSHENG_MAX_CONNECTIONS=${MINSHENG_MAX_CONNECTIONS:-1000000}
mkdir -p bench/results
port=18181
rm -f data/bench.db data/bench.db-*
export DATABASE_URL="${DATABASE_URL:-sqlite://data/bench.db}"
# The generator opens every viewer socket, and votes with every token, from
# 127.0.0.1: lift the per-address caps (the flags on the command line still win).
export MINSHENG_VIEWER_SOCKETS_PER_ADDRESS="${MINSHENG_VIEWER_SOCKETS_PER_ADDRESS:-0}"
export MINSHENG_VOTES_PER_ADDRESS="${MINSHENG_VOTES_PER_ADDRESS:-0}"
# The demo's rooms are `verified` as a district runs them; the generator's viewers do not
# verify 10,000 numbers, so its rooms are `open` (the same live path, keyed per token).
export MINSHENG_DEMO_IDENTITY="${MINSHENG_DEMO_IDENTITY:-open}"
server_bin=${MINSHENG_BIN:-./target/release/minsheng}
load_bin=${MINSHENG_LOAD_BIN:-./target/release/minsheng-load}
"$server_bin" serve --demo --listen "127.0.0.1:$port" "${server_flags[@]}" >"bench/results/$name.server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
sleep 2 # let the demo's password hashing settle before the idle memory sample
"$load_bin" --url "http://127.0.0.1:$port" --server-pid "$server" -q --json "$@" \
  >"bench/results/$name.json" 2>"bench/results/$name.txt" || echo "generator exit $?" >>"bench/results/$name.txt"
cat "bench/results/$name.txt"
