#include "collector/history.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <memory>

#include "collector/job_history.h"
#include "metrics/catalog.h"
#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "model/decode.h"
#include "model/status.h"
#include "util/duration.h"
#include "util/log.h"

namespace yfe::collector {

namespace {

int64_t EpochMs(Clock::Wall t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string TriggerOf(const model::RunSummary& run) {
  return std::string(model::TriggerModeName(run.trigger_mode));
}

double ValueOr0(const std::map<RunLedger::Key, double>& counters, const RunLedger::Key& key) {
  auto it = counters.find(key);
  return it == counters.end() ? 0 : it->second;
}

}  // namespace

RunHistory::RunHistory(std::vector<double> buckets, const Clock& clock)
    : clock_(clock), buckets_(std::move(buckets)) {}

void RunHistory::SetBuckets(std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  if (buckets == buckets_) return;
  buckets_ = std::move(buckets);
  // Histograms with other buckets cannot continue: they start again.
  for (auto& [id, st] : pipelines_) {
    st.Mut().durations.clear();
    st.text.reset();  // its le labels
  }
}

void RunHistory::SetMaxPending(std::chrono::nanoseconds max_pending) {
  std::lock_guard lock(mu_);
  max_pending_ = max_pending;
}

void RunHistory::SetJobHistory(bool enabled, std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  jobs_enabled_ = enabled;
  const bool same_buckets = buckets == job_buckets_;
  job_buckets_ = std::move(buckets);
  for (auto& [id, st] : pipelines_) {
    st.text.reset();  // its job families and their le labels
    if (!enabled && !st.ledger().pending_details.empty()) st.Mut().pending_details.clear();
    if (same_buckets) continue;
    // Histograms with other buckets cannot continue: they start again.
    RunLedger& l = st.Mut();
    for (auto& [job, h] : l.job_durations) h = {std::vector<double>(job_buckets_.size())};
    l.stage_durations.clear();
  }
}

void RunHistory::SetObserver(std::shared_ptr<RunObserver> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void RunHistory::VisitShown(
    const std::function<void(const std::string&, const RunLedger&)>& each) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, st] : pipelines_) {
    if (st.ledger().baselined && st.shown) each(id, st.ledger());
  }
}

LedgerSnapshot RunHistory::Snapshot() const {
  std::lock_guard lock(mu_);
  LedgerSnapshot snap;
  snap.buckets = buckets_;
  snap.job_buckets = job_buckets_;
  for (const auto& [id, st] : pipelines_) {
    if (st.ledger().baselined) snap.pipelines.emplace(id, st.ledger());
  }
  return snap;
}

RunLedger& RunHistory::PipelineState::Mut() {
  // A share holds it (its references are only taken and dropped under mu_, as this runs):
  // the share keeps the ledger as it was, this state goes on with a copy.
  if (ledger_.use_count() > 1) ledger_ = std::make_shared<RunLedger>(*ledger_);
  ++gen_;
  return *ledger_;
}

RunHistory::SharedLedgers RunHistory::Share() const {
  std::lock_guard lock(mu_);
  SharedLedgers shared{buckets_, job_buckets_, {}};
  shared.pipelines.reserve(pipelines_.size());
  for (const auto& [id, st] : pipelines_) {
    if (st.ledger().baselined) shared.pipelines.emplace_back(id, st.Shared());
  }
  return shared;
}

void RunHistory::Unshare(SharedLedgers& shared) const {
  std::lock_guard lock(mu_);
  shared.pipelines.clear();  // a ledger only this share held is freed here
}

