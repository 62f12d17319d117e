// Reads deploy/grafana/dashboard.json and
// - checks its structure: unique panel ids and refIds, panels inside the 24-column grid
//   and not overlapping, every query on the ${datasource} variable, every variable used
//   is defined, every metric is one the exporter (or Prometheus) exports;
// - writes every PromQL query, with Grafana variables replaced by sample values, as a
//   Prometheus recording-rule file (JSON is YAML) for `promtool check rules`.
//
// usage: node dashboard-queries.mjs DASHBOARD.json OUT_RULES.json
// Exit 1 with a list of problems, else 0 (and prints how many queries were written).
import { readFileSync, writeFileSync } from 'node:fs';
import { knownMetricNames, metricNamesIn } from './metric-names.mjs';

const [, , dashboardPath, outPath] = process.argv;
if (!dashboardPath || !outPath) {
  console.error('usage: node dashboard-queries.mjs DASHBOARD.json OUT_RULES.json');
  process.exit(2);
}
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8'));
const problems = [];
const { names: metricNames, source: metricSource } = knownMetricNames(process.env.REPO_ROOT ?? new URL('../..', import.meta.url).pathname);

// Values that Grafana would put in place of its built-in variables. The ranges are
// typical ones; promtool only needs something of the right kind.
const BUILTINS = {
  __rate_interval: '2m',
  __interval: '30s',
  __interval_ms: '30000',
  __range: '1d',
  __range_s: '86400',
  __range_ms: '86400000',
  __auto: '1m',
};
// Values for the dashboard's own variables: a multi-value selection as Grafana renders it
// into a regex (the "All" value is `.*`, see allValue).
const SAMPLE_VALUES = {
  pipeline: '(backend-build|frontend\\\\.web)',
  status: '(FAIL|RUNNING)',
  environment: '(production|staging)',
};

const variables = new Map();
for (const v of dashboard.templating?.list ?? []) {
  if (variables.has(v.name)) problems.push(`variable ${v.name} is defined twice`);
  variables.set(v.name, v);
}
// The delivery dashboard selects environments; the pipelines dashboard pipelines and statuses.
for (const required of dashboard.uid === 'yunxiao-flow-delivery' ? ['environment'] : ['pipeline', 'status']) {
  if (!variables.has(required)) problems.push(`the dashboard has no "${required}" variable`);
}

// Grafana variable syntaxes: $name, ${name}, ${name:format}, [[name]].
const VAR_RE = /\$\{([a-zA-Z0-9_]+)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z0-9_]+)\]\]/g;

function substitute(expr, where) {
  return expr.replace(VAR_RE, (whole, a, b, c) => {
    const name = a ?? b ?? c;
    if (name in BUILTINS) return BUILTINS[name];
    if (!variables.has(name)) {
      problems.push(`${where}: uses undefined variable $${name}`);
      return whole;
    }
    if (name in SAMPLE_VALUES) return SAMPLE_VALUES[name];
    const v = variables.get(name);
    if (v.type === 'datasource') {
      problems.push(`${where}: the datasource variable $${name} inside a query`);
      return whole;
    }
    problems.push(`${where}: no sample value for variable $${name}: add it to SAMPLE_VALUES in ${import.meta.url}`);
    return whole;
  });
}

function checkMetrics(expr, where) {
  for (const name of metricNamesIn(expr)) {
    if (!metricNames.has(name)) problems.push(`${where}: unknown metric "${name}" (known from ${metricSource})`);
  }
}

const rules = [];
const allPanels = [];
for (const p of dashboard.panels ?? []) {
  allPanels.push(p);
  for (const inner of p.panels ?? []) allPanels.push(inner);
}

// Panel ids and layout.
const ids = new Set();
const cells = new Map();
for (const p of allPanels) {
  const where = `panel ${p.id} "${p.title}"`;
  if (typeof p.id !== 'number') problems.push(`${where}: no numeric id`);
  else if (ids.has(p.id)) problems.push(`${where}: duplicate panel id`);
  ids.add(p.id);
  if (!p.title) problems.push(`panel ${p.id}: no title`);
  const g = p.gridPos;
  if (!g) {
    problems.push(`${where}: no gridPos`);
    continue;
  }
  if (g.x < 0 || g.w < 1 || g.x + g.w > 24) problems.push(`${where}: gridPos outside the 24 columns (x=${g.x}, w=${g.w})`);
  for (let yy = g.y; yy < g.y + g.h; yy++) {
    for (let xx = g.x; xx < g.x + g.w; xx++) {
      const key = `${xx},${yy}`;
      if (cells.has(key)) {
        problems.push(`${where}: overlaps panel ${cells.get(key)} at x=${xx} y=${yy}`);
        yy = Infinity;
        break;
      }
      cells.set(key, p.id);
    }
  }
}

// Queries.
for (const p of allPanels) {
  if (p.type === 'row') continue;
  const where = `panel ${p.id} "${p.title}"`;
  if (p.datasource?.uid !== '${datasource}') problems.push(`${where}: panel datasource is not \${datasource}`);
  const targets = p.targets ?? [];
  if (targets.length === 0 && p.type !== 'text') problems.push(`${where}: no queries`);
  const refIds = new Set();
  for (const t of targets) {
    const w = `${where} query ${t.refId}`;
    if (!t.refId) problems.push(`${where}: a query without refId`);
    if (refIds.has(t.refId)) problems.push(`${w}: duplicate refId`);
    refIds.add(t.refId);
    if (t.datasource && t.datasource.uid !== '${datasource}') problems.push(`${w}: query datasource is not \${datasource}`);
    if (typeof t.expr !== 'string' || t.expr.trim() === '') {
      problems.push(`${w}: no PromQL expr`);
      continue;
    }
    const expr = substitute(t.expr, w);
    checkMetrics(expr, w);
    rules.push({ record: `dashboard_panel_${p.id}_${t.refId}`, expr, labels: { panel: String(p.title) } });
  }
}

// Variable queries: label_values(metric, label) / query_result(expr) / plain PromQL.
for (const v of variables.values()) {
  if (v.type !== 'query') continue;
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const where = `variable ${v.name}`;
  if (!q) {
    problems.push(`${where}: no query`);
    continue;
  }
  let expr;
  let m;
  if ((m = q.match(/^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s))) expr = m[1];
  else if ((m = q.match(/^\s*label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/))) {
    problems.push(`${where}: label_values(label) without a metric scans every series; name the metric`);
    continue;
  } else if ((m = q.match(/^\s*query_result\((.+)\)\s*$/s))) expr = m[1];
  else if (/^\s*(label_names|metrics)\(/.test(q)) continue;
  else expr = q;
  expr = substitute(expr, where);
  checkMetrics(expr, where);
  rules.push({ record: `dashboard_variable_${v.name}`, expr });
}

if (rules.length === 0) problems.push('no PromQL query found in the dashboard');

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
writeFileSync(outPath, JSON.stringify({ groups: [{ name: 'dashboard-queries', rules }] }, null, 2));
console.log(`${rules.length} queries from ${allPanels.length} panels written to ${outPath}; metric names checked against ${metricSource}`);
