#include "collector/collector.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <optional>

#include "http/gzip_segments.h"
#include "metrics/catalog.h"
#include "metrics/exposition.h"
#include "model/decode.h"
#include "util/duration.h"
#include "util/log.h"

namespace yfe::collector {

using metrics::kPipelineMetrics;
using metrics::kRunMetricCount;

namespace {

// zlib levels, chosen by measurement (docs/performance.md): the stored per-pipeline text is
// compressed on every run change and only read back when its group is compressed again;
// group segments are what scrapers receive, compressed once per change; the tail is
// compressed on every scrape.
constexpr int kStoreLevel = 1;
constexpr int kSegmentLevel = 4;
constexpr int kTailLevel = 1;

}  // namespace

// One pipeline's rendered run families, compressed (about 10:1) rather than kept as text:
// at 10,000 pipelines the text alone would be 126 MB.
struct Collector::PipelineText {
  http::Segment all;  // every run family's lines, concatenated in catalog order
  std::array<uint32_t, kRunMetricCount> bytes{};  // of each family within `all`

  explicit PipelineText(const metrics::RunFragments& f) {
    std::string text;
    text.reserve(f.Bytes());
    for (size_t i = 0; i < kRunMetricCount; ++i) {
      bytes[i] = static_cast<uint32_t>(f.text[i].size());
      text += f.text[i];
    }
    all = http::DeflateSegment(text, kStoreLevel);
  }
};

namespace {

// A run cut by a render cap is logged at most this often per pipeline.
constexpr std::chrono::hours kTruncationWarnEvery{1};

}  // namespace

// Immutable once published: readers hold it by shared_ptr without locks.
struct Collector::Snapshot {
  std::shared_ptr<const PipelineText> text;
  size_t body_hash = 0;
  std::string rendered_name;
  Clock::Steady fetched_at{};
  double success_wall_seconds = 0;
  bool no_run = false;  // the pipeline exists and has never run
};

struct Collector::Countdown {
  std::mutex mu;
  std::condition_variable cv;
  size_t remaining = 0;

  void Done() {
    std::lock_guard lock(mu);
    if (remaining > 0 && --remaining == 0) cv.notify_all();
  }
  // Waits on the real clock: an injected test clock does not move by itself.
  bool WaitFor(std::chrono::nanoseconds budget) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, budget, [&] { return remaining == 0; });
  }
  size_t Remaining() {
    std::lock_guard lock(mu);
    return remaining;
  }
};

struct Collector::Flight {
  int pending = 0;  // requests not yet answered
  Clock::Steady deadline{};
  bool existence_checked = false;  // a GetPipeline was sent after a "no run yet" answer
  std::optional<flowapi::ApiResult> run;
  std::optional<flowapi::ApiResult> name;
  std::vector<std::shared_ptr<Countdown>> waiters;
};

struct Collector::Entry {
  std::string id;
  std::string configured_name;
  // Guarded by Collector::mu_:
  std::string api_name;
  Clock::Steady name_fetched_at{};
  bool name_known = false;
  bool listed = false;
  std::shared_ptr<const Snapshot> good;
  bool last_ok = false;
  std::shared_ptr<Flight> flight;
  // The name changed: fetch again (and render under the new name) while the data already
  // fetched keeps being served.
  bool refetch = false;
  // Failure backoff: consecutive failed fetches, and no new fetch before retry_at.
  int failures = 0;
  Clock::Steady retry_at{};
  // The last failure logged, and when: the same error is logged once per backoff cap.
  std::string logged_error;
  Clock::Steady error_logged_at{};
  std::optional<Clock::Steady> truncation_warned_at;

  std::string Name() const { return std::string(NameView()); }
  std::string_view NameView() const {
    if (!configured_name.empty()) return configured_name;
    if (name_known && !api_name.empty()) return api_name;
    return id;
  }
  // The label prefix of this pipeline's series, made again only when the name changes.
  const std::shared_ptr<const std::string>& Prefix() {
    std::string_view name = NameView();
    if (!prefix || prefix_name != name) {
      prefix_name = name;
      prefix = std::make_shared<const std::string>(metrics::PipelinePrefix({id, name}));
    }
    return prefix;
  }
  std::shared_ptr<const std::string> prefix;
  std::string prefix_name;
};

