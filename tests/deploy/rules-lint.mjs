// What promtool does not check in deploy/prometheus:
// - alerts.yml: unique alert names; a `for:` and a severity label (critical, warning or
//   info) on every alert; summary and description annotations; per-pipeline alerts name
//   the pipeline and link to it in Yunxiao (pipeline id + organization id); every metric
//   used is one the exporter (or Prometheus) exports;
// - alerts_test.yml: loads alerts.yml and tests every alert both firing (a non-empty
//   exp_alerts) and not firing (an empty one);
// - each Prometheus config given: loads alerts.yml, scrapes the exporter with a job name
//   the target alerts match, scrape_timeout >= 10s (the exporter's 9s scrape deadline +
//   serialization) and <= scrape_interval, a 30s-2m interval (cache TTL is 30s), and an
//   organization_id target label on every target (the alert links need it).
//
// usage: node rules-lint.mjs ALERTS.yml ALERTS_TEST.yml [PROMETHEUS.yml ...]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { knownMetricNames, metricNamesIn } from './metric-names.mjs';

const require = createRequire(import.meta.url);
const YAML = require('yaml');
const [, , alertsPath, testsPath, ...configPaths] = process.argv;
if (!alertsPath || !testsPath) {
  console.error('usage: node rules-lint.mjs ALERTS.yml ALERTS_TEST.yml [PROMETHEUS.yml ...]');
  process.exit(2);
}
const problems = [];
const { names: metricNames, source: metricSource } = knownMetricNames(process.env.REPO_ROOT ?? new URL('../..', import.meta.url).pathname);
const LINK = 'https://flow.aliyun.com/pipelines/{{ $labels.pipeline_id }}/current?orgId={{ $labels.organization_id }}';
const PER_PIPELINE = /\byunxiao_flow_(latest_run_|fetch_|pipeline_)/;
const TARGET_JOB_RE = /job=~"([^"]+)"/;

const alerts = YAML.parse(readFileSync(alertsPath, 'utf8'));
// Series recorded by the file's own recording rules are known too.
for (const g of alerts?.groups ?? []) for (const r of g.rules ?? []) if (r.record) metricNames.add(r.record);
const names = new Map();
let jobRegex;
for (const g of alerts?.groups ?? []) {
  for (const r of g.rules ?? []) {
    if (!r.alert) continue;
    const w = `alert ${r.alert}`;
    if (names.has(r.alert)) problems.push(`${w}: defined twice`);
    names.set(r.alert, r);
    if (!r.for) problems.push(`${w}: no "for:" (a single bad sample would page)`);
    if (!['critical', 'warning', 'info'].includes(r.labels?.severity)) problems.push(`${w}: severity label is "${r.labels?.severity}", not critical, warning or info`);
    const a = r.annotations ?? {};
    if (!a.summary?.trim()) problems.push(`${w}: no summary annotation`);
    if (!a.description?.trim()) problems.push(`${w}: no description annotation`);
    if (PER_PIPELINE.test(r.expr)) {
      if (!`${a.summary} ${a.description}`.includes('$labels.pipeline_name')) problems.push(`${w}: summary/description do not name the pipeline ($labels.pipeline_name)`);
      if (!a.description?.includes(LINK)) problems.push(`${w}: description has no link ${LINK}`);
      if (a.pipeline_url !== LINK) problems.push(`${w}: pipeline_url annotation is not ${LINK}`);
    }
    for (const m of metricNamesIn(r.expr)) if (!metricNames.has(m)) problems.push(`${w}: unknown metric "${m}" (known from ${metricSource})`);
    const jm = TARGET_JOB_RE.exec(r.expr);
    if (jm) jobRegex = new RegExp(`^(?:${jm[1]})$`);
  }
}
if (names.size === 0) problems.push(`${alertsPath}: no alerts`);

const tests = YAML.parse(readFileSync(testsPath, 'utf8'));
if (!(tests?.rule_files ?? []).some((f) => basename(f) === basename(alertsPath))) problems.push(`${testsPath}: rule_files does not load ${basename(alertsPath)}`);
const firing = new Set();
const silent = new Set();
for (const t of tests?.tests ?? []) {
  for (const a of t.alert_rule_test ?? []) {
    if (!names.has(a.alertname)) problems.push(`${testsPath}: tests unknown alert ${a.alertname}`);
    ((a.exp_alerts ?? []).length > 0 ? firing : silent).add(a.alertname);
  }
}
for (const n of names.keys()) {
  if (!firing.has(n)) problems.push(`${testsPath}: no test where ${n} fires`);
  if (!silent.has(n)) problems.push(`${testsPath}: no test where ${n} does not fire`);
}

const seconds = (d) => {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d ?? '');
  return m && d ? (+(m[1] ?? 0)) * 3600 + (+(m[2] ?? 0)) * 60 + (+(m[3] ?? 0)) : NaN;
};
for (const path of configPaths) {
  const c = YAML.parse(readFileSync(path, 'utf8'));
  const w = basename(path);
  if (!(c?.rule_files ?? []).some((f) => basename(f) === basename(alertsPath))) problems.push(`${w}: rule_files does not load ${basename(alertsPath)}`);
  const jobs = (c?.scrape_configs ?? []).filter((s) => jobRegex?.test(s.job_name));
  if (jobs.length !== 1) problems.push(`${w}: expected one scrape job matching the alerts' ${jobRegex}, found ${jobs.length}`);
  for (const j of jobs) {
    const interval = seconds(j.scrape_interval ?? c.global?.scrape_interval ?? '1m');
    const timeout = seconds(j.scrape_timeout ?? c.global?.scrape_timeout ?? '10s');
    if (!(timeout >= 10)) problems.push(`${w}: job ${j.job_name}: scrape_timeout ${timeout}s < 10s (the exporter may take its 9s scrape deadline + serialization)`);
    if (!(timeout <= interval)) problems.push(`${w}: job ${j.job_name}: scrape_timeout ${timeout}s > scrape_interval ${interval}s`);
    if (!(interval >= 30 && interval <= 120)) problems.push(`${w}: job ${j.job_name}: scrape_interval ${interval}s outside 30s-2m (the exporter caches for 30s)`);
    for (const sc of j.static_configs ?? []) {
      if (!sc.labels?.organization_id) problems.push(`${w}: job ${j.job_name}: targets ${sc.targets} have no organization_id label`);
    }
  }
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${names.size} alerts, each tested firing and not firing; ${configPaths.length} Prometheus configs; metrics checked against ${metricSource}`);
