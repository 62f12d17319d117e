#!/usr/bin/env bash
# One command to install, build and run the exporter on :9847.
#
#   scripts/run.sh                       # demo: against the bundled Flow API simulator
#   CONFIG=my-config.yaml scripts/run.sh # real: your config (token from api.token_file or
#                                        # YUNXIAO_TOKEN)
#
# Without CONFIG (or with a config but no token), it starts the simulator on 127.0.0.1:9848
# with 12 pipelines and points the exporter at it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
scripts/build.sh build yunxiao-flow-exporter flow-simulator
exporter=build/exporter/yunxiao-flow-exporter
simulator=build/simulator/flow-simulator
listen="${LISTEN:-:9847}"

has_token() {
  [[ -n "${YUNXIAO_TOKEN:-}" ]] && return 0
  grep -Eq '^\s*(token_file|token):\s*\S' "$1" 2>/dev/null
}

if [[ -n "${CONFIG:-}" ]] && has_token "$CONFIG"; then
  echo "Exporter: http://localhost:${listen##*:}/metrics (config $CONFIG)"
  exec "$exporter" --config.file="$CONFIG" --web.listen-address="$listen" "$@"
fi

state="$(mktemp -d)"
"$simulator" --web.listen-address=127.0.0.1:9848 --pipelines="${PIPELINES:-12}" \
  --token=sim-token --organization-id=sim-org >"$state/simulator.out" 2>"$state/simulator.log" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$state/simulator.out" && break
  kill -0 $sim_pid 2>/dev/null || { cat "$state/simulator.log"; exit 1; }
  sleep 0.1
done
{
  echo "api:"
  echo "  endpoint: http://127.0.0.1:9848"
  echo "  edition: central"
  echo "  organization_id: sim-org"
  echo "collect:"
  echo "  cache_ttl: 15s"
  echo "  history: true"
  echo "discovery:"
  echo "  refresh_interval: 1m"
} >"$state/config.yaml"
echo "Flow API simulator: http://127.0.0.1:9848 (token sim-token)"
echo "Exporter: http://localhost:${listen##*:}/metrics"
YUNXIAO_TOKEN=sim-token "$exporter" --config.file="$state/config.yaml" \
  --web.listen-address="$listen" "$@"
