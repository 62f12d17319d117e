// Collector: turns a scrape into Flow API fetches and exposition text. Each pipeline's
// latest run is cached for cache_ttl; concurrent scrapes share one fetch per pipeline
// (single flight); a scrape returns by scrape_deadline whatever happens upstream, serving
// data younger than max_stale for pipelines it could not fetch (with fetch_success 0).
// Rendered text is cached per pipeline, compressed, and reused until the run's body
// changes. Pipelines are grouped (kGroupSize consecutive targets) into gzip segments per
// metric family, compressed once when a member changes; a scrape's body is the current
// generation of those segments (shared, immutable, by every scrape until something changes)
// plus a small per-scrape tail (scrape duration, self metrics). See docs/performance.md.
//
// Thread-safe: Scrape() may run on several threads at once.
#pragma once

#include <chrono>
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

 private:
  struct Entry;
  struct Flight;
  struct Snapshot;
  struct Countdown;
  struct PipelineText;
  struct Group;
  struct Generation;

  std::vector<std::shared_ptr<Entry>> Fetch(std::chrono::nanoseconds budget,
                                            const std::function<void(size_t)>& progress);
  std::shared_ptr<const http::Body> Render(const std::vector<std::shared_ptr<Entry>>& targets,
                                           Clock::Steady start);
  void StartFlight(const std::shared_ptr<Entry>& e, Clock::Steady deadline, bool fetch_name);
  void OnFlightResult(const std::shared_ptr<Entry>& e, bool is_run, flowapi::ApiResult r);
  void FinishFlight(const std::shared_ptr<Entry>& e);

  const CollectorOptions options_;
  const std::string cache_note_;  // appended to the HELP of cached metrics
  flowapi::Api& api_;
  metrics::SelfMetrics& self_metrics_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Entry>> targets_;  // in output order
  std::unordered_map<std::string, std::shared_ptr<Entry>> by_id_;
  std::vector<ExtraRenderer> extra_;

  // The compressed exposition of the pipelines (Render builds it, one render at a time).
  std::mutex render_mu_;
  std::shared_ptr<const Generation> generation_;  // guarded by render_mu_
};

}  // namespace yfe::collector
