#!/usr/bin/env bash
# The opinion search on 1,000,000 opinions, on SQLite and PostgreSQL: the
# trigram index (migration 0019) against the LIKE scan it replaced, for
# queries of 1 to 6 characters; median and p95 per query. Keeps the report in
# bench/results/NAME.txt. Not part of the test suite; about 10 to 15 minutes on
# the 2-core development machine with the defaults (20 runs per query now, 10
# of the old scan, which takes seconds a run on SQLite).
#   bench/search.sh NAME [--rows N] [--runs N] [--runs-before N] [--backend sqlite|postgres|both] [--postgres URL]
# PostgreSQL: a schema search_bench_PID is made on the server (default
# postgres://postgres@127.0.0.1:5432/test) and dropped afterwards; pg_trgm is
# created in its `public` schema if it is not there yet. SQLite: a file in
# $TMPDIR, removed afterwards. The program is examples/search_bench.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
mkdir -p bench/results
cargo build --release --locked --example search_bench
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src migrations examples || echo ' (with local changes)')"
  echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "wall %e s, max RSS %M KiB" "${CARGO_TARGET_DIR:-target}/release/examples/search_bench" "$@"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "bench/results/$name.txt"
