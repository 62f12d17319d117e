// Collector: turns a scrape into Flow API fetches and exposition text. Each pipeline's
// latest run is cached for cache_ttl; concurrent scrapes share one fetch per pipeline
// (single flight); a scrape returns by scrape_deadline whatever happens upstream, serving
// data younger than max_stale for pipelines it could not fetch (with fetch_success 0).
// Rendered text is cached per pipeline, compressed, and reused until the run's body
// changes. Pipelines are grouped (kGroupSize consecutive targets) into gzip segments per
// metric family, compressed once when a member changes; a scrape's body is the current
// generation of those segments (shared, immutable, by every scrape until something changes)
// plus a small per-scrape tail (scrape duration, self metrics). See docs/performance.md.
// A pipeline whose fetch fails is not fetched again before an exponential backoff
// (cache_ttl, doubling, capped at max_failure_backoff; reset by a success), so broken
// pipelines do not crowd healthy ones out of the API's rate limit; it keeps fetch_success 0
// and its last good data up to max_stale, and its warning is not repeated on every scrape.
//
// Thread-safe: Scrape() may run on several threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "flowapi/client.h"
#include "http/body.h"
#include "metrics/self_metrics.h"
#include "metrics/translate.h"
#include "util/clock.h"

namespace yfe::http {
struct SegmentList;
}  // namespace yfe::http

namespace yfe::collector {

struct Target {
  std::string id;
  std::string name;     // configured or discovered; empty: look it up with GetPipeline
  bool listed = false;  // discovery listed it: it exists even while it has no run
};

struct CollectorOptions {
  metrics::RenderOptions render;
  std::chrono::nanoseconds cache_ttl = std::chrono::seconds(30);
  std::chrono::nanoseconds scrape_deadline = std::chrono::seconds(9);
  std::chrono::nanoseconds max_stale = std::chrono::minutes(10);
  std::chrono::nanoseconds name_refresh = std::chrono::hours(6);
  // Longest wait before a failing pipeline is fetched again: a few cache_ttl.
  int max_failure_backoff_ttls = 4;
  std::string version = "unknown";
  std::string revision = "unknown";
};

class Collector {
 public:
  Collector(CollectorOptions options, flowapi::Api& api, metrics::SelfMetrics& self_metrics,
            const Clock& clock = SystemClock::Instance());
  ~Collector();

  // Replaces the watched pipelines; state of pipelines that stay is kept, the rest is
  // dropped (their series vanish from the next scrape).
  void SetTargets(std::vector<Target> targets);
  size_t TargetCount() const;
  // The watched pipelines with the names their series carry now.
  std::vector<std::pair<std::string, std::string>> Named() const;

  // Takes over the cached state (runs, names, failure backoff) of `previous`, another
  // configuration's collector, for the pipelines that this one watches now or later
  // (SetTargets), so a reload fetches nothing that is still fresh. Rendered runs are kept
  // only if both render alike. Entries older than max_stale are not taken.
  void Seed(const Collector& previous);

  // Waits (real time, up to `budget`) until no fetch is in flight; false on timeout. A
  // reload lets the old collector's fetches land before seeding from it, rather than
  // asking again for what is already on its way.
  bool WaitIdle(std::chrono::nanoseconds budget) const;

  // Fetches what is not fresh in the cache (within the deadline) and returns the
  // exposition: gzip from shared precompressed segments, identity by inflating them.
  // Never throws except std::bad_alloc.
  std::shared_ptr<const http::Body> Scrape();

  // Targets per segment group: the unit that is compressed again when one member changes.
  static constexpr size_t kGroupSize = 64;

  // Fetches every pipeline once (up to `budget`), logging progress: called at start-up so
  // that the first scrape finds a warm cache.
  void WarmUp(std::chrono::nanoseconds budget);

  // Extra exporter-wide text appended to each scrape (e.g. discovery or history metrics).
  using ExtraRenderer = std::function<void(std::string& out)>;
  void AddExtraRenderer(ExtraRenderer r);

