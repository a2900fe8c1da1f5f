#!/usr/bin/env bash
# What each idle viewer connection holds on the heap: the server runs under
# heaptrack, N viewers connect and stay idle, the server is killed while they
# are connected (so every live allocation counts as "leaked"), and the live
# bytes are grouped by the function that allocated them, per connection.
#
# Usage: bench/heap_idle.sh [BINARY] [N] [OUT]
#   BINARY  the server (default target/release/minsheng)
#   N       idle viewers (default 2000)
#   OUT     heaptrack's data file, without .zst (default /tmp/heap-idle)
# Needs heaptrack (Debian: apt-get install heaptrack) and target/release/minsheng-load.
# The figures include what the server holds regardless of connections (the
# demo's SQLite cache, the word list): divide by a larger N to thin them out.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/minsheng}
n=${2:-2000}
out=${3:-/tmp/heap-idle}
load_bin=${MINSHENG_LOAD_BIN:-./target/release/minsheng-load}
port=18191
ulimit -n "$(ulimit -Hn)"
export MINSHENG_MAX_CONNECTIONS_PER_ADDRESS=1000000 MINSHENG_MAX_CONNECTIONS=1000000
export MINSHENG_VIEWER_SOCKETS_PER_ADDRESS=0 MINSHENG_VOTES_PER_ADDRESS=0 MINSHENG_DEMO_IDENTITY=open
mkdir -p data
rm -f data/heap.db data/heap.db-* "$out.zst"
export DATABASE_URL=sqlite://data/heap.db
heaptrack -o "$out" "$bin" serve --demo --listen "127.0.0.1:$port" >"$out.server.log" 2>&1 &
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
sleep 2
"$load_bin" --url "http://127.0.0.1:$port" -q connect --viewers "$n" --connect-rate 1000 --duration 30 \
  >"$out.load.txt" 2>&1 &
load=$!
# Connected at 1,000 a second (slower under heaptrack), then idle for a moment.
sleep $((n / 500 + 4))
server=$(pgrep -f "^$bin serve --demo --listen 127.0.0.1:$port" | head -1)
kill -KILL "$server"
wait "$load" || true
wait || true
heaptrack_print -f "$out.zst" -p 0 -a 0 -T 0 -F "$out.stacks" --flamegraph-cost-type leaked >/dev/null
# Each line of the stacks file: frames root;...;leaf, then the bytes. Group by
# the three frames nearest the allocation, past the allocator's own.
awk -v n="$n" '
{
  bytes = $NF; line = $0; sub(/ +[0-9]+$/, "", line); k = split(line, f, ";"); key = ""; kept = 0
  for (i = k; i >= 1 && kept < 3; i--) {
    fr = f[i]; sub(/::h[0-9a-f]{16}$/, "", fr)
    if (fr == "" || fr ~ /rdl_alloc|__rust_|alloc::|raw_vec|RawVec|exchange_malloc|do_reserve|grow_|finish_grow|with_capacity|<unresolved|^0x/) continue
    key = key (kept ? " < " : "") fr; kept++
  }
  sum[key] += bytes; total += bytes
}
END {
  printf "%8.1f B per connection in all (%d connections)\n", total / n, n
  for (k in sum) printf "%8.1f  %s\n", sum[k] / n, substr(k, 1, 200) | "sort -rn | head -25"
}' "$out.stacks"
