#!/usr/bin/env bash
# Measures a backfill against the simulator (docs/backfill.md, "Cost"): file size, samples,
# wall time and peak memory of `--backfill.since`, then (unless NO_PROMTOOL=1) the time of
# `promtool tsdb create-blocks-from openmetrics`.
#
#   bench/backfill_bench.sh [PIPELINES=10] [SINCE=30d] [STEP=5m]
#   BUILD=build bench/backfill_bench.sh 1000 30d 24h   # the reading alone, small file
#   JOBS=1 bench/backfill_bench.sh 100                 # with collect.job_history
#   CHUNK=1d bench/backfill_bench.sh 100               # one file a day, imported and deleted
#                                                      # in turn (--backfill.max-chunks-on-disk=2)
#
# With CHUNK, the import loop of docs/backfill.md runs alongside the backfill: promtool
# imports the first PROMTOOL_CHUNKS chunks (default 1; all: PROMTOOL_CHUNKS=999) and every
# chunk is deleted once done; the peak disk use of the output directory is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
PIPELINES=${1:-10}
SINCE=${2:-30d}
STEP=${3:-5m}
BUILD=${BUILD:-build}
JOBS=${JOBS:-0}
CHUNK=${CHUNK:-}
PROMTOOL_CHUNKS=${PROMTOOL_CHUNKS:-1}
WORK=$(mktemp -d)
trap 'kill "$SIM_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BUILD/simulator/flow-simulator" --web.listen-address=127.0.0.1:0 --pipelines="$PIPELINES" \
  --history=840h >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/sim.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$WORK/sim.out")
echo sim-token >"$WORK/token"
cat >"$WORK/config.yaml" <<EOF
api:
  endpoint: http://127.0.0.1:$PORT
  organization_id: sim-org
  token_file: $WORK/token
  max_requests_per_second: 5000
  rate_limit_burst: 1000
collect:
  history: true
  job_history: $([ "$JOBS" = 1 ] && echo true || echo false)
  state_dir: $WORK/state
discovery:
  include: ".*"
EOF
mkdir -p "$WORK/out"
ARGS=(--config.file="$WORK/config.yaml" --backfill.since="$SINCE" --backfill.step="$STEP"
  --backfill.output="$WORK/out/backfill.om")
if [ -z "$CHUNK" ]; then
  /usr/bin/time -f "backfill: %e s wall, %M KB max RSS" "$BUILD/exporter/yunxiao-flow-exporter" \
    "${ARGS[@]}" 2>&1 | grep -E "backfill written|wall|pipelines, " | tail -3
  ls -l "$WORK/out/backfill.om" "$WORK/state/run-ledger"
  if [ "${NO_PROMTOOL:-0}" != 1 ]; then
    /usr/bin/time -f "promtool: %e s wall, %U s user, %M KB max RSS" promtool tsdb \
      create-blocks-from openmetrics --max-block-duration=24h -q "$WORK/out/backfill.om" \
      "$WORK/data"
    du -sh "$WORK/data"
  fi
  exit 0
fi

# Chunks: the backfill in the background, the import loop here.
/usr/bin/time -f "backfill: %e s wall, %M KB max RSS" "$BUILD/exporter/yunxiao-flow-exporter" \
  "${ARGS[@]}" --backfill.chunk="$CHUNK" --backfill.max-chunks-on-disk=2 >"$WORK/bf.log" 2>&1 &
BACKFILL=$!
peak=0 chunks=0 total=0 largest=0 imported=0
while :; do
  alive=0
  kill -0 "$BACKFILL" 2>/dev/null && alive=1
  used=$(du -sb "$WORK/out" | cut -f1)
  [ "$used" -gt "$peak" ] && peak=$used
  for f in "$WORK"/out/backfill.[0-9]*.om; do
    [ -e "$f" ] || continue
    size=$(stat -c %s "$f")
    chunks=$((chunks + 1)) total=$((total + size))
    [ "$size" -gt "$largest" ] && largest=$size
    if [ "${NO_PROMTOOL:-0}" != 1 ] && [ "$imported" -lt "$PROMTOOL_CHUNKS" ]; then
      /usr/bin/time -f "promtool $(basename "$f") ($size bytes): %e s wall, %U s user, %M KB max RSS" \
        promtool tsdb create-blocks-from openmetrics --max-block-duration=24h -q "$f" "$WORK/data"
      imported=$((imported + 1))
    fi
    rm "$f"
  done
  [ "$alive" = 1 ] || break
  sleep 0.2
done
wait "$BACKFILL" || { cat "$WORK/bf.log"; exit 1; }
grep -E "backfill written|wall|pipelines, " "$WORK/bf.log" | tail -3
echo "chunks: $chunks, $total bytes in all, largest $largest bytes, peak disk of the output" \
  "directory $peak bytes"
ls -l "$WORK/state/run-ledger"
[ -d "$WORK/data" ] && du -sh "$WORK/data"
exit 0
