// The metric contract in one place: every metric the exporter serves, with its type,
// help text and label names. docs/metrics.md documents exactly this list, and a test
// checks that the two agree.
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace yfe::metrics {

enum class Type { kGauge, kCounter, kHistogram };  // exposition.cc names them in this order

struct MetricDef {
  std::string_view name;
  Type type;
  std::string_view help;
  // Labels after the common pipeline_id/pipeline_name pair (per-pipeline metrics), or
  // all labels (exporter-wide metrics); unused slots are empty.
  std::array<std::string_view, 5> labels;

  size_t LabelCount() const {
    size_t n = 0;
    while (n < labels.size() && !labels[n].empty()) ++n;
    return n;
  }
};

// Per-pipeline metrics, in output order. Each carries pipeline_id and pipeline_name first.
enum PipelineMetric : size_t {
  kRunStatus,
  kRunId,
  kRunTriggerMode,
  kRunStart,
  kRunEnd,
  kRunDuration,
  kStageStatus,
  kStageStart,
  kStageDuration,
  kJobStatus,
  kJobStart,
  kJobDuration,
  kPipelineInfo,
  kSourceInfo,
  kFetchSuccess,
  kFetchLastSuccess,
  kPipelineMetricCount,
};

// Per-pipeline metrics rendered from the fetched run (cached between scrapes); the rest
// (fetch state) are rendered at scrape time.
inline constexpr size_t kRunMetricCount = kFetchSuccess;

extern const std::array<MetricDef, kPipelineMetricCount> kPipelineMetrics;

// The metrics outside kPipelineMetrics, listed once: each is declared here as
// `extern const MetricDef <name>;` and is in AllMetrics(); catalog.cc defines them. The
// run history's (kRunsTotal and after, delivery's included) are per pipeline, with pipeline_id and
// pipeline_name first.
// clang-format off
#define YFE_OTHER_METRICS(X) \
  X(kUp) \
  X(kScrapeDuration) \
  X(kBuildInfo) \
  X(kApiRequests) \
  X(kApiRequestDuration) \
  X(kApiRateLimited) \
  X(kApiInFlight) \
  X(kApiQueued) \
  X(kCacheRequests) \
  X(kDecodeErrors) \
  X(kRunsTruncated) \
  X(kDiscovered) \
  X(kDiscoveryErrors) \
  X(kRunsTotal) \
  X(kRunsResumedTotal) \
  X(kRunDurationHistogram) \
  X(kJobRunsTotal) \
  X(kJobRunDurationHistogram) \
  X(kStageRunDurationHistogram) \
  X(kJobHistoryRunsSkipped) \
  X(kDeploymentsTotal) \
  X(kDeploymentLeadTime) \
  X(kFailingSince) \
  X(kRestoreDuration)
// clang-format on

#define YFE_DECLARE_METRIC(name) extern const MetricDef name;
YFE_OTHER_METRICS(YFE_DECLARE_METRIC)
#undef YFE_DECLARE_METRIC

// Every metric name the exporter may serve, for docs and lint tests.
std::span<const MetricDef* const> AllMetrics();

}  // namespace yfe::metrics
