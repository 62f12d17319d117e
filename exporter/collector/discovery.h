// Discovery: the organization's pipelines from ListPipelines (all pages), filtered by name
// (include/exclude RE2 regexes, searched unanchored) and pipeline group. Pure filtering plus one
// blocking List() that pages through the API; the App runs it at start-up and every
// refresh_interval.
//
//   Discovery d(cfg.discovery, api);
//   auto found = d.List(deadline);          // Result<std::vector<model::Pipeline>>
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "flowapi/client.h"
#include "model/pipeline_run.h"
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

  // Pages through ListPipelines; an error if any page fails (a partial list would make
  // pipelines vanish and come back).
  Result<std::vector<model::Pipeline>> List(Clock::Steady deadline);

  // include/exclude are RE2 (linear time, whatever the name) and unanchored: "api" matches
  // "web-api-prod"; anchor with ^ and $.
  bool Matches(const model::Pipeline& p) const;

 private:
  config::DiscoveryConfig config_;
  std::unique_ptr<re2::RE2> include_, exclude_;  // null: not configured
  flowapi::Api& api_;
};

// The pipelines to watch: the configured ones (their names win), then the discovered
// ones in id order, keeping only this replica's shard.
struct Target;
std::vector<Target> MergeTargets(const std::vector<config::PipelineConfig>& configured,
                                 const std::vector<model::Pipeline>& discovered, int shard_index,
                                 int shard_total);

}  // namespace yfe::collector
