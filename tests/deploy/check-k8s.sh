#!/usr/bin/env bash
# Validates deploy/kubernetes offline (see k8s-validate.mjs for the details):
#  - every manifest against the Kubernetes / Prometheus Operator schemas (kubernetes-models)
#  - no unknown fields: tsc against the models' TypeScript types
#  - kustomizations build (kubectl kustomize if installed, else a built-in resolver) and
#    the built objects fit together (selectors, volumes, token file, probes, security
#    context, resources, ServiceMonitor, shards, PrometheusRule == alerts.yml)
#  - the ConfigMap's config.yaml, with the container's flags, passes the exporter's own
#    --config.check (when the exporter is built: $YFE_EXPORTER_BIN or build*/exporter/)
# Needs node and npm; npm packages are installed once from tests/deploy/package-lock.json.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_node_modules

work="$(mktemp -d "$DEPLOY_TESTS_DIR/.check-k8s.XXXXXX")"
trap 'rm -rf "$work"' EXIT

check "manifests match their schemas; kustomizations build; built objects are consistent" \
  node "$DEPLOY_TESTS_DIR/k8s-validate.mjs" "$REPO_ROOT/deploy/kubernetes" "$REPO_ROOT/deploy/prometheus/alerts.yml" "$work"

if [[ -f "$work/manifests.check.ts" ]]; then
  check "manifests have no unknown fields (tsc against kubernetes-models types)" \
    "$DEPLOY_TESTS_DIR/node_modules/.bin/tsc" -p "$work" --pretty false
else
  check "manifests have no unknown fields (tsc against kubernetes-models types)" false
fi

exporter_bin() {
  if [[ -n "${YFE_EXPORTER_BIN:-}" ]]; then echo "$YFE_EXPORTER_BIN"; return; fi
  ls -t "$REPO_ROOT"/build*/exporter/yunxiao-flow-exporter 2>/dev/null | head -n 1
}
bin="$(exporter_bin)"
config_check() {
  local build="$1" config="$work/$1.config.yaml"
  [[ -f "$config" ]] || { echo "no config.yaml extracted for $build"; return 1; }
  printf 'token-for-config-check\n' >"$work/token"
  # The token and state paths only exist in the pod: point them at local ones.
  sed -E -e "s#^(\s*token_file:).*#\1 $work/token#" -e "s#^(\s*state_dir:).*#\1 $work/state#" \
    "$config" >"$work/$build.local.yaml"
  # The container's own flags, with $(VAR) references (shard index) set to 0.
  local -a args=()
  while IFS= read -r arg; do
    case "$arg" in
      --config.file=*) args+=("--config.file=$work/$build.local.yaml") ;;
      "") ;;
      *) args+=("$(printf '%s' "$arg" | sed -E 's/\$\([A-Z_][A-Z0-9_]*\)/0/g')") ;;
    esac
  done <"$work/$build.args"
  echo "$bin --config.check ${args[*]}"
  "$bin" --config.check "${args[@]}"
}
if [[ -n "$bin" && -x "$bin" ]]; then
  while read -r build; do
    [[ -n "$build" ]] && check "exporter --config.check accepts the ConfigMap and flags of $build" config_check "$build"
  done <"$work/builds.txt"
else
  skip "exporter --config.check of the ConfigMaps" "exporter not built (set YFE_EXPORTER_BIN)"
fi

finish