void RunHistory::Restore(LedgerSnapshot snapshot) {
  std::lock_guard lock(mu_);
  const bool same_buckets = snapshot.buckets == buckets_;
  const bool same_job_buckets = snapshot.job_buckets == job_buckets_;
  size_t reset = 0;
  for (auto& [id, ledger] : snapshot.pipelines) {
    if (!ledger.baselined) continue;
    if (!same_job_buckets) {  // job histograms start again (their keys, the caps, stay)
      for (auto& [job, h] : ledger.job_durations) h = {std::vector<double>(job_buckets_.size())};
      ledger.stage_durations.clear();
    }
    if (!jobs_enabled_) ledger.pending_details.clear();
    if (!same_buckets && !ledger.durations.empty()) {
      ledger.durations.clear();
      ++reset;
    }
    // Histograms that do not match the buckets (a damaged file would be caught by its
    // checksum; this is a second guard) start again rather than render wrong.
    for (auto h = ledger.durations.begin(); h != ledger.durations.end();) {
      h = h->second.counts.size() == buckets_.size() ? std::next(h) : ledger.durations.erase(h);
    }
    for (auto& [job, h] : ledger.job_durations) {
      if (h.counts.size() != job_buckets_.size()) h = {std::vector<double>(job_buckets_.size())};
    }
    std::erase_if(ledger.stage_durations,
                  [&](const auto& e) { return e.second.counts.size() != job_buckets_.size(); });
    PipelineState& st = pipelines_[id];
    st.Set(std::move(ledger));
    st.poll = PollState{};
    st.shown = false;
  }
  if (reset > 0) {
    logging::Warn(
        "run ledger: collect.history_buckets changed since the state was saved; the duration "
        "histograms start again (the run counters continue)",
        {{"pipelines", std::to_string(reset)}});
  }
}

RunLedger::Histogram& RunHistory::HistogramFor(RunLedger& l, const std::string& status) {
  auto& h = l.durations[status];
  if (h.counts.size() != buckets_.size()) h.counts.assign(buckets_.size(), 0);
  return h;
}

void RunHistory::CountFinish(const std::string& pipeline_id, RunLedger& l,
                             const model::RunSummary& run, int64_t jobs_after_ms) {
  l.runs[{run.status, TriggerOf(run)}] += 1;
  if (observer_) observer_->Counted(pipeline_id, l, run);
  if (jobs_enabled_) {
    // Its jobs are counted when its detail comes (this poll, or a later one after a failure).
    l.pending_details[run.id] = {jobs_after_ms, run.end_ms, 0};
    if (l.pending_details.size() > jobs::kMaxPendingDetails) {
      GiveUpDetail(pipeline_id, l, l.pending_details.begin()->first,
                   "too many finished runs wait for their detail");
    }
  }
  if (run.start_ms > 0 && run.end_ms >= run.start_ms) {
    double seconds = static_cast<double>(run.end_ms - run.start_ms) / 1000.0;
    auto& h = HistogramFor(l, run.status);
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), seconds);
    if (it != buckets_.end()) h.counts[it - buckets_.begin()] += 1;
    h.sum += seconds;
    h.count += 1;
  }
}

void RunHistory::GiveUpDetail(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                              const std::string& why) {
  if (l.pending_details.erase(run_id) == 0) return;
  l.jobs_skipped[std::string(jobs::kSkippedDetail)] += 1;
  logging::Warn("job history: giving up on a run's jobs: " + why,
                {{"pipeline_id", pipeline_id}, {"run_id", std::to_string(run_id)}});
}

void RunHistory::Track(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
                       int64_t jobs_after_ms) {
  if (l.tracked.size() >= kMaxTracked) {
    // Bounded: the run waiting longest is given up first.
    auto oldest = std::min_element(l.tracked.begin(), l.tracked.end(), [](auto& a, auto& b) {
      return a.second.since_ms < b.second.since_ms;
    });
    logging::Warn("run history: too many unfinished runs to track; giving up on the oldest",
                  {{"pipeline_id", pipeline_id},
                   {"run_id", std::to_string(oldest->first)},
                   {"status", oldest->second.status},
                   {"tracked", std::to_string(l.tracked.size())}});
    l.seen[oldest->first] = {0, oldest->second.status, "", false, false};
    l.tracked.erase(oldest);
  }
  l.tracked[run.id] = {EpochMs(clock_.WallNow()), run.status, jobs_after_ms};
}

namespace {

// Where the jobs of a resumed run's next finish start: after the finish it resumed from,
// or, when that finish's detail is still pending, after where that one would have started
// (its jobs are then counted with the next finish's detail, once).
int64_t JobsAfter(RunLedger& l, int64_t run_id, const RunLedger::Seen& was) {
  if (auto p = l.pending_details.find(run_id); p != l.pending_details.end()) {
    const int64_t after = p->second.after_ms;
    l.pending_details.erase(p);
    return after;
  }
  return was.end_ms;
}

}  // namespace

