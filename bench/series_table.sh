#!/bin/sh
# series_table.sh: series per pipeline for each collect.* choice (docs/scaling.md), measured
# with the real exporter against the simulator (P pipelines, 5 stages x 4 jobs).
#   bench/series_table.sh [build-dir] [pipelines]
set -eu
build=${1:-build}
P=${2:-100}
tmp=$(mktemp -d)
trap 'kill $sim 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$build/simulator/flow-simulator" --web.listen-address=127.0.0.1:0 --pipelines="$P" \
  --stages=5 --jobs-per-stage=4 --clock=frozen:1795000000 --token=sim-token-5f7c2a91 \
  >"$tmp/sim.log" 2>&1 &
sim=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/sim.log" && break; sleep 0.1; done
sport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/sim.log" | head -1)
echo "| stages | jobs | sparse_status | history | series per pipeline | samples at 1,000 | samples at 10,000 | text bytes per pipeline |"
echo "|---|---|---|---|---|---|---|---|"
for history in false true; do
for sparse in true false; do
for stages in true false; do
for jobs in true false; do
  [ "$stages" = false ] && [ "$jobs" = true ] && continue  # jobs belong to stages
  cat >"$tmp/c.yaml" <<YAML
api:
  endpoint: http://127.0.0.1:$sport
  edition: central
  organization_id: sim-org
  max_requests_per_second: 100000
  rate_limit_burst: 1000
collect:
  stages: $stages
  jobs: $jobs
  sparse_status: $sparse
  history: $history
discovery:
  refresh_interval: 1h
YAML
  YUNXIAO_TOKEN=sim-token-5f7c2a91 "$build/exporter/yunxiao-flow-exporter" \
    --config.file="$tmp/c.yaml" --web.listen-address=127.0.0.1:0 >"$tmp/e.log" 2>&1 &
  exp=$!
  for _ in $(seq 300); do grep -q 'msg="first fetch done"' "$tmp/e.log" && break; sleep 0.1; done
  [ "$history" = true ] && sleep 3  # the first history poll
  eport=$(sed -n 's/.*msg=listening address=127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/e.log" | head -1)
  curl -sf -H 'Accept-Encoding: identity' "http://127.0.0.1:$eport/metrics" >"$tmp/m.txt"
  kill $exp; wait $exp 2>/dev/null || true
  n=$(grep -c 'pipeline_id="' "$tmp/m.txt" || true)
  b=$(grep 'pipeline_id="' "$tmp/m.txt" | wc -c)
  per=$(awk -v n="$n" -v p="$P" 'BEGIN{printf "%.1f", n/p}')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$stages" "$jobs" "$sparse" "$history" \
    "$per" "$(awk -v x="$per" 'BEGIN{printf "%d", x*1000}')" \
    "$(awk -v x="$per" 'BEGIN{printf "%d", x*10000}')" "$((b / P))"
done; done; done; done
