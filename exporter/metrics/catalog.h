// The metric contract in one place: every metric the exporter serves, with its type,
// help text and label names. docs/metrics.md documents exactly this list, and a test
// checks that the two agree.
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace yfe::metrics {

enum class Type { kGauge, kCounter, kHistogram };

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

// Exporter-wide metrics.
extern const MetricDef kUp;
extern const MetricDef kScrapeDuration;
extern const MetricDef kBuildInfo;
extern const MetricDef kApiRequests;
extern const MetricDef kApiRequestDuration;
extern const MetricDef kApiRateLimited;
extern const MetricDef kApiInFlight;
extern const MetricDef kApiQueued;
extern const MetricDef kCacheRequests;
extern const MetricDef kDecodeErrors;
extern const MetricDef kRunsTruncated;
extern const MetricDef kDiscovered;
extern const MetricDef kDiscoveryErrors;
// Run history (collect.history); per pipeline, with pipeline_id and pipeline_name first.
extern const MetricDef kRunsTotal;
extern const MetricDef kRunsResumedTotal;
extern const MetricDef kRunDurationHistogram;
// Delivery (delivery.deployments); per pipeline, with pipeline_id and pipeline_name first.
extern const MetricDef kDeploymentsTotal;
extern const MetricDef kDeploymentLeadTime;
extern const MetricDef kFailingSince;
extern const MetricDef kRestoreDuration;

// Every metric name the exporter may serve, for docs and lint tests.
std::span<const MetricDef* const> AllMetrics();

}  // namespace yfe::metrics