Collector::Collector(CollectorOptions options, flowapi::Api& api,
                     metrics::SelfMetrics& self_metrics, const Clock& clock)
    : options_(std::move(options)),
      cache_note_(" Cached: fetched at most every " + FormatDuration(options_.cache_ttl) + "."),
      api_(api),
      self_metrics_(self_metrics),
      clock_(clock) {}

Collector::~Collector() = default;

void Collector::SetTargets(std::vector<Target> targets) {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Entry>> next;
  std::unordered_map<std::string, std::shared_ptr<Entry>> next_by_id;
  for (auto& t : targets) {
    if (next_by_id.contains(t.id)) continue;
    std::shared_ptr<Entry> e;
    if (auto it = by_id_.find(t.id); it != by_id_.end()) {
      e = it->second;
    } else if (auto seed = seeds_.find(t.id); seed != seeds_.end()) {
      e = seed->second;
      seeds_.erase(seed);
    }
    if (e) {
      e->listed = t.listed;
      if (e->configured_name != t.name) {
        e->configured_name = t.name;
        // The cached text carries the old name: fetch and render again, and until then
        // keep serving what was fetched (within max_stale), as for any failed fetch.
        if (e->good) e->refetch = true;
      }
    } else {
      e = std::make_shared<Entry>();
      e->id = t.id;
      e->configured_name = t.name;
      e->listed = t.listed;
    }
    next_by_id.emplace(e->id, e);
    next.push_back(e);
  }
  targets_ = std::move(next);
  by_id_ = std::move(next_by_id);
  const auto now = clock_.Now();
  std::erase_if(seeds_, [&](const auto& kv) {
    const auto& good = kv.second->good;
    return !good || now - good->fetched_at > options_.max_stale;
  });
}

bool Collector::WaitIdle(std::chrono::nanoseconds budget) const {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, budget, [this] { return flights_ == 0; });
}

void Collector::Seed(const Collector& previous) {
  if (&previous == this) return;
  const bool same_render = previous.options_.render == options_.render;
  std::scoped_lock lock(mu_, previous.mu_);
  const auto now = clock_.Now();
  for (const auto& [id, old] : previous.by_id_) {
    auto e = std::make_shared<Entry>();
    e->id = id;
    e->configured_name = old->configured_name;
    e->api_name = old->api_name;
    e->name_fetched_at = old->name_fetched_at;
    e->name_known = old->name_known;
    if (same_render && old->good && now - old->good->fetched_at <= options_.max_stale) {
      e->good = old->good;
      e->last_ok = old->last_ok;
      e->refetch = old->refetch;
    }
    e->failures = old->failures;
    e->retry_at = old->retry_at;
    e->logged_error = old->logged_error;
    e->error_logged_at = old->error_logged_at;
    e->truncation_warned_at = old->truncation_warned_at;
    seeds_[id] = std::move(e);
  }
}

size_t Collector::TargetCount() const {
  std::lock_guard lock(mu_);
  return targets_.size();
}

std::vector<std::pair<std::string, std::string>> Collector::Named() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(targets_.size());
  for (const auto& e : targets_) out.emplace_back(e->id, e->Name());
  return out;
}

void Collector::AddExtraRenderer(ExtraRenderer r) {
  std::lock_guard lock(mu_);
  extra_.push_back(std::move(r));
}

void Collector::StartFlight(const std::shared_ptr<Entry>& e, Clock::Steady deadline,
                            bool fetch_name) {
  // Called without mu_ held: callbacks may run inline if the transport is stopping.
  if (fetch_name) {
    api_.GetPipeline(e->id, deadline,
                     [this, e](flowapi::ApiResult r) { OnFlightResult(e, false, std::move(r)); });
  }
  api_.GetLatestRun(e->id, deadline,
                    [this, e](flowapi::ApiResult r) { OnFlightResult(e, true, std::move(r)); });
}

