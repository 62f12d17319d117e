#include "collector/delivery.h"

#include <re2/re2.h>

#include <algorithm>

#include "collector/discovery.h"
#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "util/log.h"

namespace yfe::collector {

namespace {

DeliveryLedger::Histogram& HistogramIn(std::map<std::string, DeliveryLedger::Histogram>& m,
                                       const std::string& key) {
  auto& h = m[key];
  // Buckets of another size (a file of another release) start again rather than render wrong.
  if (h.counts.size() != kDeliveryBuckets.size()) h = {};
  if (h.counts.empty()) h.counts.assign(kDeliveryBuckets.size(), 0);
  return h;
}

void Observe(DeliveryLedger::Histogram& h, double seconds) {
  auto it = std::lower_bound(kDeliveryBuckets.begin(), kDeliveryBuckets.end(), seconds);
  if (it != kDeliveryBuckets.end()) h.counts[it - kDeliveryBuckets.begin()] += 1;
  h.sum += seconds;
  h.count += 1;
}

void ObserveLead(DeliveryLedger& d, const std::string& environment, int64_t start_ms,
                 int64_t end_ms) {
  if (start_ms <= 0 || end_ms < start_ms) return;  // no usable times: not observed
  Observe(HistogramIn(d.lead_times, environment), static_cast<double>(end_ms - start_ms) / 1000);
}

bool Succeeded(const std::string& status) { return status == "SUCCESS" || status == "FINISH"; }

// One finish, in end order, on the streak of failed runs.
void ApplyToStreak(DeliveryLedger& d, const std::string& environment,
                   const DeliveryLedger::Finish& f) {
  if (f.end_ms <= 0 || f.end_ms < d.last_end_ms) return;  // no end, or older than the streak
  d.last_end_ms = f.end_ms;
  if (f.status == "FAIL") {
    if (d.failing_since_ms == 0) d.failing_since_ms = f.end_ms;
  } else if (Succeeded(f.status) && d.failing_since_ms > 0) {
    Observe(HistogramIn(d.restores, environment),
            static_cast<double>(f.end_ms - d.failing_since_ms) / 1000);
    d.failing_since_ms = 0;
  }
}

void ApplyPending(DeliveryLedger& d, const std::string& environment) {
  std::stable_sort(d.pending.begin(), d.pending.end(),
                   [](const auto& a, const auto& b) { return a.end_ms < b.end_ms; });
  for (const auto& f : d.pending) ApplyToStreak(d, environment, f);
  d.pending.clear();
}

}  // namespace

void DeliveryCounted(DeliveryLedger& d, const std::string* environment,
                     const model::RunSummary& run) {
  if (d.pending.size() >= Delivery::kMaxPending) ApplyPending(d, environment ? *environment : "");
  d.pending.push_back({run.id, run.start_ms, run.end_ms, run.status});
  if (!environment) return;
  const bool success = run.status == "SUCCESS";
  if (auto it = d.deploys.find(run.id); it != d.deploys.end()) {
    // Finished again after a resume: the same deployment, counted already.
    if (success && !it->second.lead_done) {
      ObserveLead(d, *environment, run.start_ms, run.end_ms);
      it->second.lead_done = true;
    }
    return;
  }
  d.deployments[{*environment, run.status}] += 1;
  d.deploys[run.id] = {run.status, success};
  if (success) ObserveLead(d, *environment, run.start_ms, run.end_ms);
  while (d.deploys.size() > Delivery::kMaxDeploys) d.deploys.erase(d.deploys.begin());
}

void DeliveryTakenBack(DeliveryLedger& d, const std::string* environment, int64_t run_id,
                       const std::string& status) {
  // Its finish was counted as a deployment (if the pipeline deploys): keep remembering the
  // run, even if the bound dropped it, so that its next finish is not counted again.
  if (!environment || d.deploys.count(run_id)) return;
  d.deploys[run_id] = {status, status == "SUCCESS"};
  while (d.deploys.size() > Delivery::kMaxDeploys) d.deploys.erase(d.deploys.begin());
}

void DeliveryPollEnded(DeliveryLedger& d, const std::string* environment) {
  ApplyPending(d, environment ? *environment : "");
  if (!environment) return;
  // Start the usual series at 0 so that the first deployment shows in increase().
  for (const char* status : {"SUCCESS", "FAIL"}) d.deployments[{*environment, status}] += 0;
  HistogramIn(d.lead_times, *environment);
  HistogramIn(d.restores, *environment);
}

Delivery::Delivery(config::DeliveryConfig config) { SetConfig(config); }
Delivery::~Delivery() = default;

void Delivery::SetConfig(const config::DeliveryConfig& config) {
  std::vector<Matcher> matchers;
  for (const auto& d : config.deployments) {
    Matcher m{d, nullptr};
    if (!d.include.empty()) {
      m.include = config::CompileNameRegex(d.include);
      if (!m.include->ok()) m.include.reset();  // the config check refuses it
    }
    matchers.push_back(std::move(m));
  }
  std::lock_guard lock(mu_);
  matchers_ = std::move(matchers);
  // environments_ stays until the next SetPipelines: a poll running meanwhile (the old
  // configuration's) still counts its deployments.
  warned_ = false;
}

bool Delivery::Enabled() const {
  std::lock_guard lock(mu_);
  return !matchers_.empty();
}

std::set<int64_t> Delivery::GroupIds() const {
  std::lock_guard lock(mu_);
  std::set<int64_t> ids;
  for (const auto& m : matchers_) ids.insert(m.config.group_ids.begin(), m.config.group_ids.end());
  return ids;
}

void Delivery::SetPipelines(const std::vector<std::pair<std::string, std::string>>& named,
                            const std::map<int64_t, std::set<std::string>>& group_members) {
  std::lock_guard lock(mu_);
  environments_.clear();
  std::set<std::string> matched;
  for (const auto& [id, name] : named) {
    for (const auto& m : matchers_) {
      const auto& c = m.config;
      bool match = std::find(c.ids.begin(), c.ids.end(), id) != c.ids.end() ||
                   (m.include && re2::RE2::PartialMatch(name, *m.include));
      for (int64_t g : c.group_ids) {
        auto members = group_members.find(g);
        match = match || (members != group_members.end() && members->second.count(id));
      }
      if (match) {
        environments_[id] = c.environment;
        matched.insert(c.environment);
        break;
      }
    }
  }
  if (warned_ || named.empty()) return;
  warned_ = true;
  for (const auto& m : matchers_) {
    if (matched.count(m.config.environment)) continue;
    logging::Warn("delivery: no watched pipeline deploys to this environment",
                  {{"environment", m.config.environment},
                   {"include", m.config.include},
                   {"ids", std::to_string(m.config.ids.size())},
                   {"group_ids", std::to_string(m.config.group_ids.size())}});
  }
}

void Delivery::Prepare(flowapi::Api& api,
                       const std::vector<std::pair<std::string, std::string>>& named,
                       Clock::Steady deadline, const Clock& clock) {
  std::lock_guard lock(groups_mu_);
  const std::set<int64_t> groups = GroupIds();
  if (!groups.empty() && (!groups_read_ || clock.Now() - *groups_read_ >= kGroupRefresh)) {
    groups_read_ = clock.Now();
    for (int64_t g : groups) {
      config::DiscoveryConfig one;
      one.enabled = true;
      one.group_ids = {g};
      auto found = Discovery(one, api).List(deadline);
      if (!found.ok()) {
        logging::Warn("delivery: cannot list a pipeline group; keeping its previous members",
                      {{"group_id", std::to_string(g)}, {"err", found.error()}});
        continue;
      }
      auto& members = group_members_[g];
      members.clear();
      for (const auto& p : *found) members.insert(p.id);
    }
  }
  SetPipelines(named, group_members_);
}

std::string Delivery::EnvironmentOf(const std::string& pipeline_id) const {
  std::lock_guard lock(mu_);
  auto it = environments_.find(pipeline_id);
  return it == environments_.end() ? std::string() : it->second;
}

void Delivery::Counted(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run) {
  const std::string env = EnvironmentOf(pipeline_id);
  DeliveryCounted(l.delivery, env.empty() ? nullptr : &env, run);
}

void Delivery::TakenBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                         const std::string& status) {
  const std::string env = EnvironmentOf(pipeline_id);
  DeliveryTakenBack(l.delivery, env.empty() ? nullptr : &env, run_id, status);
}

