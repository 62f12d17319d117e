#!/usr/bin/env bash
# One command to install, build and run the whole test suite:
#   1. unit, integration (real binaries over HTTP, real Prometheus, promtool) and deploy
#      checks, in build/ (gcc, RelWithDebInfo)
#   2. the libFuzzer target for a bounded time (clang, ASan+UBSan)
#   3. unit and integration tests under ASan+UBSan (build-asan/, clang)
#   4. unit and integration tests under TSan (build-tsan/, clang)
# Environment: FUZZ_SECONDS (default 60), SKIP_SANITIZERS=1 for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CTEST_OUTPUT_ON_FAILURE=1
scripts/install-deps.sh test
jobs=$(nproc)
phase() { echo; echo "=== $* ($(date +%T))"; }

phase "build (gcc)"
scripts/build.sh build
phase "tests: unit, integration, deploy"
ctest --test-dir build --parallel "$jobs" --timeout 300

if [[ "${SKIP_SANITIZERS:-0}" != "1" ]]; then
  san_targets=(yunxiao-flow-exporter flow-simulator unit_tests integration_tests)
  phase "build (clang, ASan+UBSan, fuzzer)"
  if [[ ! -f build-asan/build.ninja ]]; then
    CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
      -DYFE_SANITIZE=address -DYFE_FUZZ=ON >/dev/null
  fi
  cmake --build build-asan --parallel "$jobs" --target "${san_targets[@]}" decode_fuzz \
    repo_url_fuzz
  phase "fuzz decode → translate → exposition for ${FUZZ_SECONDS:-60}s, then repo URLs"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" build-asan
  phase "tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp" \
    ctest --test-dir build-asan --parallel "$jobs" --timeout 300 -L "unit|integration"

  phase "build (clang, TSan)"
  if [[ ! -f build-tsan/build.ninja ]]; then
    CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
      -DYFE_SANITIZE=thread >/dev/null
  fi
  cmake --build build-tsan --parallel "$jobs" --target "${san_targets[@]}"
  phase "tests under TSan"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan --parallel "$jobs" --timeout 300 -L "unit|integration"
fi
phase "all tests passed"
