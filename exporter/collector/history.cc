#include "collector/history.h"

#include <algorithm>

#include "metrics/catalog.h"
#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "model/status.h"

namespace yfe::collector {

RunHistory::RunHistory(std::vector<double> buckets) : buckets_(std::move(buckets)) {}

void RunHistory::SetBuckets(std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  if (buckets == buckets_) return;
  buckets_ = std::move(buckets);
  // Histograms with other buckets cannot continue: they start again.
  for (auto& [id, st] : pipelines_) st.durations.clear();
}

RunHistory::Histogram& RunHistory::HistogramFor(PipelineState& st, const std::string& status) {
  auto& h = st.durations[status];
  if (h.counts.size() != buckets_.size()) h.counts.assign(buckets_.size(), 0);
  return h;
}

void RunHistory::CountRun(PipelineState& st, const model::RunSummary& run) {
  st.runs[{run.status, std::string(model::TriggerModeName(run.trigger_mode))}] += 1;
  if (run.start_ms > 0 && run.end_ms >= run.start_ms) {
    double seconds = static_cast<double>(run.end_ms - run.start_ms) / 1000.0;
    auto& h = HistogramFor(st, run.status);
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), seconds);
    if (it != buckets_.end()) h.counts[it - buckets_.begin()] += 1;
    h.sum += seconds;
    h.count += 1;
  }
}

bool RunHistory::Observe(const std::string& id, int page,
                         const std::vector<model::RunSummary>& runs) {
  std::lock_guard lock(mu_);
  PipelineState& st = pipelines_[id];
  if (page == 1) {
    st.newest_before_poll = st.newest;
    st.oldest_on_first_page = 0;
  }
  bool all_new = !runs.empty();
  int64_t oldest = 0;
  for (const auto& r : runs) {
    oldest = oldest == 0 ? r.id : std::min(oldest, r.id);
    st.newest = std::max(st.newest, r.id);
    all_new = all_new && r.id > st.newest_before_poll;
    if (!st.baselined)
      st.baseline_triggers.insert(std::string(model::TriggerModeName(r.trigger_mode)));
    if (st.settled.count(r.id)) continue;
    if (!model::IsFinished(r.status)) {
      st.pending.insert(r.id);
      continue;
    }
    st.settled.insert(r.id);
    const bool was_pending = st.pending.erase(r.id) > 0;
    // Counted when it finished after the baseline: seen running before, or newer than
    // anything known at the previous poll. An unknown older id finished long ago.
    if (st.baselined && (was_pending || r.id > st.newest_before_poll)) CountRun(st, r);
  }
  if (page == 1) st.oldest_on_first_page = oldest;
  if (!st.baselined || page >= kMaxPages || runs.size() < static_cast<size_t>(kPerPage)) {
    return false;
  }
  const bool pending_older = !st.pending.empty() && *st.pending.begin() < oldest;
  return all_new || pending_older;
}

void RunHistory::FinishPoll(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return;
  PipelineState& st = it->second;
  if (!st.baselined) {
    // Start the usual series at 0 so that the first finished run shows in increase().
    for (const auto& trigger : st.baseline_triggers) {
      for (const char* status : {"SUCCESS", "FAIL", "CANCELED"}) st.runs[{status, trigger}] += 0;
    }
    for (const char* status : {"SUCCESS", "FAIL"}) HistogramFor(st, status);
    st.baseline_triggers.clear();
    st.baselined = true;
  }
  // Forget settled ids that can no longer show up on page 1 and are not pending.
  int64_t floor = st.oldest_on_first_page;
  if (!st.pending.empty()) floor = std::min(floor, *st.pending.begin());
  st.settled.erase(st.settled.begin(), st.settled.lower_bound(floor));
}

void RunHistory::Retain(const std::set<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (auto it = pipelines_.begin(); it != pipelines_.end();) {
    it = ids.count(it->first) ? std::next(it) : pipelines_.erase(it);
  }
}

size_t RunHistory::RememberedIds(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  return it == pipelines_.end() ? 0 : it->second.settled.size() + it->second.pending.size();
}

double RunHistory::Count(const std::string& id, const std::string& status,
                         const std::string& trigger) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return 0;
  auto r = it->second.runs.find({status, trigger});
  return r == it->second.runs.end() ? 0 : r->second;
}

void RunHistory::Render(std::string& out,
                        const std::vector<std::pair<std::string, std::string>>& pipelines) const {
  std::lock_guard lock(mu_);
  // Formatted once per render, not per pipeline and bucket.
  const std::string base(metrics::kRunDurationHistogram.name);
  const std::string bucket_name = base + "_bucket", sum_name = base + "_sum",
                    count_name = base + "_count";
  std::vector<std::string> les(buckets_.size());
  for (size_t i = 0; i < buckets_.size(); ++i) metrics::AppendValue(les[i], buckets_[i]);
  std::string runs_text, durations_text;
  for (const auto& [id, name] : pipelines) {
    auto it = pipelines_.find(id);
    if (it == pipelines_.end() || !it->second.baselined) continue;
    const PipelineState& st = it->second;
    const std::string prefix = metrics::PipelinePrefix({id, name});
    for (const auto& [key, n] : st.runs) {
      metrics::AppendSample(runs_text, metrics::kRunsTotal.name, prefix,
                            {{"status", key.first}, {"trigger_mode", key.second}}, n);
    }
    for (const auto& [status, h] : st.durations) {
      const std::string p = metrics::ExtendPrefix(prefix, {{"status", status}});
      double cumulative = 0;
      for (size_t i = 0; i < les.size() && i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        metrics::AppendSample(durations_text, bucket_name, p, {{"le", les[i]}}, cumulative);
      }
      metrics::AppendSample(durations_text, bucket_name, p, {{"le", "+Inf"}}, h.count);
      metrics::AppendSample(durations_text, sum_name, p, {}, h.sum);
      metrics::AppendSample(durations_text, count_name, p, {}, h.count);
    }
  }
  if (!runs_text.empty()) {
    metrics::AppendHeader(out, metrics::kRunsTotal);
    out += runs_text;
  }
  if (!durations_text.empty()) {
    metrics::AppendHeader(out, metrics::kRunDurationHistogram);
    out += durations_text;
  }
}

}  // namespace yfe::collector