void Delivery::PollEnded(const std::string& pipeline_id, RunLedger& l) {
  const std::string env = EnvironmentOf(pipeline_id);
  DeliveryPollEnded(l.delivery, env.empty() ? nullptr : &env);
}

namespace {

struct Families {
  std::string deployments, lead_times, failing, restores;
};

void RenderHistograms(std::string& out, const metrics::MetricDef& def, const std::string& prefix,
                      const std::map<std::string, DeliveryLedger::Histogram>& histograms,
                      const std::vector<std::string>& les) {
  const std::string base(def.name);
  for (const auto& [env, h] : histograms) {
    if (h.counts.size() != les.size()) continue;
    const std::string p = metrics::ExtendPrefix(prefix, def, {env}).text;
    double cumulative = 0;
    for (size_t i = 0; i < les.size(); ++i) {
      cumulative += h.counts[i];
      metrics::AppendSample(out, base + "_bucket", p, {{"le", les[i]}}, cumulative);
    }
    metrics::AppendSample(out, base + "_bucket", p, {{"le", "+Inf"}}, h.count);
    metrics::AppendSample(out, base + "_sum", p, {}, h.sum);
    metrics::AppendSample(out, base + "_count", p, {}, h.count);
  }
}

void RenderPipeline(Families& f, const std::string& prefix, const DeliveryLedger& d,
                    const std::vector<std::string>& les) {
  for (const auto& [key, n] : d.deployments) {
    metrics::AppendSample(f.deployments, metrics::kDeploymentsTotal, prefix,
                          {key.first, key.second}, n);
  }
  RenderHistograms(f.lead_times, metrics::kDeploymentLeadTime, prefix, d.lead_times, les);
  if (d.failing_since_ms > 0) {
    metrics::AppendSample(f.failing, metrics::kFailingSince, prefix, {},
                          static_cast<double>(d.failing_since_ms) / 1000);
  }
  RenderHistograms(f.restores, metrics::kRestoreDuration, prefix, d.restores, les);
}

void Append(std::string& out, const metrics::MetricDef& def, const std::string& text) {
  if (text.empty()) return;
  metrics::AppendHeader(out, def);
  out += text;
}

}  // namespace

void Delivery::Render(std::string& out, const RunHistory& history,
                      const std::vector<std::pair<std::string, std::string>>& pipelines) const {
  std::map<std::string, std::string> names(pipelines.begin(), pipelines.end());
  std::vector<std::string> les(kDeliveryBuckets.size());
  for (size_t i = 0; i < les.size(); ++i) metrics::AppendValue(les[i], kDeliveryBuckets[i]);
  Families f;
  history.VisitShown([&](const std::string& id, const RunLedger& l) {
    auto name = names.find(id);
    if (name == names.end() || l.delivery.empty()) return;
    RenderPipeline(f, metrics::PipelinePrefix({id, name->second}), l.delivery, les);
  });
  Append(out, metrics::kDeploymentsTotal, f.deployments);
  Append(out, metrics::kDeploymentLeadTime, f.lead_times);
  Append(out, metrics::kFailingSince, f.failing);
  Append(out, metrics::kRestoreDuration, f.restores);
}

}  // namespace yfe::collector
