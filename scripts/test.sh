#!/usr/bin/env bash
# One command to install, build and run the whole test suite (docs/testing.md):
#   1. every test: unit, integration (real binaries over HTTP, real Prometheus, promtool) and
#      the deploy checks, in build/ (preset default: gcc, RelWithDebInfo)
#   2. the libFuzzer targets for a bounded time (preset asan: clang, ASan+UBSan)
#   3. the tests labelled asan under ASan+UBSan (build-asan/)
#   4. the tests labelled tsan under TSan (build-tsan/)
# tests/CMakeLists.txt says which tests carry which label, and why.
# Environment: FUZZ_SECONDS (default 60), SKIP_SANITIZERS=1 for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
phase() { echo; echo "=== $* ($(date +%T))"; }

phase "build (gcc)"
time scripts/build.sh default
phase "tests: unit, integration, deploy"
ctest --preset default --parallel "$jobs"

if [[ "${SKIP_SANITIZERS:-0}" != "1" ]]; then
  phase "build (clang, ASan+UBSan, fuzzer)"
  time scripts/build.sh asan
  phase "fuzz decode → translate → exposition for ${FUZZ_SECONDS:-60}s, then repo URLs"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" build-asan
  phase "tests under ASan+UBSan"
  ctest --preset asan --parallel "$jobs"

  phase "build (clang, TSan)"
  time scripts/build.sh tsan
  phase "tests under TSan"
  ctest --preset tsan --parallel "$jobs"
fi
phase "all tests passed"
