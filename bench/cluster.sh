#!/usr/bin/env bash
# Runs one benchmark against N freshly started nodes on one fresh PostgreSQL database and
# (unless --no-redis) the machine's Redis, and keeps the report in bench/results/NAME.txt
# (and .json: the generator's report plus a "bench" object with the bus and machine figures).
#   bench/cluster.sh NAME NODES [--no-redis] [server flags] -- generator args...
# Examples:
#   bench/cluster.sh c3-3k 3 -- broadcast --viewers 3000 --approvals-per-sec 20 --duration 20
#   bench/cluster.sh c1-3k-noredis 1 --no-redis -- broadcast --viewers 3000 --approvals-per-sec 20 --duration 20
# What it does, each run from scratch:
#   - createdb minsheng_bench_<name>_<pid> on 127.0.0.1:5432 (user postgres; PGHOST/PGPORT/PGUSER
#     override), `minsheng migrate`; dropped at the end;
#   - node 0 runs `serve --demo` (the demo data and accounts, loaded before it listens); only when it
#     answers /readyz do nodes 1..N-1 start, without --demo, so the demo is seeded exactly once;
#   - every node gets --redis-url (MINSHENG_BENCH_REDIS, default redis://127.0.0.1:6379) and a
#     --redis-prefix of its own (minsheng-bench-<db>); the Redis is never flushed or restarted, only
#     this prefix's keys are deleted at the end;
#   - a `redis-cli SUBSCRIBE` on the cluster's channel counts every bus message and its bytes;
#     the CPU time of redis-server and of all postgres processes is read from /proc before and
#     after the generator (machine-wide: other users of the same Redis/PostgreSQL count too);
#   - the generator gets every node's URL (--url a,b,c) and pid (--server-pid p,q,r), the
#     moderator on node 0 unless the generator args say --moderator-node;
#   - load average before and after; every process started here is killed at the end.
# MINSHENG_BIN and MINSHENG_LOAD_BIN choose the binaries (default: $CARGO_TARGET_DIR/release/…,
# else ./target/release/…).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 nodes=$2
shift 2
redis=1
server_flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  if [ "$1" = "--no-redis" ]; then redis=0; else server_flags+=("$1"); fi
  shift
