#!/usr/bin/env bash
# Checks deploy/grafana/dashboard.json and the Grafana provisioning files:
#  1. the dashboard's structure (ids, grid, datasource variable, defined variables, known
#     metric names) and every PromQL query, with Grafana variables replaced by sample
#     values, through `promtool check rules` (as recording rules);
#  2. the JSON type-checks against @grafana/schema with tsc (dashboard, panel options and
#     field configs of each panel plugin, override values, Prometheus queries);
#  3. the provisioning files point at the dashboard and a datasource whose uid the
#     dashboard's default can use.
# Needs promtool (apt-get install prometheus), node and npm; npm packages are installed
# once from tests/deploy/package-lock.json, after that it runs offline.
# Usage: tests/deploy/check-dashboard.sh [DASHBOARD.json]   (default: dashboard.json, then
# delivery-dashboard.json)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dashboard="${1:-$REPO_ROOT/deploy/grafana/dashboard.json}"
provisioning="$REPO_ROOT/deploy/grafana/provisioning"
require_tool promtool "apt-get install prometheus"
ensure_node_modules

work="$(mktemp -d "$DEPLOY_TESTS_DIR/.check-dashboard.XXXXXX")"
trap 'rm -rf "$work"' EXIT

check "dashboard.json is valid JSON" node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$dashboard"

queries() {
  node "$DEPLOY_TESTS_DIR/dashboard-queries.mjs" "$dashboard" "$work/queries.rules.json" &&
    promtool check rules "$work/queries.rules.json"
}
check "dashboard structure, variables, metric names; every query passes promtool check rules" queries

typecheck() {
  node "$DEPLOY_TESTS_DIR/dashboard-typecheck.mjs" "$dashboard" "$work/ts" &&
    "$DEPLOY_TESTS_DIR/node_modules/.bin/tsc" -p "$work/ts" --pretty false
}
check "dashboard.json type-checks against @grafana/schema ($(node -p 'require(process.argv[1]).version' "$DEPLOY_TESTS_DIR/node_modules/@grafana/schema/package.json"))" typecheck

provisioning_files() {
  local ok=0
  local ds="$provisioning/datasources/prometheus.yml"
  local dash="$provisioning/dashboards/yunxiao-flow.yml"
  for f in "$ds" "$dash"; do
    [[ -f "$f" ]] || { echo "missing $f"; ok=1; }
  done
  [[ $ok -eq 0 ]] || return 1
  node --input-type=module - "$ds" "$dash" "$REPO_ROOT/deploy/docker-compose.yml" <<'EOF'
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.DEPLOY_TESTS_DIR + '/');
const YAML = require('yaml');
const [ds, dash, compose] = process.argv.slice(2).map((f) => [f, YAML.parse(readFileSync(f, 'utf8'))]);
const problems = [];
const dsList = ds[1]?.datasources ?? [];
const prom = dsList.find((d) => d.type === 'prometheus');
if (ds[1]?.apiVersion !== 1) problems.push(`${ds[0]}: apiVersion must be 1`);
if (!prom) problems.push(`${ds[0]}: no prometheus datasource`);
else {
  if (!prom.uid) problems.push(`${ds[0]}: the prometheus datasource needs a fixed uid`);
  if (!prom.isDefault) problems.push(`${ds[0]}: the prometheus datasource should be the default (the dashboard's datasource variable starts on the default)`);
  if (!/^https?:\/\/[^/]+:\d+/.test(prom.url ?? '')) problems.push(`${ds[0]}: url ${prom.url} is not http(s)://host:port`);
}
const providers = dash[1]?.providers ?? [];
if (dash[1]?.apiVersion !== 1) problems.push(`${dash[0]}: apiVersion must be 1`);
if (providers.length === 0) problems.push(`${dash[0]}: no providers`);
const svc = compose[1]?.services?.grafana;
if (!svc) problems.push(`${compose[0]}: no grafana service`);
else {
  // Every provider path must be where compose mounts the dashboard.
  const mounts = (svc.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
  for (const p of providers) {
    const path = p.options?.path;
    if (p.type !== 'file' || !path) { problems.push(`${dash[0]}: provider ${p.name} is not a file provider with options.path`); continue; }
    const m = mounts.find(([, target]) => target === path || path.startsWith(target + '/') || target.startsWith(path + '/'));
    if (!m) problems.push(`${dash[0]}: provider path ${path} is not mounted into the grafana service`);
    else if (!m[0].includes('dashboard.json') && !m[0].endsWith('grafana')) problems.push(`${compose[0]}: ${path} is mounted from ${m[0]}, not from deploy/grafana/dashboard.json`);
  }
  if (!mounts.some(([, target]) => target === '/etc/grafana/provisioning' || target?.startsWith('/etc/grafana/provisioning/'))) problems.push(`${compose[0]}: grafana does not mount the provisioning directory`);
}
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
console.log('provisioning ok');
EOF
}
check "grafana provisioning files match the compose mounts" provisioning_files

if [[ -z "${1:-}" ]]; then
  check "delivery-dashboard.json: the same checks" "$0" "$REPO_ROOT/deploy/grafana/delivery-dashboard.json"
fi

finish
