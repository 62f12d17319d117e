#!/usr/bin/env bash
# Generates base/prometheusrule.yaml (Prometheus Operator) from deploy/prometheus/alerts.yml,
# so the rules are written once. Run after editing alerts.yml:
#   deploy/kubernetes/base/generate-prometheusrule.sh            # rewrites prometheusrule.yaml
#   deploy/kubernetes/base/generate-prometheusrule.sh --stdout   # prints it (used by the checks)
# tests/deploy/check-rules.sh fails when the committed file is out of date.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
alerts="$here/../../prometheus/alerts.yml"
out="$here/prometheusrule.yaml"

render() {
  cat <<'HEADER'
# GENERATED from deploy/prometheus/alerts.yml by deploy/kubernetes/base/generate-prometheusrule.sh.
# Do not edit: change alerts.yml and run the script again.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: yunxiao-flow-exporter
  labels:
    app.kubernetes.io/name: yunxiao-flow-exporter
    app.kubernetes.io/component: alerting-rules
    # The Prometheus resource picks rules with its ruleSelector; kube-prometheus-stack's
    # default selects `release: <helm release name>`. Adjust to your installation.
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
else
  render >"$out"
  echo "wrote $out"
fi
