#!/usr/bin/env bash
# Checks the docker-compose demo offline (see compose-validate.mjs):
#  - deploy/docker-compose.yml against the Compose specification's JSON schema, mounted
#    files and secrets exist, services wired together (exporter -> simulator address,
#    organization and token; Prometheus -> exporter), ports bound to 127.0.0.1
#  - promtool check config on the Prometheus config compose mounts
#  - the exporter's own --config.check accepts deploy/compose/config.yaml (when built)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool promtool "apt-get install prometheus"
ensure_node_modules

compose="$REPO_ROOT/deploy/docker-compose.yml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

validate() {
  node "$DEPLOY_TESTS_DIR/compose-validate.mjs" "$compose" | tee "$work/out.txt"
  [[ ${PIPESTATUS[0]} -eq 0 ]]
}
check "docker-compose.yml matches the compose spec; files, secrets and services fit together" validate

prom_config() {
  local file
  file="$(sed -n 's/^PROMETHEUS_CONFIG=//p' "$work/out.txt")"
  [[ -n "$file" ]] || { echo "compose-validate.mjs found no Prometheus config"; return 1; }
  promtool check config "$file"
}
check "promtool check config on the compose Prometheus config" prom_config

bin="${YFE_EXPORTER_BIN:-$(ls -t "$REPO_ROOT"/build*/exporter/yunxiao-flow-exporter 2>/dev/null | head -n 1)}"
config_check() {
  printf 'demo-token\n' >"$work/token"
  sed -E -e "s#^(\s*token_file:).*#\1 $work/token#" -e "s#^(\s*state_dir:).*#\1 $work/state#" \
    "$REPO_ROOT/deploy/compose/config.yaml" >"$work/config.yaml"
  "$bin" --config.check "--config.file=$work/config.yaml"
}
if [[ -n "$bin" && -x "$bin" ]]; then
  check "exporter --config.check accepts deploy/compose/config.yaml" config_check
else
  skip "exporter --config.check of deploy/compose/config.yaml" "exporter not built (set YFE_EXPORTER_BIN)"
fi

finish