void RunHistory::TakeBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                          const RunLedger::Seen& was) {
  if (!was.counted) return;
  l.resumed[{was.status, was.trigger}] += 1;
  if (observer_) observer_->TakenBack(pipeline_id, l, run_id, was.status);
}

// Resumed (a retried or skipped job, a passed checkpoint): the outcome counted before is
// taken back in runs_resumed_total; the next finish is counted again.
void RunHistory::Resume(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run,
                        const RunLedger::Seen& was) {
  TakeBack(pipeline_id, l, run.id, was);
  Track(pipeline_id, l, run, JobsAfter(l, run.id, was));
}

// The decision table for one run seen in a poll: by what the ledger knows of it, tracked
// (HandleTracked), never handled or handled long ago (HandleUnknown), or remembered
// (HandleRemembered).
void RunHistory::Handle(const std::string& pipeline_id, PipelineState& st,
                        const model::RunSummary& run, bool by_id) {
  RunLedger& l = st.Mut();
  const RunLedger::Seen now_seen{run.end_ms, run.status, TriggerOf(run), true, true, by_id};
  if (auto t = l.tracked.find(run.id); t != l.tracked.end()) {
    // Tracked: its finish counts, whenever it comes.
    if (!model::IsFinished(run.status)) {
      t->second.status = run.status;
      return;
    }
    CountFinish(pipeline_id, l, run, t->second.jobs_after_ms);
    l.tracked.erase(t);
    l.seen[run.id] = now_seen;
    return;
  }
  if (l.seen.contains(run.id)) return HandleRemembered(pipeline_id, l, run, now_seen);
  HandleUnknown(pipeline_id, l, run, now_seen);
}

void RunHistory::HandleUnknown(const std::string& pipeline_id, RunLedger& l,
                               const model::RunSummary& run, const RunLedger::Seen& now_seen) {
  const bool finished = model::IsFinished(run.status);
  if (run.id > l.watermark) {  // new since the last poll
    if (!finished) return Track(pipeline_id, l, run, 0);
    if (l.baselined) CountFinish(pipeline_id, l, run, 0);
    l.seen[run.id] = now_seen;
    l.seen[run.id].counted = l.baselined;
    return;
  }
  // Handled long ago (or skipped): whether its finish was counted is not known.
  if (finished) {
    l.seen[run.id] = now_seen;
    l.seen[run.id].counted = false;
    return;
  }
  logging::Info(
      "run history: an earlier run is running again",
      {{"pipeline_id", pipeline_id}, {"run_id", std::to_string(run.id)}, {"status", run.status}});
  // Its earlier finish is not known: its jobs count from now on (never twice).
  Track(pipeline_id, l, run, EpochMs(clock_.WallNow()));
}

void RunHistory::HandleRemembered(const std::string& pipeline_id, RunLedger& l,
                                  const model::RunSummary& run, const RunLedger::Seen& now_seen) {
  const bool finished = model::IsFinished(run.status);
  auto s = l.seen.find(run.id);
  RunLedger::Seen& was = s->second;
  if (!was.finished) {  // given up while unfinished
    if (!finished) return;
    CountFinish(pipeline_id, l, run, 0);
    was = now_seen;
    return;
  }
  if (!finished) {
    logging::Debug(
        "run history: a finished run is running again",
        {{"pipeline_id", pipeline_id}, {"run_id", std::to_string(run.id)}, {"was", was.status}});
    Resume(pipeline_id, l, run, was);
    l.seen.erase(s);
    return;
  }
  if (was.by_id && run.status == was.status) {
    // The end derived from GetPipelineRun may differ from the list's endTime: take the
    // list's as the reference rather than reading a difference as a new finish.
    was.end_ms = run.end_ms;
    was.by_id = false;
    return;
  }
  if (run.end_ms > was.end_ms || was.by_id) {
    // Resumed and finished again between two polls.
    TakeBack(pipeline_id, l, run.id, was);
    if (l.baselined) CountFinish(pipeline_id, l, run, JobsAfter(l, run.id, was));
    was = now_seen;
    was.counted = l.baselined;
  }
}

