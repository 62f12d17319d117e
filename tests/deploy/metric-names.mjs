// The exporter's metric names, for checking that rules and dashboard queries only use
// metrics that exist. Source: docs/metrics.md (the contract) when it lists them, else the
// list below, taken from the contract in issue #2 and the planned metrics.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FALLBACK = [
  'yunxiao_flow_latest_run_status',
  'yunxiao_flow_latest_run_id',
  'yunxiao_flow_latest_run_trigger_mode',
  'yunxiao_flow_latest_run_start_timestamp_seconds',
  'yunxiao_flow_latest_run_end_timestamp_seconds',
  'yunxiao_flow_latest_run_duration_seconds',
  'yunxiao_flow_latest_run_stage_status',
  'yunxiao_flow_latest_run_stage_start_timestamp_seconds',
  'yunxiao_flow_latest_run_stage_duration_seconds',
  'yunxiao_flow_latest_run_job_status',
  'yunxiao_flow_latest_run_job_start_timestamp_seconds',
  'yunxiao_flow_latest_run_job_duration_seconds',
  'yunxiao_flow_pipeline_info',
  'yunxiao_flow_pipeline_source_info',
  'yunxiao_flow_fetch_success',
  'yunxiao_flow_fetch_last_success_timestamp_seconds',
  'yunxiao_flow_up',
  'yunxiao_flow_scrape_duration_seconds',
  'yunxiao_flow_api_requests_total',
  'yunxiao_flow_api_request_duration_seconds',
  'yunxiao_flow_api_rate_limited_total',
  'yunxiao_flow_cache_requests_total',
  'yunxiao_flow_api_requests_in_flight',
  'yunxiao_flow_exporter_build_info',
  'yunxiao_flow_pipeline_runs_total',
  'yunxiao_flow_pipeline_run_duration_seconds',
  'yunxiao_flow_discovered_pipelines',
];
const HISTOGRAMS = ['yunxiao_flow_api_request_duration_seconds', 'yunxiao_flow_pipeline_run_duration_seconds', 'yunxiao_flow_deployment_lead_time_seconds', 'yunxiao_flow_pipeline_restore_duration_seconds'];
// Series that Prometheus itself makes for every target.
const PROMETHEUS = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'ALERTS', 'ALERTS_FOR_STATE'];

export function knownMetricNames(repoRoot) {
  let names = FALLBACK;
  let source = 'built-in list (docs/metrics.md not found)';
  const doc = join(repoRoot, 'docs', 'metrics.md');
  if (existsSync(doc)) {
    const found = [...new Set(readFileSync(doc, 'utf8').match(/\byunxiao_flow_[a-z0-9_]+/g) ?? [])];
    if (found.length > 0) {
      // The doc may be written before every planned metric exists; keep the planned ones.
      names = [...new Set([...found, ...FALLBACK])];
      source = 'docs/metrics.md + planned metrics';
    }
  }
  // Series recorded by deploy/prometheus/delivery.rules.yml (the delivery dashboard uses them).
  const rules = join(repoRoot, 'deploy', 'prometheus', 'delivery.rules.yml');
  if (existsSync(rules)) {
    for (const m of readFileSync(rules, 'utf8').matchAll(/^\s*- record: ([a-z_:0-9]+)\s*$/gm)) names = [...names, m[1]];
  }
  const all = new Set([...names, ...PROMETHEUS]);
  for (const h of HISTOGRAMS) for (const s of ['_bucket', '_sum', '_count']) all.add(h + s);
  return { names: all, source };
}

// Metric names referenced by a PromQL expression: identifiers that start a selector
// (followed by `{`, `[`, whitespace/operator, or end), excluding functions, keywords and
// label names inside braces or by/on/without/ignoring lists.
export function metricNamesIn(expr) {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\[[^\]]*\]/g, '[]'); // ranges / subqueries
  const out = new Set();
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    const word = m[1];
    if (/^(and|or|unless|by|without|on|ignoring|group_left|group_right|offset|bool|inf|nan|e)$/i.test(word)) continue;
    if (/^\d/.test(word)) continue;
    out.add(word);
  }
  return [...out];
}
