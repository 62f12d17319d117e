#!/usr/bin/env bash
# Checks deploy/prometheus and the PrometheusRule generated from it:
#  - promtool check rules alerts.yml, promtool test rules alerts_test.yml; the same for
#    delivery.rules.yml / delivery.rules_test.yml (DORA recording rules) and
#    delivery.alerts_test.yml (its alerts)
#  - promtool check config on prometheus.yml and prometheus.compose.yml
#  - rules-lint.mjs: severity/for/annotations/links, known metric names, every alert
#    tested firing and not firing, scrape interval/timeout and organization_id label
#  - deploy/kubernetes/base/prometheusrule.yaml is exactly what
#    generate-prometheusrule.sh makes from alerts.yml, and its spec passes promtool
# Needs promtool (apt-get install prometheus) and node; npm packages are installed once
# from tests/deploy/package-lock.json.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

prom="$REPO_ROOT/deploy/prometheus"
rule_yaml="$REPO_ROOT/deploy/kubernetes/base/prometheusrule.yaml"
generator="$REPO_ROOT/deploy/kubernetes/base/generate-prometheusrule.sh"
require_tool promtool "apt-get install prometheus"
ensure_node_modules

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

check "promtool check rules alerts.yml" promtool check rules "$prom/alerts.yml"
check "promtool test rules alerts_test.yml (every alert firing and not firing)" promtool test rules "$prom/alerts_test.yml"
check "promtool check rules delivery.rules.yml" promtool check rules "$prom/delivery.rules.yml"
check "promtool test rules delivery.rules_test.yml (the four keys pinned on a scripted month)" promtool test rules "$prom/delivery.rules_test.yml"
check "promtool test rules delivery.alerts_test.yml (every delivery alert firing and not firing)" promtool test rules "$prom/delivery.alerts_test.yml"
check "delivery alerts: severity, for, annotations, pipeline links, metric names, test coverage" \
  node "$DEPLOY_TESTS_DIR/rules-lint.mjs" "$prom/delivery.rules.yml" "$prom/delivery.alerts_test.yml"
check "promtool check config prometheus.yml" promtool check config "$prom/prometheus.yml"
check "promtool check config prometheus.compose.yml" promtool check config "$prom/prometheus.compose.yml"
check "alerts: severity, for, annotations, pipeline links, metric names, test coverage; scrape configs" \
  node "$DEPLOY_TESTS_DIR/rules-lint.mjs" "$prom/alerts.yml" "$prom/alerts_test.yml" \
  "$prom/prometheus.yml" "$prom/prometheus.compose.yml"

prometheusrule_up_to_date() {
  "$generator" --stdout >"$work/expected.yaml" || return 1
  diff -u "$rule_yaml" "$work/expected.yaml" ||
    { echo "prometheusrule.yaml is stale: run deploy/kubernetes/base/generate-prometheusrule.sh"; return 1; }
}
check "kubernetes PrometheusRule is generated from alerts.yml and up to date" prometheusrule_up_to_date

delivery_rule_yaml="$REPO_ROOT/deploy/kubernetes/base/prometheusrule-delivery.yaml"
delivery_prometheusrule_up_to_date() {
  "$generator" --stdout delivery >"$work/expected-delivery.yaml" || return 1
  diff -u "$delivery_rule_yaml" "$work/expected-delivery.yaml" ||
    { echo "prometheusrule-delivery.yaml is stale: run deploy/kubernetes/base/generate-prometheusrule.sh"; return 1; }
}
check "kubernetes delivery PrometheusRule is generated from delivery.rules.yml and up to date" delivery_prometheusrule_up_to_date

prometheusrule_spec_valid() {
  # spec: holds the rule groups indented by two spaces.
  awk 'in_spec { sub(/^  /, ""); print } /^spec:/ { in_spec = 1 }' "$rule_yaml" >"$work/spec.yml"
  promtool check rules "$work/spec.yml"
}
check "kubernetes PrometheusRule spec passes promtool check rules" prometheusrule_spec_valid

finish