void Collector::OnFlightResult(const std::shared_ptr<Entry>& e, bool is_run, flowapi::ApiResult r) {
  bool last = false;
  {
    std::lock_guard lock(mu_);
    auto& f = e->flight;
    if (!f) return;
    (is_run ? f->run : f->name) = std::move(r);
    last = --f->pending == 0;
  }
  if (last) FinishFlight(e);
}

void Collector::FinishFlight(const std::shared_ptr<Entry>& e) {
  if (CheckExistenceFirst(e)) return;
  std::shared_ptr<Flight> flight;
  std::shared_ptr<const Snapshot> previous;
  std::string name;
  bool exists = false;
  {
    std::lock_guard lock(mu_);
    flight = e->flight;
    previous = e->good;
    if (flight->name) ApplyName(*e, *flight);
    name = e->Name();
    exists = e->listed || e->name_known;
  }
  std::string error;
  auto fresh = SnapshotOf(*e, *flight, previous, name, exists, error);
  Settle(e, *flight, std::move(fresh), error);
}

// "No run yet" from a pipeline not known to exist (or one that had runs: it may have been
// deleted): GetPipeline tells first. True when that request was sent (the flight goes on).
bool Collector::CheckExistenceFirst(const std::shared_ptr<Entry>& e) {
  std::unique_lock lock(mu_);
  Flight& flight = *e->flight;
  const bool had_runs = e->good && !e->good->no_run;
  if (flight.name || flight.existence_checked || e->listed || (e->name_known && !had_runs) ||
      !model::IsNoRunAnswer(flight.run->ok, flight.run->status, flight.run->body)) {
    return false;
  }
  flight.existence_checked = true;
  flight.pending = 1;
  const auto deadline = flight.deadline;
  lock.unlock();
  api_.GetPipeline(e->id, deadline,
                   [this, e](flowapi::ApiResult r) { OnFlightResult(e, false, std::move(r)); });
  return true;
}

// The GetPipeline answer of a flight: the pipeline's name, or that it is gone. Under mu_.
void Collector::ApplyName(Entry& e, const Flight& flight) {
  const flowapi::ApiResult& answer = *flight.name;
  e.name_fetched_at = clock_.Now();
  if (answer.ok) {
    auto p = model::DecodePipeline(answer.body, e.id);
    if (p.ok()) {
      e.api_name = p->name;
      e.name_known = true;
    } else {
      self_metrics_.CountDecodeError(flowapi::kGetPipeline);
      logging::Warn("cannot decode pipeline name; using the id",
                    {{"pipeline_id", e.id}, {"err", p.error()}});
    }
    return;
  }
  if (answer.status == 404) e.name_known = false;  // deleted
  // A refusal (permission, organization) was logged once by the client; the failed fetch
  // says what else went wrong.
  if (!flight.existence_checked && answer.kind != flowapi::ErrorKind::kPermission &&
      answer.kind != flowapi::ErrorKind::kOrganization) {
    logging::Warn("cannot fetch pipeline name; using the id",
                  {{"pipeline_id", e.id}, {"err", answer.error}});
  }
}

std::shared_ptr<Collector::Snapshot> Collector::NewSnapshot(size_t body_hash,
                                                            const std::string& name) const {
  auto s = std::make_shared<Snapshot>();
  s->body_hash = body_hash;
  s->rendered_name = name;
  s->fetched_at = clock_.Now();
  s->success_wall_seconds =
      std::chrono::duration<double>(clock_.WallNow().time_since_epoch()).count();
  return s;
}

