#include "collector/delivery.h"

#include <re2/re2.h>

#include <algorithm>
#include <string_view>

#include "collector/discovery.h"
#include "metrics/exposition.h"
#include "metrics/translate.h"
#include "model/status.h"
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

// A deployment of run_id that ended with status at end_ms: counted once per run; its lead
// time observed at its first SUCCESS.
void CountDeployment(DeliveryLedger& d, const std::string& environment, int64_t run_id,
                     const std::string& status, int64_t start_ms, int64_t end_ms) {
  const bool success = status == "SUCCESS";
  if (auto it = d.deploys.find(run_id); it != d.deploys.end()) {
    // Finished again after a resume: the same deployment, counted already.
    if (success && !it->second.lead_done) {
      ObserveLead(d, environment, start_ms, end_ms);
      it->second.lead_done = true;
    }
    return;
  }
  d.deployments[{environment, status}] += 1;
  d.deploys[run_id] = {status, success};
  if (success) ObserveLead(d, environment, start_ms, end_ms);
  while (d.deploys.size() > Delivery::kMaxDeploys) d.deploys.erase(d.deploys.begin());
}

}  // namespace

DeployStep::DeployStep(const std::string& spec) {
  constexpr std::string_view kJobSign = "job_sign:";
  if (spec.starts_with(kJobSign)) {
    job_sign_ = spec.substr(kJobSign.size());
  } else {
    stage_ = config::CompileNameRegex(spec);
  }
}

DeployStep::~DeployStep() = default;

bool DeployStep::ok() const { return stage_ ? stage_->ok() : !job_sign_.empty(); }

std::optional<DeployStep::Outcome> DeployStep::Find(const model::PipelineRun& run) const {
  std::optional<Outcome> found;
  auto consider = [&](const std::string& status, int64_t start_ms, int64_t end_ms) {
    if (start_ms <= 0) return;  // never started (INIT, or skipped before it ran)
    found = Outcome{status, end_ms};
  };
  for (const auto& stage : run.stages) {
    if (stage_) {
      if (stage_->ok() && re2::RE2::PartialMatch(stage.name, *stage_)) {
        int64_t start = stage.start_ms, end = stage.end_ms;
        for (const auto& job : stage.jobs) {  // a stage without times: its jobs'
          if (start <= 0 && job.start_ms > 0) start = job.start_ms;
          if (stage.end_ms <= 0) end = std::max(end, job.end_ms);
        }
        consider(stage.status, start, end);
      }
      continue;
    }
    for (const auto& job : stage.jobs) {
      if (job.sign == job_sign_) consider(job.status, job.start_ms, job.end_ms);
    }
  }
  if (!found || found->status == "SKIP" || !model::IsFinished(found->status)) return std::nullopt;
  return found;
}

void DeliveryCounted(DeliveryLedger& d, const std::string* environment,
                     const model::RunSummary& run, bool by_step) {
  if (d.pending.size() >= Delivery::kMaxPending) ApplyPending(d, environment ? *environment : "");
  d.pending.push_back({run.id, run.start_ms, run.end_ms, run.status});
  if (!environment) return;
  if (!by_step) {
    return CountDeployment(d, *environment, run.id, run.status, run.start_ms, run.end_ms);
  }
  // Decided by its deploying step, when its detail comes; nothing left to decide once a
  // deployment's lead time is known.
  if (auto it = d.deploys.find(run.id); it != d.deploys.end() && it->second.lead_done) return;
  d.awaiting[run.id] = {run.start_ms, 0};
  while (d.awaiting.size() > Delivery::kMaxAwaiting) {
    logging::Warn("delivery: too many runs wait for their detail; giving up on the oldest",
                  {{"run_id", std::to_string(d.awaiting.begin()->first)}});
    d.awaiting.erase(d.awaiting.begin());
  }
}

void DeliveryStepDecided(DeliveryLedger& d, const std::string& environment, int64_t run_id,
                         int64_t create_ms, const DeployStep::Outcome* outcome) {
  d.awaiting.erase(run_id);
  if (outcome) CountDeployment(d, environment, run_id, outcome->status, create_ms, outcome->end_ms);
}

