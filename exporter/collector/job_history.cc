#include "collector/job_history.h"

#include <algorithm>
#include <utility>

#include "metrics/catalog.h"
#include "metrics/exposition.h"
#include "model/status.h"

namespace yfe::collector::jobs {

namespace {

// Whether an item (job or stage) with these times belongs to the finish counted.
bool OfThisFinish(int64_t start_ms, const RunLedger::PendingDetail& p) {
  if (start_ms <= p.after_ms && p.after_ms > 0) return false;
  return p.end_ms <= 0 || start_ms <= p.end_ms;
}

bool LabelsFit(std::initializer_list<std::string_view> values) {
  for (std::string_view v : values) {
    if (v.size() > kMaxLabelBytes) return false;
  }
  return true;
}

// Duration in seconds of a finished item, or negative when it has none.
double Seconds(int64_t start_ms, int64_t end_ms) {
  if (start_ms <= 0 || end_ms < start_ms) return -1;
  return static_cast<double>(end_ms - start_ms) / 1000.0;
}

void AppendHistogram(std::string& out, std::string_view name, const std::string& prefix,
                     const RunLedger::Histogram& h, const std::vector<std::string>& les) {
  const std::string base(name);
  double cumulative = 0;
  for (size_t i = 0; i < les.size() && i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    metrics::AppendSample(out, base + "_bucket", prefix, {{"le", les[i]}}, cumulative);
  }
  metrics::AppendSample(out, base + "_bucket", prefix, {{"le", "+Inf"}}, h.count);
  metrics::AppendSample(out, base + "_sum", prefix, {}, h.sum);
  metrics::AppendSample(out, base + "_count", prefix, {}, h.count);
}

}  // namespace

void Observe(RunLedger::Histogram& h, const std::vector<double>& buckets, double seconds) {
  if (h.counts.size() != buckets.size()) h.counts.assign(buckets.size(), 0);
  auto it = std::lower_bound(buckets.begin(), buckets.end(), seconds);
  if (it != buckets.end()) h.counts[static_cast<size_t>(it - buckets.begin())] += 1;
  h.sum += seconds;
  h.count += 1;
}

bool CountDetail(RunLedger& l, const model::PipelineRun& run,
                 const RunLedger::PendingDetail& pending, const std::vector<double>& buckets) {
  bool complete = true;
  for (const auto& stage : run.stages) {
    if (!LabelsFit({stage.name})) {
      complete = false;
      continue;
    }
    if (model::IsFinished(stage.status) && OfThisFinish(stage.start_ms, pending)) {
      if (double d = Seconds(stage.start_ms, stage.end_ms); d >= 0) {
        if (l.stage_durations.count(stage.name) || l.stage_durations.size() < kMaxStages) {
          Observe(l.stage_durations[stage.name], buckets, d);
        } else {
          complete = false;
        }
      }
    }
    for (const auto& job : stage.jobs) {
      if (!model::IsFinished(job.status) || !OfThisFinish(job.start_ms, pending)) continue;
      RunLedger::JobId id{stage.name, job.sign, job.name};
      if (!LabelsFit({job.sign, job.name}) ||
          (!l.job_durations.count(id) && l.job_durations.size() >= kMaxJobs)) {
        complete = false;
        continue;
      }
      l.job_runs[{id, job.status}] += 1;
      RunLedger::Histogram& h = l.job_durations[id];  // the job's key, even without a duration
      if (h.counts.size() != buckets.size()) h.counts.assign(buckets.size(), 0);
      if (double d = Seconds(job.start_ms, job.end_ms); d >= 0) Observe(h, buckets, d);
    }
  }
  return complete;
}

Text::Text(const std::vector<double>& buckets) : les_(buckets.size()) {
  for (size_t i = 0; i < buckets.size(); ++i) metrics::AppendValue(les_[i], buckets[i]);
}

void Text::Add(const std::string& prefix, const RunLedger& l) {
  auto& [runs, job_durations, stage_durations, skipped] = families_;
  for (const auto& [key, n] : l.job_runs) {
    const auto& [stage, sign, name] = key.first;
    metrics::AppendSample(
        runs, metrics::kJobRunsTotal.name, prefix,
        {{"stage_name", stage}, {"job_sign", sign}, {"job_name", name}, {"status", key.second}}, n);
  }
  for (const auto& [id, h] : l.job_durations) {
    const auto& [stage, sign, name] = id;
    const std::string p = metrics::ExtendPrefix(
        prefix, {{"stage_name", stage}, {"job_sign", sign}, {"job_name", name}});
    AppendHistogram(job_durations, metrics::kJobRunDurationHistogram.name, p, h, les_);
  }
  for (const auto& [stage, h] : l.stage_durations) {
    const std::string p = metrics::ExtendPrefix(prefix, {{"stage_name", stage}});
    AppendHistogram(stage_durations, metrics::kStageRunDurationHistogram.name, p, h, les_);
  }
  for (const auto& [reason, n] : l.jobs_skipped) {
    metrics::AppendSample(skipped, metrics::kJobHistoryRunsSkipped.name, prefix,
                          {{"reason", reason}}, n);
  }
}

const std::array<const metrics::MetricDef*, kFamilies> kFamilyDefs = {
    &metrics::kJobRunsTotal, &metrics::kJobRunDurationHistogram,
    &metrics::kStageRunDurationHistogram, &metrics::kJobHistoryRunsSkipped};

std::array<std::string, kFamilies> Text::Take() { return std::exchange(families_, {}); }

}  // namespace yfe::collector::jobs
