#!/usr/bin/env bash
# Peak memory of the server under a sign-in flood: N wrong sign-ins sent at
# once (no account needed), the server's peak RSS read from the kernel
# (/proc/PID/status VmHWM) once they are all answered.
#
# Usage: bench/login_flood.sh [BINARY] [N] [BUDGET] [TOTAL]
#   BINARY   the server (default target/debug/minsheng)
#   N        concurrent sign-ins (default 200)
#   BUDGET   --sign-ins-per-ip-per-min; give a huge one to see the hashing
#            gate alone, as a flood from many addresses would (default: the
#            server's default). Binaries without the flag ignore it.
#   TOTAL    sign-ins in all, N at a time (default N: one wave)
#
# A watchdog kills the server past CAP_MIB (default 8192) of RSS so that the
# old server cannot take the machine down; the report then says so.
set -euo pipefail
bin=${1:-target/debug/minsheng}
n=${2:-200}
budget=${3:-}
total=${4:-$n}
cap_mib=${CAP_MIB:-8192}

dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
if [ -n "$budget" ]; then export MINSHENG_SIGN_INS_PER_IP_PER_MIN=$budget; fi
DATABASE_URL="sqlite://$dir/flood.db" MINSHENG_LOG=warn \
  "$bin" serve --listen 127.0.0.1:0 --print-addr >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 600); do grep -q '^listening on ' "$dir/out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$dir/out")
[ -n "$addr" ] || { echo "the server did not start"; cat "$dir/err"; exit 1; }
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
idle=$(kib VmRSS)

# The watchdog: sample RSS every 50 ms, kill the server past the cap.
(
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    if [ "${rss:-0}" -gt $((cap_mib * 1024)) ]; then
      echo "killed" >"$dir/killed"; kill -9 "$pid"; break
    fi
    sleep 0.05
  done
) &
watchdog=$!

start=$(date +%s.%N)
seq "$total" | xargs -P "$n" -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 \
  -H 'content-type: application/json' \
  -d '{"username":"nobody","password":"not the password"}' \
  "http://$addr/api/auth/login" >"$dir/codes" || true
end=$(date +%s.%N)

if [ -f "$dir/killed" ]; then
  echo "server killed by the watchdog past ${cap_mib} MiB RSS"
  peak="> ${cap_mib} MiB"
else
  peak="$(( $(kib VmHWM) / 1024 )) MiB"
fi
kill "$watchdog" 2>/dev/null || true
echo "binary:        $bin"
echo "sign-ins:      $total, $n at a time, budget per address: ${budget:-default}"
echo "idle RSS:      $(( idle / 1024 )) MiB"
echo "peak RSS:      $peak (VmHWM)"
printf 'all answered:  %.1f s\n' "$(echo "$end - $start" | bc)"
echo "answers:       $(sort "$dir/codes" | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')"
