#!/usr/bin/env bash
# Configures (once) and builds one of the presets in CMakePresets.json.
# Usage: scripts/build.sh [PRESET|BUILD_DIR] [TARGET...]
#   default | build        gcc, RelWithDebInfo, into build/ (the default)
#   asan    | build-asan   clang, ASan+UBSan, libFuzzer targets, into build-asan/
#   tsan    | build-tsan   clang, TSan, into build-tsan/
#   any other directory    the default preset's settings, into that directory
# Without a target: everything (default) or what the sanitizer tests need (asan, tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
arg="${1:-default}"
shift || true
case "$arg" in
  default | build) preset=default dir=build ;;
  asan | build-asan) preset=asan dir=build-asan ;;
  tsan | build-tsan) preset=tsan dir=build-tsan ;;
  *) preset=default dir="$arg" ;;
esac
if [[ ! -f "$dir/build.ninja" ]]; then
  cmake --preset "$preset" -B "$dir" >/dev/null
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
if [[ "$dir" == "$arg" && "$preset" == default && "$dir" != build ]]; then
  cmake --build "$dir" --parallel "$(nproc)" "${targets[@]}"
else
  cmake --build --preset "$preset" --parallel "$(nproc)" "${targets[@]}"
fi
