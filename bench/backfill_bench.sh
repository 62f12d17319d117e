#!/usr/bin/env bash
# Measures a backfill against the simulator (docs/backfill.md, "Cost"): file size, samples,
# wall time and peak memory of `--backfill.since`, then (unless NO_PROMTOOL=1) the time of
# `promtool tsdb create-blocks-from openmetrics`.
#
#   bench/backfill_bench.sh [PIPELINES=10] [SINCE=30d] [STEP=5m]
#   BUILD=build bench/backfill_bench.sh 1000 30d 24h   # the reading alone, small file
set -euo pipefail
cd "$(dirname "$0")/.."
PIPELINES=${1:-10}
SINCE=${2:-30d}
STEP=${3:-5m}
BUILD=${BUILD:-build}
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
  state_dir: $WORK/state
discovery:
  include: ".*"
EOF
/usr/bin/time -f "backfill: %e s wall, %M KB max RSS" "$BUILD/exporter/yunxiao-flow-exporter" \
  --config.file="$WORK/config.yaml" --backfill.since="$SINCE" --backfill.step="$STEP" \
  --backfill.output="$WORK/out.om" 2>&1 | grep -E "backfill written|wall|pipelines, " | tail -3
ls -l "$WORK/out.om" "$WORK/state/run-ledger"
if [ "${NO_PROMTOOL:-0}" != 1 ]; then
  /usr/bin/time -f "promtool: %e s wall, %U s user, %M KB max RSS" promtool tsdb \
    create-blocks-from openmetrics --max-block-duration=24h -q "$WORK/out.om" "$WORK/data"
  du -sh "$WORK/data"
fi
