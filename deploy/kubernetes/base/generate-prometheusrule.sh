#!/usr/bin/env bash
# Generates base/prometheusrule.yaml (Prometheus Operator) from deploy/prometheus/alerts.yml,
# and base/prometheusrule-delivery.yaml from deploy/prometheus/delivery.rules.yml, so the
# rules are written once. Run after editing either:
#   deploy/kubernetes/base/generate-prometheusrule.sh                   # rewrites both
#   deploy/kubernetes/base/generate-prometheusrule.sh --stdout          # prints prometheusrule.yaml
#   deploy/kubernetes/base/generate-prometheusrule.sh --stdout delivery # prints the delivery one
# tests/deploy/check-rules.sh fails when the committed file is out of date.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
alerts="$here/../../prometheus/alerts.yml"
out="$here/prometheusrule.yaml"
name=yunxiao-flow-exporter
source_name=alerts.yml
if [[ "${2:-${1:-}}" == "delivery" ]]; then
  alerts="$here/../../prometheus/delivery.rules.yml"
  out="$here/prometheusrule-delivery.yaml"
  name=yunxiao-flow-exporter-delivery
  source_name=delivery.rules.yml
fi

render() {
  cat <<HEADER
# GENERATED from deploy/prometheus/$source_name by deploy/kubernetes/base/generate-prometheusrule.sh.
# Do not edit: change $source_name and run the script again.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: $name
  labels:
    app.kubernetes.io/name: yunxiao-flow-exporter
    app.kubernetes.io/component: alerting-rules
    # The Prometheus resource picks rules with its ruleSelector; kube-prometheus-stack's
    # default selects \`release: <helm release name>\`. Adjust to your installation.
    release: prometheus
spec:
HEADER
  # Everything from the top-level `groups:` key on, indented under spec.
  awk 'found || /^groups:/ { found = 1; if ($0 == "") print ""; else print "  " $0 }' "$alerts"
}

if ! grep -q '^groups:' "$alerts"; then
  echo "generate-prometheusrule: no top-level 'groups:' in $alerts" >&2
  exit 1
fi
if [[ "${1:-}" == "--stdout" ]]; then
  render
elif [[ -z "${1:-}" ]]; then
  render >"$out"
  echo "wrote $out"
  "$0" delivery
else
  render >"$out"
  echo "wrote $out"
fi
