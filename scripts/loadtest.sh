#!/usr/bin/env bash
# Load test of /metrics served from the cache (not part of the test suite).
#
# Starts the simulator and the exporter on 127.0.0.1 (ephemeral ports; PORT=... to fix the
# exporter's), waits for the start-up fetch, then runs wrk against /metrics and prints
# throughput, latency percentiles, errors, the upstream requests made meanwhile (0: the
# cache served everything) and the exporter's RSS before and after.
#
#   scripts/loadtest.sh                      # 30 s, 2 wrk threads, 32 connections
#   DURATION=60 CONNECTIONS=64 PIPELINES=200 scripts/loadtest.sh
#
# Environment: DURATION (s, 30), WARMUP (s of load before the RSS baseline, 5), THREADS (2),
# CONNECTIONS (32), PIPELINES (50), ENCODING (gzip, as Prometheus asks; "identity" for
# none), PORT (0), BUILD (build).
# Exit code 1 if a request failed, the exporter died or its RSS grew by more than
# MAX_RSS_GROWTH_KB (20480).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
PIPELINES=${PIPELINES:-50}
ENCODING=${ENCODING:-gzip}
PORT=${PORT:-0}
BUILD=${BUILD:-build}
MAX_RSS_GROWTH_KB=${MAX_RSS_GROWTH_KB:-20480}

exporter=$BUILD/exporter/yunxiao-flow-exporter
simulator=$BUILD/simulator/flow-simulator
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [[ ! -x $exporter || ! -x $simulator ]]; then
  cmake --build "$BUILD" --target yunxiao-flow-exporter flow-simulator
fi

work=$(mktemp -d)
sim_pid="" exp_pid=""
cleanup() {
  for pid in $exp_pid $sim_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $exp_pid $sim_pid; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits for a regular expression with one group (the port) in a file; prints the group.
wait_for() {
  local file=$1 regex=$2 pid=$3
  for _ in $(seq 1 300); do
    if [[ -f $file ]] && [[ $(cat "$file") =~ $regex ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "timed out waiting for /$regex/ in $file:" >&2
  cat "$file" >&2
  return 1
}

token=loadtest-token-$$
"$simulator" --web.listen-address=127.0.0.1:0 --pipelines="$PIPELINES" --token="$token" \
  --clock=frozen:1795000000 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
sim_port=$(wait_for "$work/sim.out" 'listening on 127\.0\.0\.1:([0-9]+)' "$sim_pid")

{
  echo "api:"
  echo "  endpoint: http://127.0.0.1:$sim_port"
  echo "  edition: region"
  echo "pipelines:"
  for i in $(seq 1 "$PIPELINES"); do echo "  - \"$((1000000 + i))\""; done
  echo "collect:"
  echo "  cache_ttl: 1h"
} >"$work/config.yaml"
YUNXIAO_TOKEN=$token "$exporter" --config.file="$work/config.yaml" \
  --web.listen-address="127.0.0.1:$PORT" >"$work/exp.out" 2>"$work/exp.err" &
exp_pid=$!
port=$(wait_for "$work/exp.out" 'listening on 127\.0\.0\.1:([0-9]+)' "$exp_pid")
wait_for "$work/exp.err" 'msg="first fetch done" pipelines=([0-9]+)' "$exp_pid" >/dev/null
url=http://127.0.0.1:$port/metrics

# Warm: every pipeline fetched and cached.
ok=$(curl -fsS "$url" | grep -c '^yunxiao_flow_fetch_success{.*} 1$' || true)
if [[ $ok != "$PIPELINES" ]]; then
  echo "only $ok of $PIPELINES pipelines were fetched; see $work/exp.err" >&2
  cat "$work/exp.err" >&2
  exit 1
fi
bytes=$(curl -fsS -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $ENCODING" "$url")

rss() { awk '/^VmRSS/ {print $2}' "/proc/$exp_pid/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$exp_pid/status"; }
upstream() { curl -fsS "http://127.0.0.1:$sim_port/-/sim/stats" | sed -E 's/.*"total":([0-9]+).*/\1/'; }

rss_start=$(rss)
# A short run first, so that the baseline includes the threads, buffers and allocator
# arenas any load needs: growth after it would be a leak.
if ((WARMUP > 0)); then
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "Accept-Encoding: $ENCODING" "$url" >/dev/null
fi
rss_before=$(rss)
upstream_before=$(upstream)
echo "wrk: $DURATION s, $THREADS threads, $CONNECTIONS connections, $url" \
  "($PIPELINES pipelines, $bytes bytes with Accept-Encoding: $ENCODING)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Accept-Encoding: $ENCODING" \
  "$url" | tee "$work/wrk.txt"
rss_after=$(rss)
upstream_after=$(upstream)
alive=yes
kill -0 "$exp_pid" 2>/dev/null || alive=no

rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk.txt")
socket_errors=$(grep -o 'Socket errors:.*' "$work/wrk.txt" || true)
growth=$((rss_after - rss_before))

echo
echo "=== summary"
echo "requests:            ${total:-0} in ${DURATION} s"
echo "throughput:          ${rps:-0} requests/s"
echo "latency p50 / p99:   ${p50:-?} / ${p99:-?}"
echo "non-2xx responses:   ${non2xx:-0}"
echo "socket errors:       ${socket_errors:-none}"
echo "upstream requests:   $((upstream_after - upstream_before)) during the run (cache hits only if 0)"
echo "exporter RSS:        ${rss_start} kB idle, ${rss_before} kB after a ${WARMUP} s warm-up," \
  "${rss_after} kB after the run (${growth} kB during the run)"
echo "exporter threads:    $(threads) after"
echo "exporter alive:      $alive"

status=0
if [[ $alive != yes ]]; then echo "FAIL: the exporter died" >&2; status=1; fi
if [[ -n ${non2xx:-} || -n $socket_errors ]]; then echo "FAIL: requests failed" >&2; status=1; fi
if ((growth > MAX_RSS_GROWTH_KB)); then
  echo "FAIL: RSS grew by $growth kB (> $MAX_RSS_GROWTH_KB)" >&2
  status=1
fi
exit $status
