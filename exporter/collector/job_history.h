// Job history (collect.job_history): what RunHistory does with the detail (GetPipelineRun)
// of a run whose finish it counted. Per job (keyed by the stable jobSign, never the per-run
// job id) a counter of finishes by status and a histogram of durations; per stage a
// histogram of durations. Plain functions on a RunLedger, called under RunHistory's lock.
//
// Which jobs a finish counts (docs/metrics.md, "Job history"): the jobs and stages with a
// final status (SUCCESS, FAIL, CANCELED, SKIP, FINISH) that started after the previous finish
// whose jobs were counted (all of them for a run's first finish) and not after the end of
// the finish counted. So a resumed run's next finish counts the jobs that ran again, and no
// job run is counted twice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/history.h"
#include "metrics/catalog.h"
#include "model/pipeline_run.h"

namespace yfe::collector::jobs {

// Bounds per pipeline (a hostile API cannot grow memory or series without end). Jobs and
// stages beyond them are not counted (job_history_runs_skipped_total{reason="cap"}).
inline constexpr size_t kMaxJobs = 200;            // distinct (stage, job_sign, job name)
inline constexpr size_t kMaxStages = 50;           // distinct stage names
inline constexpr size_t kMaxLabelBytes = 256;      // stage name, job_sign, job name
inline constexpr size_t kMaxPendingDetails = 300;  // finished runs waiting for their detail
inline constexpr int64_t kMaxDetailAttempts = 10;  // failed fetches before giving up

// Reasons of yunxiao_flow_job_history_runs_skipped_total.
inline constexpr std::string_view kSkippedCap = "cap";
inline constexpr std::string_view kSkippedDetail = "detail_unavailable";

// Adds seconds to a histogram with these (upper bound) buckets.
void Observe(RunLedger::Histogram& h, const std::vector<double>& buckets, double seconds);

// Counts the jobs and stages of `run` (a finished run's detail) that belong to the finish
// described by `pending`. False when a cap left some out.
bool CountDetail(RunLedger& l, const model::PipelineRun& run,
                 const RunLedger::PendingDetail& pending, const std::vector<double>& buckets);

// The job history families, in the order of the exposition.
inline constexpr size_t kFamilies = 4;
extern const std::array<const metrics::MetricDef*, kFamilies> kFamilyDefs;

// The text of the job history families, gathered pipeline by pipeline.
class Text {
 public:
  explicit Text(const std::vector<double>& buckets);
  void Add(const std::string& pipeline_prefix, const RunLedger& l);
  // The text of each family (kFamilyDefs) gathered so far, without headers; starts again.
  std::array<std::string, kFamilies> Take();

 private:
  std::vector<std::string> les_;
  std::array<std::string, kFamilies> families_;  // runs, job and stage durations, skipped
};

}  // namespace yfe::collector::jobs
