// RunHistory: counts every run of every watched pipeline that finished while the exporter
// was running, exactly once, from ListPipelineRuns (newest first), including runs that
// started and finished between two polls. Exports a counter of finished runs and a
// histogram of their durations.
//
// Rules (docs/metrics.md): the first poll of a pipeline is a baseline: runs already
// finished then are remembered, not counted; runs seen unfinished are counted when they
// finish. A poll reads page 1 and goes to older pages only while every run on a full page
// is new (or a still-running run is older than the page). Memory per pipeline is bounded:
// ids older than the newest page and no longer pending are forgotten.
//
// Thread-safe. The state outlives configuration reloads (owned by the App).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "model/pipeline_run.h"

namespace yfe::collector {

class RunHistory {
 public:
  static constexpr int kPerPage = 30;
  static constexpr int kMaxPages = 5;

  explicit RunHistory(std::vector<double> buckets);

  // Feeds one page (newest first) of a pipeline's runs, page counting from 1. Returns true
  // when the next older page is needed.
  bool Observe(const std::string& pipeline_id, int page,
               const std::vector<model::RunSummary>& runs);
  // Ends a poll of a pipeline (after its last page): forgets ids no longer needed and
  // ends the baseline.
  void FinishPoll(const std::string& pipeline_id);
  // Forgets pipelines that are no longer watched.
  void Retain(const std::set<std::string>& ids);
  void SetBuckets(std::vector<double> buckets);

  // Appends the runs_total and run_duration_seconds families for these pipelines
  // (id, name), in this order.
  void Render(std::string& out,
              const std::vector<std::pair<std::string, std::string>>& pipelines) const;

  // For tests.
  size_t RememberedIds(const std::string& pipeline_id) const;
  double Count(const std::string& pipeline_id, const std::string& status,
               const std::string& trigger_mode) const;

 private:
  struct Histogram {
    std::vector<double> counts;  // per bucket, not cumulative
    double sum = 0;
    double count = 0;
  };
  struct PipelineState {
    bool baselined = false;          // the first poll is over
    std::set<int64_t> settled;       // finished runs already handled
    std::set<int64_t> pending;       // seen unfinished
    int64_t newest_before_poll = 0;  // newest id known when this poll began
    int64_t newest = 0;
    int64_t oldest_on_first_page = 0;
    std::map<std::pair<std::string, std::string>, double> runs;  // (status, trigger) -> n
    std::map<std::string, Histogram> durations;                  // status -> histogram
    std::set<std::string> baseline_triggers;  // trigger modes seen in the baseline
  };
  void CountRun(PipelineState& st, const model::RunSummary& run);
  Histogram& HistogramFor(PipelineState& st, const std::string& status);

  mutable std::mutex mu_;
  std::vector<double> buckets_;
  std::map<std::string, PipelineState> pipelines_;
};

}  // namespace yfe::collector
