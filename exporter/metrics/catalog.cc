#include "metrics/catalog.h"

#include <vector>

namespace yfe::metrics {

const std::array<MetricDef, kPipelineMetricCount> kPipelineMetrics = {{
    {"yunxiao_flow_latest_run_status",
     Type::kGauge,
     "Status of the pipeline's latest run as a state set: 1 for the current status, 0 for the "
     "other known statuses.",
     {"status"}},
    {"yunxiao_flow_latest_run_id",
     Type::kGauge,
     "pipelineRunId of the pipeline's latest run; changes when a new run starts.",
     {}},
    {"yunxiao_flow_latest_run_trigger_mode",
     Type::kGauge,
     "What triggered the latest run (manual, scheduled, commit, pipeline, webhook, unknown); "
     "always 1.",
     {"trigger_mode"}},
    {"yunxiao_flow_latest_run_start_timestamp_seconds",
     Type::kGauge,
     "When the latest run started (its createTime), in seconds since the epoch.",
     {}},
    {"yunxiao_flow_latest_run_end_timestamp_seconds",
     Type::kGauge,
     "When the latest run finished, in seconds since the epoch: the latest stage or job end "
     "time, else updateTime. Only for finished runs (SUCCESS, FAIL, CANCELED).",
     {}},
    {"yunxiao_flow_latest_run_duration_seconds",
     Type::kGauge,
     "Wall time of the latest run from start to end, in seconds. Only for finished runs.",
     {}},
    {"yunxiao_flow_latest_run_stage_status",
     Type::kGauge,
     "Status of each stage of the latest run: 1 for the current status (with "
     "collect.sparse_status: false, also 0 for the other known statuses).",
     {"stage_index", "stage_name", "status"}},
    {"yunxiao_flow_latest_run_stage_start_timestamp_seconds",
     Type::kGauge,
     "When each stage of the latest run started, in seconds since the epoch.",
     {"stage_index", "stage_name"}},
    {"yunxiao_flow_latest_run_stage_duration_seconds",
     Type::kGauge,
     "Wall time of each finished stage of the latest run, in seconds.",
     {"stage_index", "stage_name"}},
    {"yunxiao_flow_latest_run_job_status",
     Type::kGauge,
     "Status of each job of the latest run: 1 for the current status (with "
     "collect.sparse_status: false, also 0 for the other known statuses).",
     {"stage_index", "stage_name", "job_sign", "job_name", "status"}},
    {"yunxiao_flow_latest_run_job_start_timestamp_seconds",
     Type::kGauge,
     "When each job of the latest run started, in seconds since the epoch.",
     {"stage_index", "stage_name", "job_sign", "job_name"}},
    {"yunxiao_flow_latest_run_job_duration_seconds",
     Type::kGauge,
     "Wall time of each finished job of the latest run, in seconds.",
     {"stage_index", "stage_name", "job_sign", "job_name"}},
    {"yunxiao_flow_pipeline_info",
     Type::kGauge,
     "Information about the pipeline from its latest run; always 1.",
     {"pipeline_type"}},
    {"yunxiao_flow_pipeline_source_info",
     Type::kGauge,
     "A code source of the pipeline's latest run (repository URL without credentials; "
     "branch is the source's configured default branch); always 1.",
     {"source_name", "source_type", "repo", "branch"}},
    {"yunxiao_flow_fetch_success",
     Type::kGauge,
     "1 if the last fetch of this pipeline's latest run succeeded, else 0 (series of a failed "
     "pipeline may then be served from older data, up to collect.max_stale).",
     {}},
    {"yunxiao_flow_fetch_last_success_timestamp_seconds",
     Type::kGauge,
     "When this pipeline's latest run was last fetched successfully, in seconds since the "
     "epoch; how old the served data is.",
     {}},
}};

const MetricDef kUp = {"yunxiao_flow_up",
                       Type::kGauge,
                       "1 if at least one run request (latest run, run list) was answered with "
                       "the token accepted during the last scrape or cache_ttl, else 0.",
                       {}};
const MetricDef kScrapeDuration = {"yunxiao_flow_scrape_duration_seconds",
                                   Type::kGauge,
                                   "Time this scrape spent collecting from the Flow API and its "
                                   "cache, in seconds.",
                                   {}};
const MetricDef kBuildInfo = {"yunxiao_flow_exporter_build_info",
                              Type::kGauge,
                              "Version and git revision of the exporter; always 1.",
                              {"version", "revision"}};
const MetricDef kApiRequests = {"yunxiao_flow_api_requests_total",
                                Type::kCounter,
                                "Requests sent to the Flow API, by endpoint and HTTP status "
                                "code (\"error\" for transport failures).",
                                {"endpoint", "code"}};
const MetricDef kApiRequestDuration = {"yunxiao_flow_api_request_duration_seconds",
                                       Type::kHistogram,
                                       "Time from sending a Flow API request to its complete "
                                       "response, in seconds.",
                                       {"endpoint"}};
const MetricDef kApiRateLimited = {"yunxiao_flow_api_rate_limited_total",
                                   Type::kCounter,
                                   "Responses with HTTP 429 (Too Many Requests) from the Flow "
                                   "API.",
                                   {}};
const MetricDef kApiInFlight = {"yunxiao_flow_api_requests_in_flight",
                                Type::kGauge,
                                "Flow API requests sent and not yet answered.",
                                {}};
const MetricDef kApiQueued = {"yunxiao_flow_api_requests_queued",
                              Type::kGauge,
                              "Flow API requests waiting for a concurrency slot, the rate "
                              "limiter or a retry.",
                              {}};
const MetricDef kCacheRequests = {"yunxiao_flow_cache_requests_total",
                                  Type::kCounter,
                                  "Per-pipeline lookups of the latest-run cache by scrapes: hit "
                                  "(served without a request) or miss (fetched).",
                                  {"result"}};
const MetricDef kDecodeErrors = {"yunxiao_flow_api_decode_errors_total",
                                 Type::kCounter,
                                 "Flow API responses with HTTP 2xx whose body could not be "
                                 "decoded, by endpoint.",
                                 {"endpoint"}};
const MetricDef kRunsTruncated = {"yunxiao_flow_runs_truncated_total",
                                  Type::kCounter,
                                  "Latest runs rendered with some stage or job series cut off "
                                  "by a cap (collect.max_stages, collect.max_jobs_per_stage, "
                                  "collect.max_run_bytes), by the cap that cut.",
                                  {"limit"}};

const MetricDef kDiscovered = {"yunxiao_flow_discovered_pipelines",
                               Type::kGauge,
                               "Pipelines found by discovery that match its filters (before "
                               "sharding), at the last successful refresh.",
                               {}};
const MetricDef kDiscoveryErrors = {"yunxiao_flow_discovery_errors_total",
                                    Type::kCounter,
                                    "Discovery refreshes that failed (the previous list of "
                                    "pipelines stays in use).",
                                    {}};
const MetricDef kRunsTotal = {"yunxiao_flow_pipeline_runs_total",
                              Type::kCounter,
                              "Finishes of runs seen since the exporter started, by the status "
                              "they finished with and trigger mode (collect.history). A resumed "
                              "run counts again when it finishes again. Runs finished before "
                              "the first poll are not counted.",
                              {"status", "trigger_mode"}};
const MetricDef kRunsResumedTotal = {
    "yunxiao_flow_pipeline_runs_resumed_total",
    Type::kCounter,
    "Finishes counted by yunxiao_flow_pipeline_runs_total that a resume took back: the run "
    "went back to RUNNING (retried or skipped job, passed checkpoint), by the status it had "
    "finished with (collect.history). runs_total - runs_resumed_total = runs finished now.",
    {"status", "trigger_mode"}};
const MetricDef kRunDurationHistogram = {"yunxiao_flow_pipeline_run_duration_seconds",
                                         Type::kHistogram,
                                         "Durations (start to that finish) of the finishes "
                                         "counted by yunxiao_flow_pipeline_runs_total, by the "
                                         "status they finished with.",
                                         {"status"}};

const MetricDef kJobRunsTotal = {
    "yunxiao_flow_job_runs_total",
    Type::kCounter,
    "Finishes of jobs in the run finishes counted by yunxiao_flow_pipeline_runs_total, by "
    "the job's final status (collect.job_history). A resumed run's next finish counts the "
    "jobs that ran again.",
    {"stage_name", "job_sign", "job_name", "status"}};
const MetricDef kJobRunDurationHistogram = {
    "yunxiao_flow_job_run_duration_seconds",
    Type::kHistogram,
    "Durations of the finished jobs counted by yunxiao_flow_job_runs_total, in seconds "
    "(collect.job_history_buckets).",
    {"stage_name", "job_sign", "job_name"}};
const MetricDef kStageRunDurationHistogram = {
    "yunxiao_flow_stage_run_duration_seconds",
    Type::kHistogram,
    "Durations of the finished stages of the run finishes counted by "
    "yunxiao_flow_pipeline_runs_total, in seconds (collect.job_history).",
    {"stage_name"}};
const MetricDef kJobHistoryRunsSkipped = {
    "yunxiao_flow_job_history_runs_skipped_total",
    Type::kCounter,
    "Counted run finishes whose jobs were not all counted: detail_unavailable (the run's "
    "detail could not be fetched after retries) or cap (jobs or stages beyond the "
    "per-pipeline caps).",
    {"reason"}};

const MetricDef kDeploymentsTotal = {
    "yunxiao_flow_deployments_total",
    Type::kCounter,
    "Deployments (runs of a pipeline that delivery.deployments assigns to the environment) "
    "finished, each run once, by the status of its first counted finish.",
    {"environment", "status"}};
const MetricDef kDeploymentLeadTime = {
    "yunxiao_flow_deployment_lead_time_seconds",
    Type::kHistogram,
    "Lead time of successful deployments: end of the deploying run (or of its deploying "
    "stage, delivery.deployments[].stage) minus its start (createTime), in seconds; once per "
    "deployment.",
    {"environment"}};
const MetricDef kFailingSince = {
    "yunxiao_flow_pipeline_failing_since_timestamp_seconds",
    Type::kGauge,
    "End of the first failed run of the pipeline's current streak of failed runs (Unix "
    "seconds); absent while the latest finished run did not fail.",
    {}};
const MetricDef kRestoreDuration = {
    "yunxiao_flow_pipeline_restore_duration_seconds",
    Type::kHistogram,
    "Time from the end of the first failed run of a streak to the end of the next successful "
    "run of the pipeline, in seconds; environment is set for deployment pipelines.",
    {"environment"}};

std::span<const MetricDef* const> AllMetrics() {
  static const std::vector<const MetricDef*> all = [] {
    std::vector<const MetricDef*> a;
    for (const MetricDef& d : kPipelineMetrics) a.push_back(&d);
#define YFE_ADDRESS_OF(name) &name,
    a.insert(a.end(), {YFE_OTHER_METRICS(YFE_ADDRESS_OF)});
#undef YFE_ADDRESS_OF
    return a;
  }();
  return all;
}

}  // namespace yfe::metrics