bool RunHistory::Observe(const std::string& id, int page,
                         const std::vector<model::RunSummary>& runs) {
  std::lock_guard lock(mu_);
  PipelineState& st = pipelines_[id];
  if (page == 1) st.poll = PollState{};
  RunLedger& l = st.Mut();
  int64_t oldest = 0;
  for (const auto& r : runs) {
    oldest = oldest == 0 ? r.id : std::min(oldest, r.id);
    st.poll.ids.insert(r.id);
    st.poll.newest = std::max(st.poll.newest, r.id);
    if (!l.baselined) st.poll.triggers.insert(TriggerOf(r));
    Handle(id, st, r);
  }
  if (oldest != 0) st.poll.oldest = st.poll.oldest == 0 ? oldest : std::min(st.poll.oldest, oldest);
  // The baseline reads page 1 only; later polls read on while a full page holds only ids
  // above the watermark (ids are per-pipeline increasing numbers, so older ones may follow).
  if (!l.baselined || runs.size() < static_cast<size_t>(kPerPage)) return false;
  const bool unread_below = oldest > l.watermark + 1;
  if (page >= kMaxPages) {
    st.poll.capped = unread_below;
    return false;
  }
  return unread_below;
}

std::vector<int64_t> RunHistory::Unseen(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return out;
  for (const auto& [run_id, t] : it->second.ledger().tracked) {
    if (!it->second.poll.ids.contains(run_id)) out.push_back(run_id);
  }
  return out;
}

void RunHistory::ObserveRun(const std::string& id, const model::RunSummary& run) {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end() || !it->second.ledger().tracked.contains(run.id)) return;
  Handle(id, it->second, run, /*by_id=*/true);
}

std::vector<int64_t> RunHistory::PendingDetails(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return {};
  std::set<int64_t> ids;
  if (jobs_enabled_) {
    for (const auto& [run_id, p] : it->second.ledger().pending_details) ids.insert(run_id);
  }
  if (observer_) observer_->WantedDetails(it->second.ledger(), ids);
  return {ids.begin(), ids.end()};
}

void RunHistory::TellObserver(const std::string& id, int64_t run_id, const model::PipelineRun* run,
                              bool gone) {
  if (!observer_) return;
  if (auto it = pipelines_.find(id); it != pipelines_.end()) {
    observer_->Detail(id, it->second.Mut(), run_id, run, gone);
  }
}

std::pair<RunLedger*, RunLedger::PendingDetail*> RunHistory::FindPendingDetail(
    const std::string& id, int64_t run_id) {
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return {nullptr, nullptr};
  if (!it->second.ledger().pending_details.contains(run_id)) return {nullptr, nullptr};
  RunLedger& l = it->second.Mut();
  auto p = l.pending_details.find(run_id);
  if (p == l.pending_details.end()) return {nullptr, nullptr};
  return {&l, &p->second};
}

void RunHistory::ObserveDetail(const std::string& id, int64_t run_id,
                               const model::PipelineRun& run) {
  std::lock_guard lock(mu_);
  TellObserver(id, run_id, &run, false);
  auto [l, pending] = FindPendingDetail(id, run_id);
  if (pending == nullptr) return;
  if (!model::IsFinished(run.status)) {
    // Resumed since: the list shows it next poll and its next finish counts these jobs.
    if (++pending->attempts >= jobs::kMaxDetailAttempts) {
      GiveUpDetail(id, *l, run_id, "its detail never showed it finished");
    }
    return;
  }
  if (!jobs::CountDetail(*l, run, *pending, job_buckets_)) {
    l->jobs_skipped[std::string(jobs::kSkippedCap)] += 1;
    logging::Debug("job history: jobs beyond the caps not counted",
                   {{"pipeline_id", id}, {"run_id", std::to_string(run_id)}});
  }
  l->pending_details.erase(run_id);
}