done
[ "${1:-}" = "--" ] && shift
[ "$nodes" -ge 1 ] || { echo "NODES must be at least 1" >&2; exit 1; }
[ "$redis" = 1 ] || [ "$nodes" = 1 ] || { echo "--no-redis runs one node only" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
# The load generator opens every connection from 127.0.0.1: lift the per-address cap (the
# total stays held to `ulimit -n`). Flags given to the script still win over these.
export MINSHENG_MAX_CONNECTIONS_PER_ADDRESS=${MINSHENG_MAX_CONNECTIONS_PER_ADDRESS:-1000000}
export MINSHENG_MAX_CONNECTIONS=${MINSHENG_MAX_CONNECTIONS:-1000000}
mkdir -p bench/results
out=bench/results/$name
target=${CARGO_TARGET_DIR:-./target}
server_bin=${MINSHENG_BIN:-$target/release/minsheng}
load_bin=${MINSHENG_LOAD_BIN:-$target/release/minsheng-load}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
redis_url=${MINSHENG_BENCH_REDIS:-redis://127.0.0.1:6379}
redis_host=$(sed -E 's#^redis://([^:/]+).*#\1#' <<<"$redis_url")
redis_port=$(sed -E 's#^redis://[^:/]+:?([0-9]*).*#\1#' <<<"$redis_url")
redis_port=${redis_port:-6379}
db=minsheng_bench_$(tr -c 'a-zA-Z0-9\n' _ <<<"$name" | tr 'A-Z' 'a-z')_$$
prefix=minsheng-bench-$db
channel=$prefix:rooms
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db"
unset MINSHENG_REDIS_URL
# The generator opens every viewer socket, and votes with every token, from
# 127.0.0.1: lift the per-address caps (the flags on the command line still win).
export MINSHENG_VIEWER_SOCKETS_PER_ADDRESS="${MINSHENG_VIEWER_SOCKETS_PER_ADDRESS:-0}"
export MINSHENG_VOTES_PER_ADDRESS="${MINSHENG_VOTES_PER_ADDRESS:-0}"
# The generator does not verify numbers: the demo rooms are `open`; every node shares one identity secret.
export MINSHENG_DEMO_IDENTITY="${MINSHENG_DEMO_IDENTITY:-open}"
export MINSHENG_IDENTITY_SECRET="${MINSHENG_IDENTITY_SECRET:-bench-cluster-identity-secret-0123456789abcdef}"

pids=()
sub=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$sub" ] && kill "$sub" 2>/dev/null || true
  for p in "${pids[@]}" $sub; do wait "$p" 2>/dev/null || true; done
  if [ "$redis" = 1 ]; then
    redis-cli -h "$redis_host" -p "$redis_port" --scan --pattern "$prefix:*" |
      xargs -r redis-cli -h "$redis_host" -p "$redis_port" del >/dev/null || true
  fi
  dropdb --if-exists "$db" 2>/dev/null || true
}
trap cleanup EXIT

# CPU ticks (utime + stime) of processes by name, summed.
ticks_of() {
  local total=0 p f
  for p in $(pgrep -x "$1" || true); do
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# CPU ticks of the given pids, summed.
ticks_pids() {
  local total=0 p f
  for p in "$@"; do
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}
# CPU seconds of this shell's waited-for children (the generator): `times` runs in this shell
# (in a $(...) subshell it would count the subshell's children), then its output is read.
children_secs() {
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$out.times"
}
# Busy CPU ticks of the whole machine (every core; user nice system irq softirq steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

createdb "$db"
"$server_bin" migrate >/dev/null
redis_flags=()
[ "$redis" = 1 ] && redis_flags=(--redis-url "$redis_url" --redis-prefix "$prefix")
urls=() node_pids=()
start_node() { # index, extra flags...
  local k=$1
  shift
  "$server_bin" serve "$@" --listen 127.0.0.1:0 --print-addr "${redis_flags[@]}" "${server_flags[@]}" \
    >"$out.node$k.out" 2>"$out.node$k.log" &
  pids+=($!)
  node_pids+=($!)
  local addr=
  for _ in $(seq 300); do
    addr=$(sed -n 's/^listening on //p' "$out.node$k.out" | head -1)
    [ -n "$addr" ] && curl -sf "http://$addr/readyz" >/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "node $k exited:" >&2; tail "$out.node$k.log" >&2; exit 1; }
    sleep 0.2
  done
  [ -n "$addr" ] || { echo "node $k did not start" >&2; exit 1; }
  urls+=("http://$addr")
}
start_node 0 --demo
for k in $(seq 1 $((nodes - 1))); do start_node "$k"; done
sleep 2 # let the demo's password hashing settle before the idle memory sample

if [ "$redis" = 1 ]; then
  redis-cli -h "$redis_host" -p "$redis_port" --raw SUBSCRIBE "$channel" >"$out.bus" 2>/dev/null &
  sub=$!
  sleep 0.3
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
redis_t0=$(ticks_of redis-server) pg_t0=$(ticks_of postgres) m_t0=$(machine_ticks) n_t0=$(ticks_pids "${node_pids[@]}") t0=$(date +%s.%N)
times >"$out.times"
c_t0=$(children_secs)
gen_status=0
"$load_bin" --url "$(IFS=,; echo "${urls[*]}")" --server-pid "$(IFS=,; echo "${node_pids[*]}")" -q --json "$@" \
  >"$out.gen.json" 2>"$out.txt" || gen_status=$?
redis_t1=$(ticks_of redis-server) pg_t1=$(ticks_of postgres) m_t1=$(machine_ticks) n_t1=$(ticks_pids "${node_pids[@]}") t1=$(date +%s.%N)
times >"$out.times"
c_t1=$(children_secs)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$gen_status" = 0 ] || echo "generator exit $gen_status" >>"$out.txt"
sleep 0.5
[ -n "$sub" ] && kill "$sub" 2>/dev/null && wait "$sub" 2>/dev/null || true
sub=

# Bus messages: redis-cli --raw prints message / channel / payload, one per line.
bus_msgs=0 bus_bytes=0 bus_kinds={}
if [ "$redis" = 1 ] && [ -s "$out.bus" ]; then
  read -r bus_msgs bus_bytes bus_kinds < <(awk -v ch="$channel" '
    prev2 == "message" && prev1 == ch {
      n++; b += length($0); k = "?"
      if (match($0, /"kind":"[a-z_]+"/)) k = substr($0, RSTART + 8, RLENGTH - 9)
      kinds[k]++; bytes[k] += length($0)
    }
    { prev2 = prev1; prev1 = $0 }
    END {
      j = ""
      for (k in kinds) j = j (j == "" ? "" : ",") "\"" k "\":{\"messages\":" kinds[k] ",\"bytes\":" bytes[k] "}"
      printf "%d %d {%s}\n", n, b, j
    }' "$out.bus")
fi
secs=$(echo "$t1 - $t0" | bc -l)
redis_cores=$(echo "($redis_t1 - $redis_t0) / 100 / $secs" | bc -l)
pg_cores=$(echo "($pg_t1 - $pg_t0) / 100 / $secs" | bc -l)
machine_cores=$(echo "($m_t1 - $m_t0) / 100 / $secs" | bc -l)
nodes_cores=$(echo "($n_t1 - $n_t0) / 100 / $secs" | bc -l)
gen_cores=$(echo "($c_t1 - $c_t0) / $secs" | bc -l)
others_cores=$(echo "$machine_cores - $nodes_cores - $gen_cores - $redis_cores - $pg_cores" | bc -l)
bus_warnings=$(cat "$out".node*.log | grep -c 'bus:.*\(dropped\|failed\|unreachable\|lost\)' || true)
{
  echo "-- bench/cluster.sh: $nodes node(s), $([ "$redis" = 1 ] && echo "Redis $redis_url prefix $prefix" || echo "no Redis"), PostgreSQL database $db"
  echo "load average    before $load_before, after $load_after"
  printf "window          %.1f s (the generator's whole run)\n" "$secs"
  if [ "$redis" = 1 ]; then
    echo "bus messages    $bus_msgs on $channel, $bus_bytes payload bytes; by kind (messages, payload bytes) $bus_kinds; node log lines about dropped/failed bus messages: $bus_warnings"
  fi
  printf "redis-server    %.3f cores; postgres (all processes) %.3f cores (machine-wide, over the window)\n" \
    "$redis_cores" "$pg_cores"
  printf "machine         %.2f of %d cores busy over the window: nodes %.2f, generator %.2f, redis-server %.2f, postgres %.2f, everything else %.2f\n" \
    "$machine_cores" "$(nproc)" "$nodes_cores" "$gen_cores" "$redis_cores" "$pg_cores" "$others_cores"
} >>"$out.txt"
jq --arg nodes "$nodes" --arg redis "$redis" --arg load_before "$load_before" --arg load_after "$load_after" \
  --argjson secs "$secs" --argjson bus_msgs "$bus_msgs" --argjson bus_bytes "$bus_bytes" \
  --argjson bus_kinds "$bus_kinds" \
  --argjson bus_warnings "$bus_warnings" \
  --argjson redis_cores "$(printf %.4f "$redis_cores")" --argjson pg_cores "$(printf %.4f "$pg_cores")" \
  --argjson machine_cores "$(printf %.4f "$machine_cores")" --argjson nodes_cores "$(printf %.4f "$nodes_cores")" \
  --argjson gen_cores "$(printf %.4f "$gen_cores")" --argjson others_cores "$(printf %.4f "$others_cores")" \
  '. + {bench: {nodes: ($nodes | tonumber), redis: ($redis == "1"), load_before: $load_before,
     load_after: $load_after, window_secs: $secs, bus_messages: $bus_msgs, bus_payload_bytes: $bus_bytes,
     bus_by_kind: $bus_kinds, bus_warning_lines: $bus_warnings,
     redis_server_cores: $redis_cores, postgres_cores: $pg_cores, machine_busy_cores: $machine_cores,
     window_nodes_cores: $nodes_cores, window_generator_cores: $gen_cores, window_others_cores: $others_cores}}' \
  "$out.gen.json" >"$out.json" 2>/dev/null || cp "$out.gen.json" "$out.json"
rm -f "$out.gen.json" "$out.bus" "$out.times" "$out".node*.out
cat "$out.txt"