// What a finished flight's latest-run answer makes: a new snapshot (the rendered text
// reused when the run did not change), or null and the error.
std::shared_ptr<Collector::Snapshot> Collector::SnapshotOf(
    Entry& e, const Flight& flight, const std::shared_ptr<const Snapshot>& previous,
    const std::string& name, bool exists, std::string& error) {
  const flowapi::ApiResult& run = *flight.run;
  if (exists && model::IsNoRunAnswer(run.ok, run.status, run.body)) {
    // A pipeline that never ran: no latest-run series, its info still exported.
    auto fresh = NewSnapshot(std::hash<std::string_view>()("(no run yet)"), name);
    fresh->no_run = true;
    fresh->text = std::make_shared<const PipelineText>(metrics::RenderNoRun({e.id, name}));
    return fresh;
  }
  if (!run.ok) {
    error = run.error;
    return nullptr;
  }
  if (model::IsNoRunAnswer(run.ok, run.status, run.body)) {
    error = "the latest run is empty and the pipeline is not known to exist (GetPipeline: " +
            (flight.name && !flight.name->ok ? flight.name->error : std::string("no answer")) + ")";
    return nullptr;
  }
  auto fresh = NewSnapshot(std::hash<std::string_view>()(run.body), name);
  if (previous && previous->body_hash == fresh->body_hash && previous->rendered_name == name) {
    fresh->text = previous->text;  // unchanged run: no decode, no render
    return fresh;
  }
  auto decoded = model::DecodePipelineRun(run.body);
  if (!decoded.ok()) {
    self_metrics_.CountDecodeError(flowapi::kLatestRun);
    error = "cannot decode the latest run: " + decoded.error();
    return nullptr;
  }
  auto frags = metrics::RenderRun({e.id, name}, *decoded, options_.render);
  for (const auto& w : frags.warnings) {
    logging::Warn("unusual run data", {{"pipeline_id", e.id}, {"detail", w}});
  }
  if (frags.Truncated()) NoteTruncation(e, frags);
  fresh->text = std::make_shared<const PipelineText>(frags);
  return fresh;
}

// Publishes a flight's outcome (the failure backoff on an error) and wakes its waiters.
void Collector::Settle(const std::shared_ptr<Entry>& e, Flight& flight,
                       std::shared_ptr<Snapshot> fresh, const std::string& error) {
  std::vector<std::shared_ptr<Countdown>> waiters;
  bool log_failure = false, log_recovery = false;
  int failures = 0;
  std::chrono::nanoseconds backoff{0};
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    if (fresh) e->good = std::move(fresh);
    e->last_ok = error.empty();
    if (e->last_ok) {
      log_recovery = e->failures > 0;
      e->failures = 0;
      e->refetch = false;
      e->logged_error.clear();
    } else {
      failures = ++e->failures;
      backoff = FailureBackoff(e->failures);
      e->retry_at = now + backoff;
      // Once per streak and error, and again at most once per backoff cap.
      log_failure = error != e->logged_error || now - e->error_logged_at >= MaxFailureBackoff();
      if (log_failure) {
        e->logged_error = error;
        e->error_logged_at = now;
      }
    }
    waiters = std::move(flight.waiters);
    e->flight = nullptr;
    if (--flights_ == 0) idle_.notify_all();
  }
  if (log_failure) {
    logging::Warn("fetch failed", {{"pipeline_id", e->id},
                                   {"err", error},
                                   {"failures", std::to_string(failures)},
                                   {"next_attempt_in", FormatDuration(backoff)}});
  }
  if (log_recovery) logging::Info("fetch recovered", {{"pipeline_id", e->id}});
  for (auto& w : waiters) w->Done();
}

std::chrono::nanoseconds Collector::MaxFailureBackoff() const {
  return options_.cache_ttl * std::max(1, options_.max_failure_backoff_ttls);
}

std::chrono::nanoseconds Collector::FailureBackoff(int failures) const {
  // cache_ttl, 2x, 4x, ... up to the cap; durations are bounded by the config (24h), so the
  // shift cannot overflow.
  const int doublings = std::clamp(failures - 1, 0, 16);
  return std::min(options_.cache_ttl * (int64_t{1} << doublings), MaxFailureBackoff());
}