void RunHistory::DetailFailed(const std::string& id, int64_t run_id, bool gone) {
  std::lock_guard lock(mu_);
  TellObserver(id, run_id, nullptr, gone);
  auto [l, pending] = FindPendingDetail(id, run_id);
  if (pending == nullptr) return;
  if (gone) return GiveUpDetail(id, *l, run_id, "the run no longer exists");
  if (++pending->attempts >= jobs::kMaxDetailAttempts) {
    GiveUpDetail(id, *l, run_id, "its detail could not be fetched");
  }
}

RunLedger RunHistory::LedgerOf(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  return it == pipelines_.end() ? RunLedger{} : it->second.ledger();
}

void RunHistory::Forget(const std::string& id, int64_t run_id) {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end() || !it->second.ledger().tracked.contains(run_id)) return;
  it->second.Mut().tracked.erase(run_id);
  logging::Warn("run history: a tracked run no longer exists; forgetting it",
                {{"pipeline_id", id}, {"run_id", std::to_string(run_id)}});
}

void RunHistory::FinishPoll(const std::string& id, bool complete) {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return;
  RunLedger& l = it->second.Mut();
  PollState poll = std::move(it->second.poll);
  it->second.poll = PollState{};
  it->second.shown = true;
  GiveUpStale(id, l);
  if (!l.baselined) EndBaseline(l, poll);
  if (complete || poll.capped) {
    if (poll.capped && poll.oldest > l.watermark + 1) {
      logging::Warn(
          "run history: more new runs than " + std::to_string(kMaxPages) +
              " pages hold since the last poll; the older ones are not counted "
              "(lower collect.history_interval)",
          {{"pipeline_id", id}, {"not_read", std::to_string(poll.oldest - l.watermark - 1)}});
    }
    l.watermark = std::max(l.watermark, poll.newest);
  }
  if (observer_) observer_->PollEnded(id, l);
  // Remember only what the next poll's pages can show again. After a failed page the next
  // poll reads the pages below again: keep all (a run there may have been resumed and
  // finished again; only its remembered end tells).
  if (poll.oldest > 0 && (complete || poll.capped)) {
    for (auto s = l.seen.begin(); s != l.seen.end() && s->first < poll.oldest;) {
      s = s->first <= l.watermark ? l.seen.erase(s) : std::next(s);
    }
  }
  // A hard bound whatever happens (e.g. pages failing for a long time while runs come).
  while (l.seen.size() > kMaxRemembered) {
    auto lowest = l.seen.begin();
    if (lowest->first > l.watermark) l.watermark = lowest->first;
    l.seen.erase(lowest);
  }
}

// Gives up on runs unfinished for longer than collect.history_max_pending.
void RunHistory::GiveUpStale(const std::string& id, RunLedger& l) {
  const int64_t now_ms = EpochMs(clock_.WallNow());
  const int64_t max_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(max_pending_).count();
  for (auto t = l.tracked.begin(); t != l.tracked.end();) {
    if (now_ms - t->second.since_ms <= max_ms) {
      ++t;
      continue;
    }
    logging::Warn(
        "run history: a run has not finished within collect.history_max_pending; "
        "giving up on it (its finish is not counted unless seen on page 1)",
        {{"pipeline_id", id},
         {"run_id", std::to_string(t->first)},
         {"status", t->second.status},
         {"waited", FormatDuration(std::chrono::milliseconds(now_ms - t->second.since_ms))}});
    l.seen[t->first] = {0, t->second.status, "", false, false};
    t = l.tracked.erase(t);
  }
}

// Ends the baseline: starts the usual series at 0 so that the first finished run shows in
// increase().
void RunHistory::EndBaseline(RunLedger& l, const PollState& poll) {
  for (const auto& trigger : poll.triggers) {
    for (const char* status : {"SUCCESS", "FAIL", "CANCELED"}) l.runs[{status, trigger}] += 0;
    l.resumed[{"FAIL", trigger}] += 0;
  }
  for (const char* status : {"SUCCESS", "FAIL"}) HistogramFor(l, status);
  l.baselined = true;
}

void RunHistory::Retain(const std::set<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (auto it = pipelines_.begin(); it != pipelines_.end();) {
    it = ids.contains(it->first) ? std::next(it) : pipelines_.erase(it);
  }
}

