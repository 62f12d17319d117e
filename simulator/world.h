// The simulated Yunxiao Flow organisation: pipelines, their infinite
// deterministic run schedules, and the overrides the control API applies.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace yfe::sim {

// Pipeline number i (1-based, in creation order) has id kPipelineIdBase + i.
inline constexpr int64_t kPipelineIdBase = 1000000;
inline constexpr int kMaxStages = 20;
inline constexpr int kMaxJobsPerStage = 20;

struct WorldOptions {
  uint64_t seed = 1;
  int pipelines = 12;
  int stages = 5;
  int jobs_per_stage = 4;
  int64_t run_duration_ms = 10 * 60 * 1000;
  int64_t run_gap_ms = 5 * 60 * 1000;
  double fail_ratio = 0.2;
  std::string organization_id = "sim-org";
  // The last `never_run` pipelines created at start have never run; their latest run is
  // answered in turn as 404, an empty 200, `null` and `{}` (see NoRunStyle).
  int never_run = 0;
  // 0: pipelines are created 3–28 days (at most a few thousand runs) before the anchor;
  // else every pipeline is created this long before it (weeks of history for backfills).
  int64_t history_ms = 0;
};

// How the latest run of a pipeline that never ran is answered (undocumented upstream).
enum class NoRunStyle { kNotFound, kEmpty, kNull, kEmptyObject };

// Simulated "now": the wall clock, or a frozen value moved only on request.
class SimClock {
 public:
  // frozen_ms empty: real clock.
  explicit SimClock(std::optional<int64_t> frozen_ms = std::nullopt);

  int64_t NowMs() const;
  bool IsFrozen() const { return frozen_; }
  // Both fail (return false) on a real clock.
  bool Advance(int64_t delta_ms);
  bool Set(int64_t ms);

 private:
  const bool frozen_;
  std::atomic<int64_t> frozen_ms_;
};

struct Tag {
  int64_t id = 0;
  std::string name;
};

struct PipelineGroup {
  int64_t id = 0;
  std::string name;
  int64_t create_time = 0;
};

// Static facts about a pipeline (never change after creation).
struct PipelineInfo {
  int64_t id = 0;
  int ordinal = 0;
  std::string name;
  int64_t group_id = 0;  // 0: ungrouped (every fifth pipeline)
  std::string group_name;
  int env_id = 0;
  std::string env_name;
  std::vector<Tag> tags;
  int64_t create_time = 0;
  int64_t update_time = 0;
  std::string creator_account_id;
  std::string modifier_account_id;
  int64_t config_id = 0;
  std::string repo_slug;
  std::string repo_label;
  std::string repo_url;  // pipeline #3 carries userinfo credentials
  std::string branch;
  std::string source_sign;
  std::string webhook;
  std::string secret_value;  // value of the encrypted global param
  int64_t credential_id = 0;
  int64_t service_connection_id = 0;
  std::vector<std::string> stage_names;
  std::vector<std::vector<std::string>> job_names;
  int manual_stage = -1;         // stage whose job 0 is a manual approval, or -1
  std::string manual_kind;       // WAITING or SWITCH_MANUAL
  int64_t schedule_base_ms = 0;  // slot 0 of the schedule starts here
  bool never_run = false;        // no run until the control API starts one
  NoRunStyle no_run_style = NoRunStyle::kNotFound;
};

struct JobView {
  int64_t id = 0;
  std::string sign;
  std::string name;
  std::string status;
  int64_t start_time = 0;
  int64_t end_time = 0;
};

struct StageView {
  std::string index;
  std::string name;
  std::string status;
  int64_t start_time = 0;
  int64_t end_time = 0;
  std::vector<JobView> jobs;
};

// A run as seen at one instant. stages is empty for summaries.
struct RunView {
  int64_t run_id = 0;
  int64_t pipeline_id = 0;
  std::string status;
  int trigger_mode = 1;
  int64_t start_time = 0;  // == createTime
  int64_t end_time = 0;    // == start_time while unfinished
  int64_t update_time = 0;
  bool finished = false;
  std::string creator_account_id;
  std::vector<StageView> stages;
};

struct RunPage {
  std::vector<RunView> items;
  int64_t total = 0;
};

struct RawLatest {
  std::string body;
  int status = 200;
};

struct PipelineTruth {
  int64_t id = 0;
  std::string name;
  int64_t group_id = 0;
  int64_t latest_run_id = 0;
  std::string status;
};

// One finish of a run, as the API showed it. A resumed run finishes more than once.
struct FinishEvent {
  int64_t run_id = 0;
  std::string status;
  int64_t end_time = 0;
  bool superseded = false;  // the run was resumed after this finish
  int64_t start_time = 0;   // the run's start (its duration at this finish: end - start)
  // With jobs: the stages and jobs this finish ran to a final status (SUCCESS, FAIL,
  // CANCELED): all those of a run's first finish; after a resume, those that started after
  // the finish it resumed from (the ones that ran again). Stages hold only such jobs.
  std::vector<StageView> stages;
};