void Collector::NoteTruncation(Entry& e, const metrics::RunFragments& f) {
  std::string limits;
  for (size_t i = 0; i < f.cut.size(); ++i) {
    if (!f.cut[i]) continue;
    self_metrics_.CountRunTruncated(metrics::kCutNames[i]);
    limits += (limits.empty() ? "" : ",") + std::string(metrics::kCutNames[i]);
  }
  bool warn = false;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    if (!e.truncation_warned_at || now - *e.truncation_warned_at >= kTruncationWarnEvery) {
      e.truncation_warned_at = now;
      warn = true;
    }
  }
  if (warn) {
    logging::Warn(
        "latest run too large: some stage and job series were cut",
        {{"pipeline_id", e.id}, {"limits", limits}, {"rendered_bytes", std::to_string(f.Bytes())}});
  }
}

std::shared_ptr<const http::Body> Collector::Scrape() {
  const auto start = clock_.Now();
  auto targets = Fetch(options_.scrape_deadline, FetchMode::kScrape, nullptr);
  return Render(targets, start);
}

void Collector::WarmUp(std::chrono::nanoseconds budget) {
  size_t total = TargetCount();
  if (total == 0) return;
  const auto start = clock_.Now();
  logging::Info("first fetch of every pipeline", {{"pipelines", std::to_string(total)}});
  Fetch(budget, FetchMode::kWarmUp, [&](size_t remaining) {
    logging::Info("first fetch progress", {{"fetched", std::to_string(total - remaining)},
                                           {"pipelines", std::to_string(total)}});
  });
  logging::Info(
      "first fetch done",
      {{"pipelines", std::to_string(total)},
       {"seconds", std::to_string(std::chrono::duration<double>(clock_.Now() - start).count())}});
}

std::vector<std::shared_ptr<Collector::Entry>> Collector::Fetch(
    std::chrono::nanoseconds budget, FetchMode mode, const std::function<void(size_t)>& progress) {
  const auto start = clock_.Now();
  const auto deadline = start + budget;
  auto countdown = std::make_shared<Countdown>();
  std::vector<std::shared_ptr<Entry>> targets;
  std::vector<std::pair<std::shared_ptr<Entry>, bool>> to_start;  // entry, fetch name
  size_t hits = 0, misses = 0;
  {
    std::lock_guard lock(mu_);
    targets = targets_;
    for (auto& e : targets) {
      const bool fresh =
          e->good && e->last_ok && !e->refetch && start - e->good->fetched_at < options_.cache_ttl;
      const bool backing_off = !e->last_ok && e->failures > 0 && start < e->retry_at;
      if ((fresh || backing_off) && !e->flight) {
        ++hits;
        continue;
      }
      ++misses;
      countdown->remaining++;
      if (!e->flight) {
        e->flight = std::make_shared<Flight>();
        ++flights_;
        e->flight->deadline = deadline;
        bool fetch_name = e->configured_name.empty() &&
                          (!e->name_known || start - e->name_fetched_at > options_.name_refresh);
        e->flight->pending = fetch_name ? 2 : 1;
        to_start.emplace_back(e, fetch_name);
      }
      e->flight->waiters.push_back(countdown);
    }
  }
  if (mode == FetchMode::kScrape) {  // the start-up warm-up is not a scrape's cache lookup
    self_metrics_.CountCache(true, static_cast<double>(hits));
    self_metrics_.CountCache(false, static_cast<double>(misses));
  }
  for (auto& [e, fetch_name] : to_start) StartFlight(e, deadline, fetch_name);
  Await(*countdown, targets, deadline, to_start.size() >= kGroupSize, progress);
  return targets;
}

