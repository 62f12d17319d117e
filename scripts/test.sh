#!/usr/bin/env bash
# One command to install, build and run the whole test suite (docs/testing.md):
#   1. every test: unit, integration (real binaries over HTTP, real Prometheus, promtool) and
#      the deploy checks, in build/ (preset default: gcc, RelWithDebInfo)
#   2. the libFuzzer targets for a bounded time (preset asan: clang, ASan+UBSan)
#   3. unit tests under ASan+UBSan (build-asan/), then the integration tests (build/'s test
#      driver) against build-asan's exporter
#   4. the same under TSan (build-tsan/)
# tests/CMakeLists.txt labels the tests; the asan and tsan test presets choose by label.
# Each sanitizer build compiles at the lowest CPU priority (nice 19) while the previous
# phase's tests run: those mostly wait on processes and sockets, so the build takes the idle
# CPU without taking it from them.
# Environment: FUZZ_SECONDS (default 60), SKIP_SANITIZERS=1 for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
# Tests in flight: most integration tests wait on processes, sockets and timers, so four per
# core keep the CPU busy; the CPU-heavy and tightly timed ones take several slots each
# (tests/CMakeLists.txt, YFE_HEAVY_TESTS). TEST_PARALLEL overrides.
tests_parallel=${TEST_PARALLEL:-$((jobs * 4))}
# Against a sanitized exporter (several times slower) the rate-limit and deadline tests need
# more of the CPU: three per core.
sanitized_parallel=${TEST_PARALLEL:-$((jobs * 3))}
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
ctest --preset default --parallel "$tests_parallel"

if [[ "${SKIP_SANITIZERS:-0}" != "1" ]]; then
  finish_build asan
  start_build tsan
  phase "fuzz decode → translate → exposition for ${FUZZ_SECONDS:-60}s, then repo URLs"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" build-asan
  phase "unit tests under ASan+UBSan"
  ctest --preset asan --parallel "$tests_parallel"
  phase "integration tests against the ASan+UBSan exporter"
  ctest --preset asan-integration --parallel "$sanitized_parallel"

  finish_build tsan
  phase "unit tests under TSan"
  ctest --preset tsan --parallel "$tests_parallel"
  phase "integration tests against the TSan exporter"
  ctest --preset tsan-integration --parallel "$sanitized_parallel"
fi
phase "all tests passed"
