#!/usr/bin/env bash
# One command to install, build and run the whole test suite (docs/testing.md):
#   1. every test: unit, integration (real binaries over HTTP, real Prometheus, promtool) and
#      the deploy checks, in build/ (preset default: gcc, RelWithDebInfo)
#   2. the libFuzzer targets for a bounded time (preset asan: clang, ASan+UBSan)
#   3. unit and integration tests under ASan+UBSan (build-asan/)
#   4. unit and integration tests under TSan (build-tsan/)
# tests/CMakeLists.txt labels the tests; the asan and tsan test presets choose by label.
# Each sanitizer build compiles at the lowest CPU priority (nice 19) while the previous
# phase's tests run: those mostly wait on processes and sockets, so the build takes the idle
# CPU without taking it from them.
# Environment: FUZZ_SECONDS (default 60), SKIP_SANITIZERS=1 for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
phase() { echo; echo "=== $* ($(date +%T))"; }

# A background build: its own process group (so it can be stopped), its output in a file.
bg_pid=""
bg_log="$(mktemp)"
trap '[[ -n "$bg_pid" ]] && kill -- "-$bg_pid" 2>/dev/null; rm -f "$bg_log"' EXIT
start_build() {
  setsid -w bash -c "time nice -n 19 scripts/build.sh $1" >"$bg_log" 2>&1 &
  bg_pid=$!
}
finish_build() {
  phase "build ($1) finishing"
  local status=0
  wait "$bg_pid" || status=$?
  bg_pid=""
  if [[ $status -ne 0 ]]; then
    cat "$bg_log"
    exit "$status"
  fi
  grep -v '^\[' "$bg_log" | grep -v '^$' || true
}

phase "build (gcc)"
time scripts/build.sh default
if [[ "${SKIP_SANITIZERS:-0}" != "1" ]]; then
  start_build asan
fi
phase "tests: unit, integration, deploy"
ctest --preset default --parallel "$jobs"

if [[ "${SKIP_SANITIZERS:-0}" != "1" ]]; then
  finish_build asan
  start_build tsan
  phase "fuzz decode → translate → exposition for ${FUZZ_SECONDS:-60}s, then repo URLs"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" build-asan
  phase "tests under ASan+UBSan"
  ctest --preset asan --parallel "$jobs"

  finish_build tsan
  phase "tests under TSan"
  ctest --preset tsan --parallel "$jobs"
fi
phase "all tests passed"
