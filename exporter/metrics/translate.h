// Translation of a decoded pipeline run into exposition samples. Pure: the same run and
// options always give the same text, so the result can be cached until the run changes.
//
//   RunFragments f = RenderRun({"123", "backend"}, run, options);
//   // f.text[kRunStatus] holds the yunxiao_flow_latest_run_status samples of this pipeline.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/catalog.h"
#include "model/pipeline_run.h"

namespace yfe::metrics {

struct RenderOptions {
  bool stages = true;
  bool jobs = true;
  bool sparse_status = true;
  // Caps on what one run renders (collect.max_*): the API allows 200 stages of 200 jobs
  // with 256-byte labels, which would render hundreds of megabytes. The run-level series
  // are always kept; stages and jobs beyond a cap are cut. 0: no cap.
  size_t max_stages = 100;
  size_t max_jobs_per_stage = 100;
  size_t max_run_bytes = 1 << 20;

  bool operator==(const RenderOptions&) const = default;
};

// Which cap cut a run; each is also the `limit` label of yunxiao_flow_runs_truncated_total.
enum class Cut { kStages, kJobsPerStage, kRunBytes };
inline constexpr std::string_view kCutNames[] = {"stages", "jobs_per_stage", "run_bytes"};

struct PipelineLabels {
  std::string_view id;
  std::string_view name;
};

struct RunFragments {
  // Sample lines (no HELP/TYPE) for each run metric, in catalog order.
  std::array<std::string, kRunMetricCount> text;
  // Problems in the data that were worked around (e.g. a duplicate stage dropped); at most
  // kMaxWarnings, then one line saying how many more there were.
  std::vector<std::string> warnings;
  // Which caps cut this run (indexed by Cut).
  std::array<bool, 3> cut{};
  static constexpr size_t kMaxWarnings = 10;

  bool Truncated() const { return cut[0] || cut[1] || cut[2]; }

  size_t Bytes() const;
};

// `{pipeline_id="..",pipeline_name=".."`: the label prefix of every per-pipeline series.
std::string PipelinePrefix(PipelineLabels p);

RunFragments RenderRun(PipelineLabels pipeline, const model::PipelineRun& run,
                       const RenderOptions& options);

// A pipeline that exists but never ran: its yunxiao_flow_pipeline_info alone (pipeline_type
// is empty: only a run says it), no latest-run series.
RunFragments RenderNoRun(PipelineLabels pipeline);

// End of a finished run in ms: the latest stage or job end time, else updateTime; 0 when
// the run is unfinished or no end is known.
int64_t RunEndMs(const model::PipelineRun& run);

}  // namespace yfe::metrics
