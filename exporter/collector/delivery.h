// Delivery: the four DORA keys from the run history (docs/metrics.md, "Delivery").
// A RunObserver of RunHistory: every finish RunHistory counts (each once, resumes taken
// back) is, for a pipeline that delivery.deployments assigns to an environment, a
// deployment; for every watched pipeline it moves the streak of failed runs. Its state is
// each pipeline's DeliveryLedger inside the RunLedger, saved in the same commit as the
// watermark (collect.state_dir), so it is exact across restarts.
//
// Rules:
// - Without `stage:` a deployment is a counted finish of the run. With `stage:` (a regex of
//   stage names, or "job_sign:<sign>" for one job) it is decided from the run's detail
//   (GetPipelineRun, fetched with job history's, or alone when job history is off): the
//   deploying step is the last matching stage (job) that started; it is a deployment with
//   the step's status once the step finished (SKIP, never started, absent: no deployment),
//   and its lead time ends at the step's end.
// - A deployment is counted once, in deployments_total{status=<its first counted finish>};
//   a resumed deployment that finishes again is not counted again (FAIL, retried, SUCCESS
//   stays one failed deployment) but its first SUCCESS observes its lead time.
// - Lead time: end of the run (or of the deploying step) minus the run's createTime.
// - Streaks, applied at the end of each poll in the order the runs ended: a FAIL starts a
//   streak (failing_since = its end) unless one is on; a SUCCESS or FINISH ends it and
//   observes restore = its end - failing_since; other outcomes (CANCELED, SKIP) leave it.
//   A finish that ended before the latest one applied does not move the streak.
//
//   auto d = std::make_shared<Delivery>(cfg.delivery);
//   history.SetObserver(d);
//   d->SetPipelines(named, group_members);   // before each poll
//   d->Render(out, history, named);
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "collector/history.h"
#include "config/config.h"
#include "flowapi/client.h"
#include "util/clock.h"

namespace re2 {
class RE2;
}

namespace yfe::collector {

// Buckets of both delivery histograms, in seconds: minutes to six months, with the DORA
// band edges (1h, 1d, 1w, 30d) among them.
inline constexpr std::array<double, 14> kDeliveryBuckets = {
    60,    300,   900,    1800,   3600,    7200,    14400,
    28800, 86400, 172800, 604800, 1209600, 2592000, 15552000};

// The deploying step of a run (delivery's `stage:`): the last stage whose name the RE2
// regex matches, or with "job_sign:<sign>" the last job with that jobSign, among those that
// started.
class DeployStep {
 public:
  struct Outcome {
    std::string status;  // a final status other than SKIP
    int64_t end_ms = 0;  // 0: unknown
  };
  explicit DeployStep(const std::string& spec);
  ~DeployStep();
  bool ok() const;
  // The step's outcome in a finished run's detail; nullopt when it did not run (absent,
  // never started, skipped or not finished): the run is no deployment.
  std::optional<Outcome> Find(const model::PipelineRun& run) const;

 private:
  std::string job_sign_;             // "job_sign:" form
  std::unique_ptr<re2::RE2> stage_;  // else
};

// The state machine on one pipeline's ledger (pure; Delivery calls these).
// A counted finish: a deployment to *environment when that is not null; by_step: decided
// later by DeliveryStepDecided (the run awaits its detail).
void DeliveryCounted(DeliveryLedger& d, const std::string* environment,
                     const model::RunSummary& run, bool by_step = false);
// An awaited run's deploying step: a deployment when outcome is not null.
void DeliveryStepDecided(DeliveryLedger& d, const std::string& environment, int64_t run_id,
                         int64_t create_ms, const DeployStep::Outcome* outcome);
// A counted finish taken back by a resume.
void DeliveryTakenBack(DeliveryLedger& d, const std::string* environment, int64_t run_id,
                       const std::string& status, bool by_step = false);
// The end of a poll: applies the pending finishes to the streak, in end order, and starts
// the series of a deployment pipeline at 0.
void DeliveryPollEnded(DeliveryLedger& d, const std::string* environment);

class Delivery : public RunObserver {
 public:
  static constexpr size_t kMaxDeploys = RunHistory::kMaxRemembered;
  static constexpr size_t kMaxPending = RunHistory::kMaxRemembered + RunHistory::kMaxTracked;
  static constexpr size_t kMaxAwaiting = 300;        // runs awaiting their detail, per pipeline
  static constexpr int64_t kMaxDetailAttempts = 10;  // then the run is given up (logged)

  explicit Delivery(config::DeliveryConfig config);
  ~Delivery() override;

  // A new configuration (reload): the state is kept, the environments are matched again.
  void SetConfig(const config::DeliveryConfig& config);
  bool Enabled() const;
  // The pipeline group ids delivery.deployments names (their members are looked up).
  std::set<int64_t> GroupIds() const;
  // The watched pipelines (id, name) and the members of the named groups: assigns each
  // pipeline to the first deployments entry that matches it by id, name or group. The first
  // call after a configuration warns about each environment no pipeline matched.
  void SetPipelines(const std::vector<std::pair<std::string, std::string>>& named,
                    const std::map<int64_t, std::set<std::string>>& group_members);
  // Before each history poll: refreshes the members of the named pipeline groups (at most
  // every kGroupRefresh; a failed refresh keeps the previous members, logged) and calls
  // SetPipelines. Blocks until the group lists are read (by the deadline).
  static constexpr std::chrono::minutes kGroupRefresh{10};
  void Prepare(flowapi::Api& api, const std::vector<std::pair<std::string, std::string>>& named,
               Clock::Steady deadline, const Clock& clock = SystemClock::Instance());
  // The environment a pipeline deploys to, or "" when none.
  std::string EnvironmentOf(const std::string& pipeline_id) const;

  void Counted(const std::string& pipeline_id, RunLedger& l, const model::RunSummary& run) override;
  void TakenBack(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
                 const std::string& status) override;
  void PollEnded(const std::string& pipeline_id, RunLedger& l) override;
  void WantedDetails(const RunLedger& l, std::set<int64_t>& ids) const override;
  void Detail(const std::string& pipeline_id, RunLedger& l, int64_t run_id,
              const model::PipelineRun* run, bool gone) override;

  // Appends the deployments_total, deployment_lead_time_seconds,
  // pipeline_failing_since_timestamp_seconds and pipeline_restore_duration_seconds
  // families for these pipelines (id, name).
  void Render(std::string& out, const RunHistory& history,
              const std::vector<std::pair<std::string, std::string>>& pipelines) const;

 private:
  struct Matcher {
    config::DeploymentConfig config;
    std::unique_ptr<re2::RE2> include;       // null: none
    std::shared_ptr<const DeployStep> step;  // null: the whole run deploys
  };
  struct Assignment {
    std::string environment;
    std::shared_ptr<const DeployStep> step;
  };
  std::optional<Assignment> AssignmentOf(const std::string& pipeline_id) const;

  mutable std::mutex mu_;
  std::vector<Matcher> matchers_;
  std::map<std::string, Assignment> environments_;  // pipeline id -> its deployments
  bool warned_ = false;                             // the unmatched environments
  // Prepare's: the members of each group, and when they were read (one caller at a time).
  std::mutex groups_mu_;
  std::map<int64_t, std::set<std::string>> group_members_;
  std::optional<Clock::Steady> groups_read_;
};

}  // namespace yfe::collector