size_t RunHistory::RememberedIds(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return 0;
  return it->second.ledger().seen.size() + it->second.ledger().tracked.size();
}

size_t RunHistory::TrackedIds(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  return it == pipelines_.end() ? 0 : it->second.ledger().tracked.size();
}

const RunLedger* RunHistory::FindLedger(const std::string& id) const {
  auto it = pipelines_.find(id);
  return it == pipelines_.end() ? nullptr : &it->second.ledger();
}

double RunHistory::Count(const std::string& id, const std::string& status,
                         const std::string& trigger) const {
  std::lock_guard lock(mu_);
  const RunLedger* l = FindLedger(id);
  return l ? ValueOr0(l->runs, {status, trigger}) : 0;
}

double RunHistory::Resumed(const std::string& id, const std::string& status,
                           const std::string& trigger) const {
  std::lock_guard lock(mu_);
  const RunLedger* l = FindLedger(id);
  return l ? ValueOr0(l->resumed, {status, trigger}) : 0;
}

double RunHistory::DurationCount(const std::string& id, const std::string& status) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(id);
  if (it == pipelines_.end()) return 0;
  const auto& durations = it->second.ledger().durations;
  auto h = durations.find(status);
  return h == durations.end() ? 0 : h->second.count;
}

size_t RunHistory::TextsRendered() const {
  std::lock_guard lock(mu_);
  return texts_rendered_;
}

// runs_total, runs_resumed_total, run_duration_seconds, then the job history families.
constexpr size_t kTextFamilies = 3 + jobs::kFamilies;

// What one pipeline contributes to each history family, and what it was rendered from: its
// name and a copy of its counters (a poll changes every polled ledger, seldom its counters).
struct PipelineText {
  std::string name;
  RunLedger counters;  // only the fields SameCounters compares
  std::array<std::string, kTextFamilies> families;
};

namespace {

RunLedger CountersOf(const RunLedger& l) {
  RunLedger c;
  c.runs = l.runs;
  c.resumed = l.resumed;
  c.durations = l.durations;
  c.job_runs = l.job_runs;
  c.job_durations = l.job_durations;
  c.stage_durations = l.stage_durations;
  c.jobs_skipped = l.jobs_skipped;
  return c;
}

bool SameCounters(const RunLedger& a, const RunLedger& b) {
  return a.runs == b.runs && a.resumed == b.resumed && a.durations == b.durations &&
         a.job_runs == b.job_runs && a.job_durations == b.job_durations &&
         a.stage_durations == b.stage_durations && a.jobs_skipped == b.jobs_skipped;
}

const metrics::MetricDef& FamilyDef(size_t i) {
  static const std::array<const metrics::MetricDef*, 3> kRunFamilies = {
      &metrics::kRunsTotal, &metrics::kRunsResumedTotal, &metrics::kRunDurationHistogram};
  return i < 3 ? *kRunFamilies[i] : *jobs::kFamilyDefs[i - 3];
}

// Renders a pipeline's text; les: the duration buckets' le labels, job_text: null without
// job history.
std::shared_ptr<const PipelineText> RenderText(const std::string& id, const std::string& name,
                                               const RunLedger& l,
                                               const std::vector<std::string>& les,
                                               jobs::Text* job_text) {
  auto t = std::make_shared<PipelineText>();
  t->name = name;
  t->counters = CountersOf(l);
  const std::string prefix = metrics::PipelinePrefix({id, name});
  std::string& runs_text = t->families[0];
  std::string& resumed_text = t->families[1];
  std::string& durations_text = t->families[2];
  for (const auto& [key, n] : l.runs) {
    metrics::AppendSample(runs_text, metrics::kRunsTotal, prefix, {key.first, key.second}, n);
  }
  for (const auto& [key, n] : l.resumed) {
    metrics::AppendSample(resumed_text, metrics::kRunsResumedTotal, prefix, {key.first, key.second},
                          n);
  }
  const std::string base(metrics::kRunDurationHistogram.name);
  const std::string bucket_name = base + "_bucket", sum_name = base + "_sum",
                    count_name = base + "_count";
  for (const auto& [status, h] : l.durations) {
    const std::string p =
        metrics::ExtendPrefix(prefix, metrics::kRunDurationHistogram, {status}).text;
    double cumulative = 0;
    for (size_t i = 0; i < les.size() && i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      metrics::AppendSample(durations_text, bucket_name, p, {{"le", les[i]}}, cumulative);
    }
    metrics::AppendSample(durations_text, bucket_name, p, {{"le", "+Inf"}}, h.count);
    metrics::AppendSample(durations_text, sum_name, p, {}, h.sum);
    metrics::AppendSample(durations_text, count_name, p, {}, h.count);
  }
  if (job_text) {
    job_text->Add(prefix, l);
    auto parts = job_text->Take();
    std::move(parts.begin(), parts.end(), t->families.begin() + 3);
  }
  return t;
}

}  // namespace