void Collector::Await(Countdown& countdown, const std::vector<std::shared_ptr<Entry>>& targets,
                      Clock::Steady deadline, bool prebuild,
                      const std::function<void(size_t)>& progress) {
  // While waiting: the groups whose members have landed are compressed (every 100 ms, when
  // the fetch is long enough to have whole groups land) and progress is reported every 5 s.
  // The waits are on the real clock (see Countdown), bounded by the budget left.
  using Real = std::chrono::steady_clock;
  constexpr auto kPrebuildEvery = std::chrono::milliseconds(100);
  constexpr auto kProgressEvery = std::chrono::seconds(5);
  const auto real_end =
      Real::now() + std::max(std::chrono::nanoseconds(0), deadline - clock_.Now());
  auto next_progress = Real::now() + kProgressEvery;
  while (true) {
    std::chrono::nanoseconds slice = real_end - Real::now();
    if (prebuild) slice = std::min<std::chrono::nanoseconds>(slice, kPrebuildEvery);
    if (progress) slice = std::min<std::chrono::nanoseconds>(slice, next_progress - Real::now());
    if (countdown.WaitFor(std::max(std::chrono::nanoseconds(0), slice))) return;
    if (Real::now() >= real_end || clock_.Now() >= deadline) return;
    if (prebuild) Prebuild(targets);
    if (progress && Real::now() >= next_progress) {
      progress(countdown.Remaining());
      next_progress = Real::now() + kProgressEvery;
    }
  }
}

// kGroupSize consecutive targets: for each run family, the group's lines of that family
// as one compressed segment, and likewise for the fetch state families. Rebuilt only when
// a member's run text or fetch state changes. Immutable once published.
struct Collector::Group {
  struct Status {
    std::shared_ptr<const std::string> prefix;  // compared by identity: see Entry::Prefix
    bool success = false;
    bool served = false;  // has a snapshot to serve: a last-success timestamp
    double success_wall_seconds = 0;
    bool operator==(const Status&) const = default;
  };
  std::vector<std::shared_ptr<const PipelineText>> members;  // null: nothing served
  std::vector<Status> status;
  std::array<std::shared_ptr<const http::Segment>, kRunMetricCount> run;  // null: no lines
  std::shared_ptr<const http::Segment> success, last_success;
};

// One cache generation: what every scrape of an unchanged cache shares.
struct Collector::Generation {
  std::vector<std::shared_ptr<const Group>> groups;
  std::shared_ptr<const http::SegmentList> segments;
};

namespace {

std::shared_ptr<const http::Segment> Compress(std::string_view text, int level) {
  if (text.empty()) return nullptr;
  return std::make_shared<const http::Segment>(http::DeflateSegment(text, level));
}

}  // namespace

// What a scrape serves of one target: its fetch state and the snapshot, if any.
struct Collector::Row {
  Group::Status status;
  std::shared_ptr<const Snapshot> snapshot;  // null: nothing to serve
  bool in_flight = false;                    // a fetch of it is running
};

std::shared_ptr<const http::Body> Collector::Render(
    const std::vector<std::shared_ptr<Entry>>& targets, Clock::Steady start) {
  std::vector<ExtraRenderer> extra;
  {
    std::lock_guard lock(mu_);
    extra = extra_;
  }
  std::shared_ptr<const http::SegmentList> head = Segments(RowsOf(targets));

  // The tail changes on every scrape; it is small and compressed each time.
  std::string out;
  metrics::AppendHeader(out, metrics::kUp);
  metrics::AppendSample(out, metrics::kUp, "", {}, api_.ApiUp(start - options_.cache_ttl) ? 1 : 0);
  metrics::AppendHeader(out, metrics::kBuildInfo);
  metrics::AppendSample(out, metrics::kBuildInfo, "", {options_.version, options_.revision}, 1);
  for (auto& r : extra) r(out);
  metrics::AppendHeader(out, metrics::kScrapeDuration);
  metrics::AppendSample(out, metrics::kScrapeDuration, "", {},
                        std::chrono::duration<double>(clock_.Now() - start).count());
  out += self_metrics_.Render();
  return http::MakeSegmentedBody(std::move(head), http::DeflateSegment(out, kTailLevel, true));
}