// Outcome of a control operation on one run.
enum class RunControl { kOk, kNoPipeline, kNoRun, kNotFinished };

using PipelinePtr = std::shared_ptr<const PipelineInfo>;

struct RunPlan;  // world.cc

class World {
 public:
  World(WorldOptions options, SimClock* clock);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const WorldOptions& options() const { return options_; }
  SimClock& clock() { return *clock_; }
  int64_t NowMs() const { return clock_->NowMs(); }

  std::vector<PipelinePtr> Pipelines() const;  // ascending id
  PipelinePtr FindPipeline(int64_t id) const;
  std::vector<PipelineGroup> Groups() const { return groups_; }

  // Run lookups at simulated time `now`. Empty when the pipeline or run does
  // not exist (a pipeline that has never run has no latest run).
  std::optional<RunView> LatestRun(int64_t pipeline_id, int64_t now) const;
  std::optional<RunView> Run(int64_t pipeline_id, int64_t run_id, int64_t now) const;
  // Newest first. Empty optional: unknown pipeline.
  std::optional<RunPage> ListRuns(int64_t pipeline_id, int64_t page, int64_t per_page,
                                  int64_t now) const;
  std::optional<RawLatest> RawLatestFor(int64_t pipeline_id) const;

  // Control operations; false when the pipeline does not exist.
  bool FinishLatest(int64_t pipeline_id, const std::string& status);
  bool StartRun(int64_t pipeline_id);
  // A new run held unfinished with this run-level status (e.g. WAITING: stuck at a manual
  // checkpoint) until resumed.
  bool HoldRun(int64_t pipeline_id, const std::string& status);
  // Resumes run_id from now: a finished run goes back to RUNNING under the same id (as a
  // retried or skipped job, or a passed checkpoint, does), a held run is released; either
  // finishes with `status` after duration_ms. kNotFinished: it is running on its own.
  RunControl ResumeRun(int64_t pipeline_id, int64_t run_id, const std::string& status,
                       int64_t duration_ms);
  // Ground truth for run history: every finish with since_ms < end_time <= now, ordered by
  // end time. Empty optional: unknown pipeline.
  // with_jobs: each finish with the stages and jobs it ran (FinishEvent::stages).
  std::optional<std::vector<FinishEvent>> Finishes(int64_t pipeline_id, int64_t since_ms,
                                                   bool with_jobs = false) const;
  bool ClearOverride(int64_t pipeline_id);
  bool SetRawLatest(int64_t pipeline_id, RawLatest raw);
  bool ClearRawLatest(int64_t pipeline_id);
  std::vector<int64_t> AddPipelines(int count);
  std::vector<int64_t> RemovePipelines(const std::vector<int64_t>& ids);
  std::vector<PipelineTruth> Truth() const;

 private:
  // A pipeline's run history is a list of id ranges: either a stretch of the
  // deterministic schedule (slot k0 has id first_id) or one fixed run created
  // by an override. Ids are contiguous from 1 to the latest run.
  struct Segment {
    int64_t first_id = 1;
    int64_t last_id = 0;             // inclusive; kOpenSegment for the running schedule
    int64_t k0 = 0;                  // schedule slot of first_id (scheduled segments)
    std::shared_ptr<RunPlan> fixed;  // set for override runs
  };
  struct PipelineState {
    PipelinePtr info;
    std::vector<Segment> segments;
    std::optional<RawLatest> raw_latest;
  };
  struct Slot {
    int64_t start = 0;
    int64_t duration = 0;
  };

  PipelinePtr MakePipeline(int ordinal, int64_t anchor_ms) const;
  int64_t Period() const;
  Slot DrawSlot(const PipelineInfo& p, int64_t k) const;
  int64_t LatestSlot(const PipelineInfo& p, int64_t now) const;
  RunPlan MakePlan(const PipelineInfo& p, uint64_t key, int64_t run_id, int64_t start,
                   int64_t duration, const std::string* forced_outcome) const;
  RunView Evaluate(const PipelineInfo& p, const RunPlan& plan, int64_t now, bool detail) const;
  int64_t LatestId(const PipelineState& st, int64_t now) const;
  std::optional<RunPlan> PlanForId(const PipelineState& st, int64_t run_id, int64_t now) const;
  int64_t CloseSchedule(PipelineState& st, int64_t now);
  // Ends the schedule and appends one fixed run: finished now with `status`, or running
  // from now (and finishing with `status` once the override is cleared).
  bool AddOverrideRun(int64_t pipeline_id, std::string_view tag, const std::string& status,
                      bool running, const std::string& hold_status = "");

  const WorldOptions options_;
  SimClock* const clock_;
  int64_t anchor_ms_ = 0;
  std::vector<std::string> accounts_;
  std::vector<int> ascii_order_;
  std::vector<int> chinese_order_;
  std::vector<PipelineGroup> groups_;

  mutable std::shared_mutex mu_;
  std::map<int64_t, PipelineState> pipelines_;
  int next_ordinal_ = 1;
};

}  // namespace yfe::sim