std::vector<std::shared_ptr<const PipelineText>> RunHistory::Texts(
    const std::vector<std::pair<std::string, std::string>>& pipelines) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> les(buckets_.size());
  for (size_t i = 0; i < buckets_.size(); ++i) metrics::AppendValue(les[i], buckets_[i]);
  jobs::Text job_text(job_buckets_);
  std::vector<std::shared_ptr<const PipelineText>> texts;
  texts.reserve(pipelines.size());
  for (const auto& [id, name] : pipelines) {
    auto it = pipelines_.find(id);
    if (it == pipelines_.end() || !it->second.ledger().baselined || !it->second.shown) continue;
    const PipelineState& st = it->second;
    const bool current = st.text && st.text->name == name &&
                         (st.text_gen == st.gen() || SameCounters(st.text->counters, st.ledger()));
    if (!current) {
      st.text = RenderText(id, name, st.ledger(), les, jobs_enabled_ ? &job_text : nullptr);
      ++texts_rendered_;
    }
    st.text_gen = st.gen();
    texts.push_back(st.text);
  }
  return texts;
}

void RunHistory::Render(std::string& out,
                        const std::vector<std::pair<std::string, std::string>>& pipelines) const {
  const auto texts = Texts(pipelines);
  // Outside the lock: the texts are not changed once made (a new one replaces a stale one).
  size_t size = 0;
  for (const auto& t : texts) {
    for (const auto& f : t->families) size += f.size();
  }
  out.reserve(out.size() + size + 1024);  // and the headers
  for (size_t f = 0; f < kTextFamilies; ++f) {
    bool header = false;
    for (const auto& t : texts) {
      if (t->families[f].empty()) continue;
      if (!header) metrics::AppendHeader(out, FamilyDef(f));
      header = true;
      out += t->families[f];
    }
  }
}

// ---- Polling: I/O around the ledger ----