std::vector<Collector::Row> Collector::RowsOf(const std::vector<std::shared_ptr<Entry>>& targets) {
  std::vector<Row> rows;
  rows.reserve(targets.size());
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  for (auto& e : targets) {
    Row row;
    // The outcome of the last fetch that finished: a fetch still in flight (another
    // scrape's) does not make a healthy pipeline flap to 0.
    row.status.success = e->last_ok;
    if (e->good && (row.status.success || now - e->good->fetched_at <= options_.max_stale)) {
      row.snapshot = e->good;
      row.status.served = true;
      row.status.success_wall_seconds = e->good->success_wall_seconds;
    }
    row.status.prefix = e->Prefix();
    row.in_flight = e->flight != nullptr;
    rows.push_back(std::move(row));
  }
  return rows;
}

// The pipelines' part of the body: the previous generation's when no group changed.
std::shared_ptr<const http::SegmentList> Collector::Segments(const std::vector<Row>& rows) {
  // One render at a time: concurrent scrapes of an unchanged cache find the generation
  // the first one built and share it.
  std::lock_guard lock(render_mu_);
  const auto previous = generation_;
  const size_t groups = (rows.size() + kGroupSize - 1) / kGroupSize;
  auto next = std::make_shared<Generation>();
  next->groups.reserve(groups);
  bool changed = !previous || previous->groups.size() != groups;
  for (size_t g = 0; g < groups; ++g) {
    const size_t first = g * kGroupSize;
    const size_t last = std::min(rows.size(), first + kGroupSize);
    const auto* old = previous && g < previous->groups.size() ? &previous->groups[g] : nullptr;
    const bool ready = prebuilt_.size() == groups && prebuilt_[g] &&
                       GroupOf(rows, first, last, &prebuilt_[g]) == prebuilt_[g];
    // A group built while the fetch was still running (Prebuild), if it still shows these rows.
    next->groups.push_back(ready ? prebuilt_[g] : GroupOf(rows, first, last, old));
    changed = changed || !old || next->groups.back() != *old;
  }
  prebuilt_.clear();
  prebuilding_.clear();
  if (!changed) return previous->segments;
  next->segments = SegmentListOf(*next);
  generation_ = next;
  return next->segments;
}

// While a long fetch runs: the groups whose members have all landed are built ahead of the
// render at its end, which then has only the last groups left to compress (the work overlaps
// the API's latency). Two waiting scrapes do not build the same group.
void Collector::Prebuild(const std::vector<std::shared_ptr<Entry>>& targets) {
  const auto rows = RowsOf(targets);
  const size_t groups = (rows.size() + kGroupSize - 1) / kGroupSize;
  for (size_t g = 0; g < groups; ++g) {
    const size_t first = g * kGroupSize;
    const size_t last = std::min(rows.size(), first + kGroupSize);
    if (std::any_of(rows.begin() + first, rows.begin() + last,
                    [](const Row& r) { return r.in_flight; })) {
      continue;
    }
    std::shared_ptr<const Group> base;  // what the render would start from
    {
      std::lock_guard lock(render_mu_);
      if (prebuilt_.size() != groups) {
        prebuilt_.assign(groups, nullptr);
        prebuilding_.assign(groups, false);
      }
      if (prebuilding_[g]) continue;
      base = prebuilt_[g] ? prebuilt_[g]
                          : (generation_ && g < generation_->groups.size() ? generation_->groups[g]
                                                                           : nullptr);
      if (base && GroupOf(rows, first, last, &base) == base) continue;  // nothing to do
      prebuilding_[g] = true;
    }
    auto built = GroupOf(rows, first, last, base ? &base : nullptr);  // outside the lock
    std::lock_guard lock(render_mu_);
    if (prebuilt_.size() == groups) {
      prebuilt_[g] = std::move(built);
      prebuilding_[g] = false;
    }
  }
}