  // For tests: groups compressed ahead of the render while a fetch runs (see Prebuild).
  size_t PrebuiltGroups() const;

 private:
  struct Entry;
  struct Flight;
  struct Snapshot;
  struct Countdown;
  struct PipelineText;
  struct Group;
  struct Generation;

  struct Row;

  // A scrape counts its cache hits and misses; the start-up warm-up does not.
  enum class FetchMode { kScrape, kWarmUp };
  // Fetches what is not fresh; progress (may be null) is called every 5 s with the number
  // of fetches not yet done.
  std::vector<std::shared_ptr<Entry>> Fetch(std::chrono::nanoseconds budget, FetchMode mode,
                                            const std::function<void(size_t)>& progress);
  // Waits for a fetch's answers (up to the deadline), prebuilding groups meanwhile.
  void Await(Countdown& countdown, const std::vector<std::shared_ptr<Entry>>& targets,
             Clock::Steady deadline, bool prebuild, const std::function<void(size_t)>& progress);
  void Prebuild(const std::vector<std::shared_ptr<Entry>>& targets);
  std::shared_ptr<const http::Body> Render(const std::vector<std::shared_ptr<Entry>>& targets,
                                           Clock::Steady start);
  std::vector<Row> RowsOf(const std::vector<std::shared_ptr<Entry>>& targets);
  std::shared_ptr<const http::SegmentList> Segments(const std::vector<Row>& rows);
  static std::shared_ptr<const Group> GroupOf(const std::vector<Row>& rows, size_t first,
                                              size_t last, const std::shared_ptr<const Group>* old);
  static void CompressRuns(Group& group);
  std::shared_ptr<const http::SegmentList> SegmentListOf(const Generation& next) const;
  void StartFlight(const std::shared_ptr<Entry>& e, Clock::Steady deadline, bool fetch_name);
  void OnFlightResult(const std::shared_ptr<Entry>& e, bool is_run, flowapi::ApiResult r);
  void FinishFlight(const std::shared_ptr<Entry>& e);
  bool CheckExistenceFirst(const std::shared_ptr<Entry>& e);
  void ApplyName(Entry& e, const Flight& flight);
  std::shared_ptr<Snapshot> NewSnapshot(size_t body_hash, const std::string& name) const;
  std::shared_ptr<Snapshot> SnapshotOf(Entry& e, const Flight& flight,
                                       const std::shared_ptr<const Snapshot>& previous,
                                       const std::string& name, bool exists, std::string& error);
  void Settle(const std::shared_ptr<Entry>& e, Flight& flight, std::shared_ptr<Snapshot> fresh,
              const std::string& error);
  std::chrono::nanoseconds FailureBackoff(int failures) const;
  std::chrono::nanoseconds MaxFailureBackoff() const;
  void NoteTruncation(Entry& e, const metrics::RunFragments& f);

  const CollectorOptions options_;
  const std::string cache_note_;  // appended to the HELP of cached metrics
  flowapi::Api& api_;
  metrics::SelfMetrics& self_metrics_;
  const Clock& clock_;

  mutable std::mutex mu_;
  mutable std::condition_variable idle_;         // flights_ dropped to 0
  size_t flights_ = 0;                           // entries with a fetch in flight
  std::vector<std::shared_ptr<Entry>> targets_;  // in output order
  std::unordered_map<std::string, std::shared_ptr<Entry>> by_id_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> seeds_;  // see Seed()
  std::vector<ExtraRenderer> extra_;

  // The compressed exposition of the pipelines (Render builds it, one render at a time).
  mutable std::mutex render_mu_;
  std::shared_ptr<const Generation> generation_;  // guarded by render_mu_
  // Groups built ahead of the render while a fetch runs (Prebuild), and which are being
  // built; guarded by render_mu_, dropped by each render.
  std::vector<std::shared_ptr<const Group>> prebuilt_;
  std::vector<bool> prebuilding_;
};

}  // namespace yfe::collector