namespace {

// One PollRunHistory call, shared by its callbacks. Finish() of the last pipeline releases
// the caller: nothing may touch api/history after it.
struct Poll {
  Poll(flowapi::Api& a, RunHistory& h, Clock::Steady d,
       std::function<void(std::string_view)> on_error, size_t n)
      : api(a), history(h), deadline(d), on_decode_error(std::move(on_error)), remaining(n) {}
  flowapi::Api& api;
  RunHistory& history;
  const Clock::Steady deadline;
  const std::function<void(std::string_view)> on_decode_error;
  std::promise<void> done;
  std::atomic<size_t> remaining;
  void Finish() {
    if (--remaining == 0) done.set_value();
  }
};

// A run fetched by id, as a run list item: GetPipelineRun has no top-level end time.
model::RunSummary SummaryOf(int64_t run_id, const model::PipelineRun& run) {
  model::RunSummary s;
  s.id = run_id;
  s.status = run.status;
  s.trigger_mode = run.trigger_mode;
  s.start_ms = run.create_ms;
  s.end_ms = model::IsFinished(run.status) ? metrics::RunEndMs(run) : 0;
  return s;
}

// Job history and delivery: the detail of each counted finish they wait for, then the
// end of the pipeline's poll.
void FetchDetails(const std::shared_ptr<Poll>& p, const std::string& id, bool complete) {
  std::vector<int64_t> pending = p->history.PendingDetails(id);
  if (pending.empty()) {
    p->history.FinishPoll(id, complete);
    p->Finish();
    return;
  }
  auto left = std::make_shared<std::atomic<size_t>>(pending.size());
  for (int64_t run_id : pending) {
    p->api.GetRun(id, run_id, p->deadline, [p, id, run_id, complete, left](flowapi::ApiResult r) {
      if (r.ok) {
        auto run = model::DecodePipelineRun(r.body);
        if (run.ok()) {
          p->history.ObserveDetail(id, run_id, *run);
        } else {
          p->on_decode_error(flowapi::kGetRun);
          p->history.DetailFailed(id, run_id, false);
        }
      } else {
        if (r.status != 404) {
          logging::Warn(
              "cannot fetch a finished run's detail (job history, delivery); trying again next "
              "poll",
              {{"pipeline_id", id}, {"run_id", std::to_string(run_id)}, {"err", r.error}});
        }
        p->history.DetailFailed(id, run_id, r.status == 404);
      }
      if (--*left == 0) {
        p->history.FinishPoll(id, complete);
        p->Finish();
      }
    });
  }
}

void FetchUnseen(const std::shared_ptr<Poll>& p, const std::string& id, bool complete) {
  std::vector<int64_t> unseen = p->history.Unseen(id);
  if (unseen.empty()) return FetchDetails(p, id, complete);
  auto left = std::make_shared<std::atomic<size_t>>(unseen.size());
  for (int64_t run_id : unseen) {
    p->api.GetRun(id, run_id, p->deadline, [p, id, run_id, complete, left](flowapi::ApiResult r) {
      if (r.ok) {
        auto run = model::DecodePipelineRun(r.body);
        if (run.ok() && !run->status.empty()) {
          p->history.ObserveRun(id, SummaryOf(run_id, *run));
          p->history.ObserveDetail(id, run_id, *run);  // no second request for its jobs
        } else {
          p->on_decode_error(flowapi::kGetRun);
          logging::Warn("run history: cannot decode a tracked run",
                        {{"pipeline_id", id},
                         {"run_id", std::to_string(run_id)},
                         {"err", run.ok() ? "no status" : run.error()}});
        }
      } else if (r.status == 404) {
        p->history.Forget(id, run_id);
      } else {
        logging::Warn("run history: cannot fetch a tracked run; trying again next poll",
                      {{"pipeline_id", id}, {"run_id", std::to_string(run_id)}, {"err", r.error}});
      }
      if (--*left == 0) FetchDetails(p, id, complete);
    });
  }
}

void ReadPage(const std::shared_ptr<Poll>& p, const std::string& id, int page) {
  p->api.ListRuns(id, page, RunHistory::kPerPage, p->deadline, [p, id, page](flowapi::ApiResult r) {
    if (!r.ok) {
      logging::Warn("run history poll failed", {{"pipeline_id", id}, {"err", r.error}});
    } else if (auto runs = model::DecodeRunList(r.body); !runs.ok()) {
      p->on_decode_error(flowapi::kListRuns);
      logging::Warn("cannot decode the run list", {{"pipeline_id", id}, {"err", runs.error()}});
    } else {
      if (p->history.Observe(id, page, *runs)) return ReadPage(p, id, page + 1);
      return FetchUnseen(p, id, true);
    }
    // A failed first page leaves the ledger as it was (and the baseline to come); a
    // failed later page ends the poll with those pages to read again.
    if (page == 1) return p->Finish();
    FetchUnseen(p, id, false);
  });
}

}  // namespace

void PollRunHistory(flowapi::Api& api, RunHistory& history, const std::set<std::string>& ids,
                    Clock::Steady deadline,
                    const std::function<void(std::string_view endpoint)>& on_decode_error) {
  if (ids.empty()) return;
  auto p = std::make_shared<Poll>(api, history, deadline, on_decode_error, ids.size());
  auto done = p->done.get_future();
  for (const auto& id : ids) ReadPage(p, id, 1);
  done.wait();  // every request is answered by the deadline or on stop
}

}  // namespace yfe::collector
