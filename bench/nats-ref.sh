#!/usr/bin/env bash
# The reference: the same broadcast against nats-server's WebSocket listener.
#   bench/nats-ref.sh NAME generator args...
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
ulimit -n "$(ulimit -Hn)"
mkdir -p bench/results
nats-server -c bench/nats-ref.conf >"bench/results/$name.server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
sleep 1
"${MINSHENG_LOAD_BIN:-./target/release/minsheng-load}" --target nats --nats-url ws://127.0.0.1:4223 --server-pid "$server" -q --json "$@" \
  >"bench/results/$name.json" 2>"bench/results/$name.txt" || echo "generator exit $?" >>"bench/results/$name.txt"
cat "bench/results/$name.txt"