void DeliveryTakenBack(DeliveryLedger& d, const std::string* environment, int64_t run_id,
                       const std::string& status, bool by_step) {
  // Its finish was counted as a deployment (if the pipeline deploys): keep remembering the
  // run, even if the bound dropped it, so that its next finish is not counted again. A
  // finish decided by its step is remembered once decided (or awaits its detail still).
  if (!environment || by_step || d.deploys.count(run_id)) return;
  d.deploys[run_id] = {status, status == "SUCCESS"};
  while (d.deploys.size() > Delivery::kMaxDeploys) d.deploys.erase(d.deploys.begin());
}

void DeliveryPollEnded(DeliveryLedger& d, const std::string* environment) {
  ApplyPending(d, environment ? *environment : "");
  if (!environment) return;
  // Start the usual series at 0 so that the first deployment shows in increase().
  for (const char* status : {"SUCCESS", "FAIL", "CANCELED"})
    d.deployments[{*environment, status}] += 0;
  HistogramIn(d.lead_times, *environment);
  HistogramIn(d.restores, *environment);
}

Delivery::Delivery(config::DeliveryConfig config) { SetConfig(config); }
Delivery::~Delivery() = default;

void Delivery::SetConfig(const config::DeliveryConfig& config) {
  std::vector<Matcher> matchers;
  for (const auto& d : config.deployments) {
    Matcher m{d, nullptr, nullptr};
    if (!d.include.empty()) {
      m.include = config::CompileNameRegex(d.include);
      if (!m.include->ok()) m.include.reset();  // the config check refuses it
    }
    if (!d.stage.empty()) m.step = std::make_shared<const DeployStep>(d.stage);
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
        environments_[id] = {c.environment, m.step};
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
  auto a = AssignmentOf(pipeline_id);
  return a ? a->environment : std::string();
}

std::optional<Delivery::Assignment> Delivery::AssignmentOf(const std::string& pipeline_id) const {
  std::lock_guard lock(mu_);
  auto it = environments_.find(pipeline_id);
  if (it == environments_.end()) return std::nullopt;
  return it->second;
}

void Delivery::Counted(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run) {
  const auto a = AssignmentOf(pipeline_id);
  DeliveryCounted(l.delivery, a ? &a->environment : nullptr, run, a && a->step);
}

void Delivery::TakenBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                         const std::string& status) {
  const auto a = AssignmentOf(pipeline_id);
  DeliveryTakenBack(l.delivery, a ? &a->environment : nullptr, run_id, status, a && a->step);
}

void Delivery::WantedDetails(const RunLedger& l, std::set<int64_t>& ids) const {
  for (const auto& [run_id, a] : l.delivery.awaiting) ids.insert(run_id);
}

void Delivery::Detail(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                      const model::PipelineRun* run, bool gone) {
  auto& awaiting = l.delivery.awaiting;
  auto it = awaiting.find(run_id);
  if (it == awaiting.end()) return;
  const auto a = AssignmentOf(pipeline_id);
  if (!a || !a->step) {  // no longer deploys by a step (a reload): nothing to decide
    awaiting.erase(it);
    return;
  }
  if (run && model::IsFinished(run->status)) {
    const auto outcome = a->step->Find(*run);
    const int64_t create_ms = run->create_ms > 0 ? run->create_ms : it->second.start_ms;
    return DeliveryStepDecided(l.delivery, a->environment, run_id, create_ms,
                               outcome ? &*outcome : nullptr);
  }
  // Not fetched, or resumed since (its next finish is awaited again).
  if (gone || ++it->second.attempts >= kMaxDetailAttempts) {
    logging::Warn("delivery: giving up on a run's deploying stage",
                  {{"pipeline_id", pipeline_id},
                   {"run_id", std::to_string(run_id)},
                   {"why", gone ? "the run no longer exists" : "its detail did not tell"}});
    awaiting.erase(it);
  }
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