size_t Collector::PrebuiltGroups() const {
  std::lock_guard lock(render_mu_);
  return static_cast<size_t>(std::count_if(prebuilt_.begin(), prebuilt_.end(),
                                           [](const auto& g) { return g != nullptr; }));
}

// Rows [first, last) as a group: `old` itself when nothing changed, else a new group that
// reuses old's run segments or status segments when those did not change.
std::shared_ptr<const Collector::Group> Collector::GroupOf(
    const std::vector<Row>& rows, size_t first, size_t last,
    const std::shared_ptr<const Group>* old_ptr) {
  const Group* old = old_ptr ? old_ptr->get() : nullptr;
  bool same_run = old && old->members.size() == last - first;
  bool same_status = same_run;
  for (size_t i = first; i < last && (same_run || same_status); ++i) {
    const auto& r = rows[i];
    same_run = same_run &&
               old->members[i - first].get() == (r.snapshot ? r.snapshot->text.get() : nullptr);
    same_status = same_status && old->status[i - first] == r.status;
  }
  if (same_run && same_status) return *old_ptr;
  auto group = std::make_shared<Group>();
  for (size_t i = first; i < last; ++i) {
    group->members.push_back(rows[i].snapshot ? rows[i].snapshot->text : nullptr);
    group->status.push_back(rows[i].status);
  }
  if (same_run) {
    group->run = old->run;
  } else {
    CompressRuns(*group);
  }
  if (same_status) {
    group->success = old->success;
    group->last_success = old->last_success;
  } else {
    const auto& ok_def = kPipelineMetrics[metrics::kFetchSuccess];
    const auto& ts_def = kPipelineMetrics[metrics::kFetchLastSuccess];
    std::string ok, ts;
    for (const auto& st : group->status) {
      metrics::AppendSample(ok, ok_def, *st.prefix, {}, st.success);
      if (st.served) metrics::AppendSample(ts, ts_def, *st.prefix, {}, st.success_wall_seconds);
    }
    group->success = Compress(ok, kSegmentLevel);
    group->last_success = Compress(ts, kSegmentLevel);
  }
  return group;
}

// The group's run segments: each family's lines of every member, compressed.
void Collector::CompressRuns(Group& group) {
  std::array<std::string, kRunMetricCount> family;
  std::string scratch;
  for (const auto& m : group.members) {
    if (!m) continue;
    scratch.clear();
    if (!http::InflateSegment(m->all, scratch)) continue;  // cannot happen: ours
    size_t at = 0;
    for (size_t f = 0; f < kRunMetricCount; ++f) {
      family[f].append(scratch, at, m->bytes[f]);
      at += m->bytes[f];
    }
  }
  for (size_t f = 0; f < kRunMetricCount; ++f) group.run[f] = Compress(family[f], kSegmentLevel);
}

// Families in catalog order; all samples of one family are contiguous, each family under
// its header.
std::shared_ptr<const http::SegmentList> Collector::SegmentListOf(const Generation& next) const {
  auto list = std::make_shared<http::SegmentList>();
  auto family_run = [&](const metrics::MetricDef& def, std::string_view note, auto segment_of) {
    bool header = false;
    for (const auto& g : next.groups) {
      const auto& seg = segment_of(*g);
      if (!seg) continue;
      if (!header) {
        std::string h;
        metrics::AppendHeader(h, def, note);
        list->Append(Compress(h, kSegmentLevel));
        header = true;
      }
      list->Append(seg);
    }
  };
  for (size_t f = 0; f < kRunMetricCount; ++f) {
    family_run(
        kPipelineMetrics[f], cache_note_, [f](const Group& g) -> const auto& { return g.run[f]; });
  }
  family_run(
      kPipelineMetrics[metrics::kFetchSuccess], "",
      [](const Group& g) -> const auto& { return g.success; });
  family_run(
      kPipelineMetrics[metrics::kFetchLastSuccess], "",
      [](const Group& g) -> const auto& { return g.last_success; });
  return list;
}

}  // namespace yfe::collector
