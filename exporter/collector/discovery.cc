#include "collector/discovery.h"

#include <re2/re2.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "collector/collector.h"
#include "collector/shard.h"
#include "model/decode.h"

namespace yfe::collector {

Discovery::Discovery(const config::DiscoveryConfig& config, flowapi::Api& api)
    : config_(config), api_(api) {
  // Validated by the config loader (config::CompileNameRegex); an invalid one matches nothing.
  if (!config_.include.empty()) include_ = config::CompileNameRegex(config_.include);
  if (!config_.exclude.empty()) exclude_ = config::CompileNameRegex(config_.exclude);
}

Discovery::~Discovery() = default;

bool Discovery::Matches(const model::Pipeline& p) const {
  if (include_ && !(include_->ok() && re2::RE2::PartialMatch(p.name, *include_))) return false;
  if (exclude_ && (!exclude_->ok() || re2::RE2::PartialMatch(p.name, *exclude_))) return false;
  if (!config_.group_ids.empty()) {
    if (!p.group_id) return false;
    if (std::find(config_.group_ids.begin(), config_.group_ids.end(), *p.group_id) ==
        config_.group_ids.end()) {
      return false;
    }
  }
  return true;
}

Result<std::vector<model::Pipeline>> Discovery::List(Clock::Steady deadline) {
  std::vector<model::Pipeline> out;
  std::set<std::string> seen;
  for (int page = 1; page <= kMaxPages; ++page) {
    std::promise<flowapi::ApiResult> promise;
    auto future = promise.get_future();
    api_.ListPipelines(page, kPerPage, deadline,
                       [&promise](flowapi::ApiResult r) { promise.set_value(std::move(r)); });
    flowapi::ApiResult r = future.get();  // the transport always answers by the deadline
    if (!r.ok) return Error("ListPipelines page " + std::to_string(page) + ": " + r.error);
    auto items = model::DecodePipelineList(r.body);
    if (!items.ok())
      return Error("ListPipelines page " + std::to_string(page) + ": " + items.error());
    for (auto& p : *items) {
      if (seen.insert(p.id).second && Matches(p)) out.push_back(std::move(p));
    }
    if (items->size() < static_cast<size_t>(kPerPage)) return out;
  }
  return Error("ListPipelines: more than " + std::to_string(kMaxPages) + " pages");
}

std::vector<Target> MergeTargets(const std::vector<config::PipelineConfig>& configured,
                                 const std::vector<model::Pipeline>& discovered, int shard_index,
                                 int shard_total) {
  std::map<std::string, std::string> found;
  for (const auto& p : discovered) found.emplace(p.id, p.name);
  std::vector<Target> out;
  std::set<std::string> taken;
  for (const auto& p : configured) {
    if (!InShard(p.id, shard_index, shard_total) || !taken.insert(p.id).second) continue;
    std::string name = p.name;
    if (name.empty()) {
      if (auto it = found.find(p.id); it != found.end()) name = it->second;
    }
    out.push_back({p.id, name});
  }
  std::vector<model::Pipeline> sorted = discovered;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.id.size() != b.id.size() ? a.id.size() < b.id.size() : a.id < b.id;
  });
  for (const auto& p : sorted) {
    if (!InShard(p.id, shard_index, shard_total) || !taken.insert(p.id).second) continue;
    out.push_back({p.id, p.name});
  }
  return out;
}

}  // namespace yfe::collector
