#!/usr/bin/env bash
# Builds flow-simulator (the Yunxiao Flow API stand-in) and runs it in the
# foreground with demo settings. Extra arguments are passed through and win
# over the defaults, e.g.:
#   scripts/run-simulator.sh --pipelines=50 --fault-429=0.05
#   BUILD_DIR=build-sim scripts/run-simulator.sh --clock=frozen:1732800000
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$BUILD_DIR" --target flow-simulator >&2

exec "$BUILD_DIR/simulator/flow-simulator" \
  --web.listen-address=127.0.0.1:9848 \
  --pipelines=12 \
  --run-duration=3m \
  --run-gap=1m \
  --fail-ratio=0.2 \
  --latency=30ms \
  --latency-jitter=20ms \
  "$@"
