#!/usr/bin/env bash
# Runs the decode → translate → exposition fuzzer for a bounded time, then the repository
# URL credential-stripping fuzzer for REPO_URL_FUZZ_SECONDS (default: a third of SECONDS).
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]
# A crash input is saved under tests/fuzz/findings/; commit it to tests/fuzz/corpus/ as a
# regression case once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
dir="${2:-build-asan}"
if [[ ! -x "$dir/tests/fuzz/decode_fuzz" || ! -x "$dir/tests/fuzz/repo_url_fuzz" ]]; then
  [[ -f "$dir/build.ninja" ]] || cmake --preset asan -B "$dir" >/dev/null
  cmake --build "$dir" --target decode_fuzz repo_url_fuzz
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p tests/fuzz/findings
cp tests/fuzz/corpus/* "$work/"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp" \
  "$dir/tests/fuzz/decode_fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix=tests/fuzz/findings/ -print_final_stats=1 \
  "$work" 2>&1 | tail -n 25
echo "fuzz: no finding in ${seconds}s"
url_seconds="${REPO_URL_FUZZ_SECONDS:-$(( (seconds + 2) / 3 ))}"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp" \
  "$dir/tests/fuzz/repo_url_fuzz" -max_total_time="$url_seconds" -max_len=512 -timeout=10 \
  -rss_limit_mb=1024 -artifact_prefix=tests/fuzz/findings/repo_url- -print_final_stats=1 \
  2>&1 | tail -n 12
echo "fuzz (repo URL credentials): no finding in ${url_seconds}s"
