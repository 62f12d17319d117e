#include "collector/discovery.h"

#include <re2/re2.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "collector/collector.h"
#include "collector/shard.h"
#include "model/decode.h"
#include "util/log.h"

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

std::optional<int> NextPage(int page, int per_page, size_t items, size_t seen,
                            const flowapi::PageHeaders& h) {
  if (items == 0) return std::nullopt;
  if (h.total_pages) return page < *h.total_pages ? std::optional<int>(page + 1) : std::nullopt;
  if (h.next_page_sent) {
    return h.next_page && *h.next_page > page ? std::optional<int>(page + 1) : std::nullopt;
  }
  if (h.total)
    return seen < static_cast<size_t>(*h.total) ? std::optional<int>(page + 1) : std::nullopt;
  return items < static_cast<size_t>(per_page) ? std::nullopt : std::optional<int>(page + 1);
}

Result<std::vector<model::Pipeline>> Discovery::ReadPages(std::string_view what,
                                                          const PageFetch& fetch) {
  std::vector<model::Pipeline> out;
  size_t seen = 0;
  std::optional<int> page = 1;
  std::optional<int64_t> reported_pages;
  while (page) {
    if (*page > kMaxPages) {
      return Error(std::string(what) + ": stopped after " + std::to_string(kMaxPages) +
                   " pages of " + std::to_string(kPerPage) + " (" + std::to_string(seen) +
                   " items) and the server still reports more" +
                   (reported_pages ? " (x-total-pages " + std::to_string(*reported_pages) + ")"
                                   : std::string()) +
                   "; narrow discovery with include or group_ids");
    }
    std::promise<flowapi::ApiResult> promise;
    auto future = promise.get_future();
    fetch(*page, [&promise](flowapi::ApiResult r) { promise.set_value(std::move(r)); });
    flowapi::ApiResult r = future.get();  // the transport always answers by the deadline
    const std::string where = std::string(what) + " page " + std::to_string(*page);
    if (!r.ok) return Error(where + ": " + r.error);
    auto items = model::DecodePipelineList(r.body);
    if (!items.ok()) return Error(where + ": " + items.error());
    seen += items->size();
    if (seen > static_cast<size_t>(kMaxPages) * kPerPage) {  // a hostile server's long pages
      return Error(where + ": more than " + std::to_string(kMaxPages * kPerPage) +
                   " items; narrow discovery with include or group_ids");
    }
    reported_pages = r.paging.total_pages;
    page = NextPage(*page, kPerPage, items->size(), seen, r.paging);
    for (auto& p : *items) out.push_back(std::move(p));
  }
  return out;
}

namespace {

std::string JoinIds(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

}  // namespace

Result<std::vector<model::Pipeline>> Discovery::List(Clock::Steady deadline) {
  std::vector<model::Pipeline> listed;
  if (config_.group_ids.empty()) {
    auto all = ReadPages("ListPipelines", [&](int page, flowapi::Api::Callback done) {
      api_.ListPipelines(page, kPerPage, deadline, std::move(done));
    });
    if (!all.ok()) return Error(all.error());
    listed = std::move(*all);
  } else {
    // Group membership comes from each group's own list: ListPipelines items today carry
    // no groupId (and the 2025 shape's groupId is not needed).
    for (int64_t group : config_.group_ids) {
      auto members = ReadPages(
          "pipeline group " + std::to_string(group), [&](int page, flowapi::Api::Callback done) {
            api_.ListGroupPipelines(group, page, kPerPage, deadline, std::move(done));
          });
      if (!members.ok()) return Error(members.error());
      for (auto& p : *members) {
        p.group_id = group;
        listed.push_back(std::move(p));
      }
    }
  }
  std::vector<model::Pipeline> out;
  std::set<std::string> seen;
  for (auto& p : listed) {
    if (seen.insert(p.id).second && Matches(p)) out.push_back(std::move(p));
  }
  if (out.empty() && (!previous_count_ || *previous_count_ > 0)) {
    logging::Warn(
        "discovery found no pipeline to watch; check the discovery filters and the "
        "token's permissions",
        {{"listed", std::to_string(seen.size())},
         {"previous", previous_count_ ? std::to_string(*previous_count_) : "none"},
         {"include", config_.include},
         {"exclude", config_.exclude},
         {"group_ids", JoinIds(config_.group_ids)}});
  }
  previous_count_ = out.size();
  return out;
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
    out.push_back({p.id, name, found.contains(p.id)});
  }
  std::vector<model::Pipeline> sorted = discovered;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.id.size() != b.id.size() ? a.id.size() < b.id.size() : a.id < b.id;
  });
  for (const auto& p : sorted) {
    if (!InShard(p.id, shard_index, shard_total) || !taken.insert(p.id).second) continue;
    out.push_back({p.id, p.name, true});
  }
  return out;
}

DiscoveryRefresher::DiscoveryRefresher(const config::Config& cfg, int shard_index, int shard_total,
                                       flowapi::Api& api, Collector& collector,
                                       metrics::SelfMetrics& self_metrics, const Clock& clock)
    : cfg_(cfg),
      shard_index_(shard_index),
      shard_total_(shard_total),
      discovery_(cfg.discovery, api),
      collector_(collector),
      self_metrics_(self_metrics),
      clock_(clock) {}

DiscoveryRefresher::Outcome DiscoveryRefresher::Refresh(const std::function<bool()>& stopping) {
  using std::chrono::nanoseconds;
  const auto deadline =
      clock_.Now() + std::max(cfg_.api.timeout * 10, nanoseconds(kMinRefreshBudget));
  auto found = discovery_.List(deadline);
  Outcome out;
  out.next = cfg_.discovery.refresh_interval;
  if (found.ok()) {
    self_metrics_.SetDiscovered(static_cast<double>(found->size()));
    collector_.SetTargets(MergeTargets(cfg_.pipelines, *found, shard_index_, shard_total_));
    logging::Info("discovery refreshed", {{"discovered", std::to_string(found->size())},
                                          {"watched", std::to_string(collector_.TargetCount())}});
    out.first_success = !succeeded_;
    succeeded_ = true;
    return out;
  }
  if (stopping()) return out;
  self_metrics_.CountDiscoveryError();
  logging::Warn("discovery failed; keeping the previous list", {{"err", found.error()}});
  if (!succeeded_) {
    collector_.SetTargets(MergeTargets(cfg_.pipelines, {}, shard_index_, shard_total_));
    out.next = std::min(out.next, nanoseconds(kFirstRetryCap));
  }
  return out;
}

}  // namespace yfe::collector
