# Shared helpers of the tests/deploy/check-*.sh scripts (sourced, not run).
#
#   check "what is verified" command args...   runs one check, counts it, shows its
#                                              output only when it fails
#   skip "what" "why"                          counts a check that cannot run here
#   finish                                     prints "N passed, M failed" and returns
#                                              non-zero if anything failed
#   ensure_node_modules                        `npm ci` into tests/deploy/node_modules
#                                              once (then everything runs offline)

DEPLOY_TESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEPLOY_TESTS_DIR/../.." && pwd)"
export DEPLOY_TESTS_DIR REPO_ROOT

_passed=0
_failed=0
_skipped=0
_failed_names=()

skip() {
  _skipped=$((_skipped + 1))
  printf 'skip %s: %s\n' "$1" "$2"
}

check() {
  local name="$1"
  shift
  local out start end rc
  start=$(date +%s.%N)
  out="$("$@" 2>&1)"
  rc=$?
  end=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 ]]; then
    _passed=$((_passed + 1))
    printf 'ok   %s (%ss)\n' "$name" "$secs"
  else
    _failed=$((_failed + 1))
    _failed_names+=("$name")
    printf 'FAIL %s (%ss, exit %d)\n' "$name" "$secs" "$rc"
    printf '%s\n' "$out" | sed 's/^/     | /'
  fi
}

finish() {
  local name
  for name in "${_failed_names[@]}"; do
    printf 'failed: %s\n' "$name"
  done
  if [[ $_skipped -gt 0 ]]; then
    printf '%d passed, %d failed, %d skipped\n' "$_passed" "$_failed" "$_skipped"
  else
    printf '%d passed, %d failed\n' "$_passed" "$_failed"
  fi
  [[ $_failed -eq 0 ]]
}

require_tool() {
  if ! command -v "$1" >/dev/null 2>&1; then
    printf 'FAIL %s is not installed (%s)\n' "$1" "$2"
    printf '0 passed, 1 failed\n'
    exit 1
  fi
}

# Installs the pinned npm packages (package-lock.json) when node_modules is missing or
# older than the lock file. Serialized with flock: ctest -j may start several checks.
ensure_node_modules() {
  require_tool node "apt-get install nodejs npm"
  require_tool npm "apt-get install npm"
  local lock="${TMPDIR:-/tmp}/yunxiao-flow-exporter-deploy-npm.lock"
  (
    flock -w 600 9 || { echo "timed out waiting for $lock" >&2; exit 1; }
    local marker="$DEPLOY_TESTS_DIR/node_modules/.package-lock.json"
    if [[ ! -f "$marker" || "$DEPLOY_TESTS_DIR/package-lock.json" -nt "$marker" ]]; then
      echo "installing npm packages into $DEPLOY_TESTS_DIR/node_modules (npm ci)"
      if ! npm ci --prefix "$DEPLOY_TESTS_DIR" --no-audit --no-fund --loglevel=error >&2; then
        echo "npm ci failed: the npm registry must be reachable once to install the pinned packages" >&2
        exit 1
      fi
      touch "$marker"
    fi
  ) 9>"$lock" || {
    printf 'FAIL npm ci in %s\n' "$DEPLOY_TESTS_DIR"
    printf '0 passed, 1 failed\n'
    exit 1
  }
}
