// Discovery: the organization's pipelines from ListPipelines (all pages), filtered by name
// (include/exclude RE2 regexes, searched unanchored) and pipeline group. With
// discovery.group_ids set, the pipelines of each group come from the per-group endpoint
// instead (ListPipelines has no group filter, and today's items carry no groupId). Pure
// filtering plus one blocking List() that pages through the API; the App runs it at
// start-up and every refresh_interval. Not thread-safe: one thread owns a Discovery (it
// remembers the previous result to warn when it turns empty).
//
//   Discovery d(cfg.discovery, api);
//   auto found = d.List(deadline);          // Result<std::vector<model::Pipeline>>
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "flowapi/client.h"
#include "metrics/self_metrics.h"
#include "model/pipeline_run.h"
#include "util/clock.h"
#include "util/result.h"

namespace re2 {
class RE2;
}

namespace yfe::collector {

class Discovery {
 public:
  static constexpr int kPerPage = 30;  // the API's maximum
  static constexpr int kMaxPages = 2000;

  Discovery(const config::DiscoveryConfig& config, flowapi::Api& api);
  ~Discovery();

  // Pages through ListPipelines (or, with group_ids, through each group's pipelines); an
  // error if any page fails (a partial list would make pipelines vanish and come back). An
  // empty result, first or after a non-empty one, is logged as a warning naming the filters.
  Result<std::vector<model::Pipeline>> List(Clock::Steady deadline);

  // include/exclude are RE2 (linear time, whatever the name) and unanchored: "api" matches
  // "web-api-prod"; anchor with ^ and $.
  bool Matches(const model::Pipeline& p) const;

  // Reads every page of one list. `fetch(page, done)` asks for one page of kPerPage items.
  // At most kMaxPages pages and kMaxPages * kPerPage items, else an error.
  using PageFetch = std::function<void(int page, flowapi::Api::Callback done)>;
  static Result<std::vector<model::Pipeline>> ReadPages(std::string_view what,
                                                        const PageFetch& fetch);

 private:
  config::DiscoveryConfig config_;
  std::unique_ptr<re2::RE2> include_, exclude_;  // null: not configured
  flowapi::Api& api_;
  std::optional<size_t> previous_count_;  // of the last successful List()
};

// After page `page` of a list returned `items` items (`seen` so far over all pages, this
// page included) when `per_page` were asked: the next page to read, or nullopt when this
// was the last. The documented paging headers decide (x-total-pages, else x-next-page,
// else x-total); only when none was sent does a page shorter than asked end the list, so a
// server that sends 20 items when 30 were asked is still read to the end. An empty page
// always ends it.
std::optional<int> NextPage(int page, int per_page, size_t items, size_t seen,
                            const flowapi::PageHeaders& headers);

// The pipelines to watch: the configured ones (their names win), then the discovered
// ones in id order, keeping only this replica's shard.
struct Target;
std::vector<Target> MergeTargets(const std::vector<config::PipelineConfig>& configured,
                                 const std::vector<model::Pipeline>& discovered, int shard_index,
                                 int shard_total);

class Collector;

// The discovery loop's rules, one refresh at a time (the caller sleeps `next` between):
// - a refresh may take max(10 api.timeout, 2 min);
// - a success watches the configured pipelines plus the discovered ones (this shard's);
// - a failure keeps the previous list (counted, logged);
// - until the first success the configured pipelines are watched, the exporter is not
//   ready, and the next attempt comes within 15 s.
// One thread owns it (as Discovery).
class DiscoveryRefresher {
 public:
  static constexpr std::chrono::seconds kFirstRetryCap{15};
  static constexpr std::chrono::minutes kMinRefreshBudget{2};

  struct Outcome {
    bool first_success = false;  // the first success: the exporter becomes ready now
    std::chrono::nanoseconds next{0};
  };

  DiscoveryRefresher(const config::Config& cfg, int shard_index, int shard_total, flowapi::Api& api,
                     Collector& collector, metrics::SelfMetrics& self_metrics,
                     const Clock& clock = SystemClock::Instance());

  // One refresh. stopping(): a failure while stopping is neither counted nor logged.
  Outcome Refresh(const std::function<bool()>& stopping);

 private:
  const config::Config& cfg_;
  const int shard_index_, shard_total_;
  Discovery discovery_;
  Collector& collector_;
  metrics::SelfMetrics& self_metrics_;
  const Clock& clock_;
  bool succeeded_ = false;
};

}  // namespace yfe::collector
