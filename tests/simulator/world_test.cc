#include "world.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "json_render.h"

namespace yfe::sim {
namespace {

constexpr int64_t kFrozenMs = 1732800000000;  // 2024-11-28T13:20:00Z
constexpr int64_t kMinute = 60 * 1000;

bool IsUnfinished(const std::string& status) {
  return status == "RUNNING" || status == "WAITING" || status == "SWITCH_MANUAL";
}

// Structural invariants every run must satisfy, whatever instant it is seen at.
void CheckRunInvariants(const RunView& r, int64_t now, const WorldOptions& o) {
  SCOPED_TRACE("pipeline " + std::to_string(r.pipeline_id) + " run " + std::to_string(r.run_id) +
               " status " + r.status);
  ASSERT_EQ(static_cast<int>(r.stages.size()), o.stages);
  EXPECT_LE(r.start_time, now);
  EXPECT_LE(r.update_time, now);
  EXPECT_GE(r.update_time, r.start_time);
  EXPECT_TRUE(std::set<int>({1, 2, 3, 5, 6}).contains(r.trigger_mode)) << r.trigger_mode;
  if (!r.finished) {
    EXPECT_EQ(r.end_time, r.start_time);
    EXPECT_TRUE(r.status == "RUNNING" || r.status == "WAITING") << r.status;
  } else {
    EXPECT_GE(r.end_time, r.start_time);
    EXPECT_EQ(r.update_time, r.end_time);
  }
  // Stages: SUCCESS* then at most one active/terminal stage, then INIT*.
  enum { kDone, kActive, kInit } phase = kDone;
  int fail_stages = 0;
  int64_t prev_end = r.start_time;
  for (const StageView& s : r.stages) {
    SCOPED_TRACE(s.index + " " + s.status);
    ASSERT_EQ(static_cast<int>(s.jobs.size()), o.jobs_per_stage);
    if (s.status == "INIT") {
      phase = kInit;
      EXPECT_EQ(s.start_time, 0);
      EXPECT_EQ(s.end_time, 0);
      for (const JobView& j : s.jobs) {
        EXPECT_EQ(j.status, "INIT");
        EXPECT_EQ(j.start_time, 0);
        EXPECT_EQ(j.end_time, 0);
      }
      continue;
    }
    EXPECT_NE(phase, kInit) << "started stage after an INIT stage";
    EXPECT_NE(phase, kActive) << "started stage after the active stage";
    EXPECT_GE(s.start_time, prev_end);
    if (s.status != "SUCCESS") phase = kActive;
    if (s.status == "FAIL") ++fail_stages;
    if (IsUnfinished(s.status)) {
      EXPECT_FALSE(r.finished);
      EXPECT_EQ(s.end_time, s.start_time);
    } else {
      EXPECT_GE(s.end_time, s.start_time);
      prev_end = s.end_time;
    }
    int fail_jobs = 0;
    for (const JobView& j : s.jobs) {
      SCOPED_TRACE(j.sign + " " + j.status);
      if (j.status == "INIT") {
        EXPECT_EQ(j.start_time, 0);
        continue;
      }
      EXPECT_GE(j.start_time, s.start_time);
      if (IsUnfinished(j.status)) {
        EXPECT_EQ(j.end_time, j.start_time);
        EXPECT_FALSE(r.finished);
      } else {
        EXPECT_GE(j.end_time, j.start_time);
        if (!IsUnfinished(s.status)) {
          EXPECT_LE(j.end_time, s.end_time);
        }
        EXPECT_LE(j.end_time, r.update_time);
      }
      if (j.status == "FAIL") ++fail_jobs;
    }
    EXPECT_EQ(fail_jobs, s.status == "FAIL" ? 1 : 0);
  }
  if (r.finished && r.status == "SUCCESS") {
    for (const StageView& s : r.stages) EXPECT_EQ(s.status, "SUCCESS");
  }
  EXPECT_EQ(fail_stages, r.finished && r.status == "FAIL" ? 1 : 0);
  if (r.finished && r.status == "CANCELED") {
    int canceled = 0;
    for (const StageView& s : r.stages) canceled += s.status == "CANCELED";
    EXPECT_EQ(canceled, 1);
  }
}

class WorldTest : public ::testing::Test {
 protected:
  WorldTest() : clock_(kFrozenMs), world_(WorldOptions{}, &clock_) {}
  SimClock clock_;
  World world_;
};

TEST_F(WorldTest, PipelinesHaveStableIdsUniqueNamesAndGroups) {
  const std::vector<PipelinePtr> ps = world_.Pipelines();
  ASSERT_EQ(ps.size(), 12u);
  std::set<std::string> names;
  std::set<int64_t> groups;
  int chinese = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(ps[i]->id, kPipelineIdBase + 1 + static_cast<int64_t>(i));
    EXPECT_TRUE(names.insert(ps[i]->name).second) << "duplicate " << ps[i]->name;
    groups.insert(ps[i]->group_id);
    if (static_cast<unsigned char>(ps[i]->name[0]) >= 0x80) ++chinese;
    EXPECT_LE(ps[i]->create_time, kFrozenMs);
    EXPECT_TRUE(ps[i]->secret_value.starts_with("SIM-SECRET-"));
  }
  EXPECT_GE(chinese, 2);
  EXPECT_EQ(groups, (std::set<int64_t>{0, 1, 2, 3, 4}));  // 0: ungrouped (every fifth)
  EXPECT_EQ(world_.Groups().size(), 4u);
}

TEST_F(WorldTest, NamesStayUniqueForManyPipelines) {
  WorldOptions o;
  o.pipelines = 200;
  World big(o, &clock_);
  std::set<std::string> names;
  for (const PipelinePtr& p : big.Pipelines()) {
    EXPECT_TRUE(names.insert(p->name).second) << p->name;
  }
}

TEST_F(WorldTest, PipelineThreeRepoCarriesCredentials) {
  for (const PipelinePtr& p : world_.Pipelines()) {
    if (p->id == kPipelineIdBase + 3) {
      EXPECT_TRUE(p->repo_url.starts_with("https://deploy:SIM-SECRET-PASSWORD@codeup.aliyun.com/"))
          << p->repo_url;
    } else {
      EXPECT_EQ(p->repo_url.find('@'), std::string::npos) << p->repo_url;
    }
  }
}

TEST_F(WorldTest, SameSeedAndFrozenClockGiveIdenticalOutput) {
  SimClock other_clock(kFrozenMs);
  World other(WorldOptions{}, &other_clock);
  WorldOptions seed2;
  seed2.seed = 2;
  World different(seed2, &clock_);
  int differing = 0;
  for (const PipelinePtr& p : world_.Pipelines()) {
    const auto a = world_.LatestRun(p->id, kFrozenMs);
    const auto b = other.LatestRun(p->id, kFrozenMs);
    const auto c = different.LatestRun(p->id, kFrozenMs);
    ASSERT_TRUE(a && b && c);
    PipelinePtr po = other.FindPipeline(p->id);
    EXPECT_EQ(RenderRun(*p, *a, world_.options()), RenderRun(*po, *b, other.options()));
    EXPECT_EQ(RenderPipeline(*p, world_.options()), RenderPipeline(*po, other.options()));
    PipelinePtr pc = different.FindPipeline(p->id);
    differing += RenderRun(*p, *a, world_.options()) != RenderRun(*pc, *c, different.options());
  }
  EXPECT_GT(differing, 6);
}

TEST_F(WorldTest, StatusProgressesThroughRunsWithValidStructure) {
  std::map<std::string, int> run_status_seen;
  std::map<std::string, int> stage_status_seen;
  for (const PipelinePtr& p : world_.Pipelines()) {
    int64_t prev_id = 0;
    std::map<std::string, int64_t> prev_job_ids;
    // Three hours in 20 s steps: about a dozen runs per pipeline.
    for (int64_t t = kFrozenMs; t < kFrozenMs + 180 * kMinute; t += 20 * 1000) {
      std::optional<RunView> r = world_.LatestRun(p->id, t);
      ASSERT_TRUE(r);
      CheckRunInvariants(*r, t, world_.options());
      if (HasFatalFailure()) return;
      if (prev_id != 0) {
        ASSERT_GE(r->run_id, prev_id);
        ASSERT_LE(r->run_id, prev_id + 1);  // ids grow by one per run
      }
      if (prev_id != 0 && r->run_id == prev_id + 1) {
        // job.id is per run; jobSign is stable.
        for (const StageView& s : r->stages) {
          for (const JobView& j : s.jobs) {
            ASSERT_TRUE(prev_job_ids.contains(j.sign));
            EXPECT_NE(prev_job_ids[j.sign], j.id);
          }
        }
      }
      prev_job_ids.clear();
      for (const StageView& s : r->stages) {
        for (const JobView& j : s.jobs) prev_job_ids[j.sign] = j.id;
        ++stage_status_seen[s.status];
      }
      prev_id = r->run_id;
      ++run_status_seen[r->status];
    }
  }
  EXPECT_GT(run_status_seen["RUNNING"], 0);
  EXPECT_GT(run_status_seen["SUCCESS"], 0);
  EXPECT_GT(run_status_seen["FAIL"], 0);
  EXPECT_GT(stage_status_seen["INIT"], 0);
  EXPECT_GT(stage_status_seen["WAITING"] + stage_status_seen["SWITCH_MANUAL"], 0);
}

TEST_F(WorldTest, HistoryMatchesFailRatioAndHasCancellations) {
  std::map<std::string, int> seen;
  int total = 0;
  for (const PipelinePtr& p : world_.Pipelines()) {
    const int64_t latest = world_.LatestRun(p->id, kFrozenMs)->run_id;
    int64_t prev_start = 0;
    for (int64_t id = 1; id <= latest; ++id) {
      std::optional<RunView> r = world_.Run(p->id, id, kFrozenMs);
      ASSERT_TRUE(r) << id;
      EXPECT_EQ(r->run_id, id);
      EXPECT_GT(r->start_time, prev_start);
      EXPECT_GE(r->start_time, p->create_time);
      prev_start = r->start_time;
      if (id < latest) {
        EXPECT_TRUE(r->finished);
        // Each run ends before the next one starts.
        EXPECT_LT(r->end_time, world_.Run(p->id, id + 1, kFrozenMs)->start_time);
      }
      if (id % 97 == 0) CheckRunInvariants(*r, kFrozenMs, world_.options());
      ++seen[r->status];
      ++total;
    }
    EXPECT_FALSE(world_.Run(p->id, latest + 1, kFrozenMs));
    EXPECT_FALSE(world_.Run(p->id, 0, kFrozenMs));
  }
  ASSERT_GT(total, 1000);
  const double fail = static_cast<double>(seen["FAIL"]) / total;
  EXPECT_NEAR(fail, 0.2, 0.03);
  EXPECT_GT(seen["CANCELED"], 0);
}

TEST_F(WorldTest, LatestRunEqualsRunById) {
  for (const PipelinePtr& p : world_.Pipelines()) {
    const RunView latest = *world_.LatestRun(p->id, kFrozenMs);
    const RunView by_id = *world_.Run(p->id, latest.run_id, kFrozenMs);
    EXPECT_EQ(RenderRun(*p, latest, world_.options()), RenderRun(*p, by_id, world_.options()));
  }
}

TEST_F(WorldTest, ListRunsPagesNewestFirst) {
  const int64_t pid = kPipelineIdBase + 1;
  const int64_t latest = world_.LatestRun(pid, kFrozenMs)->run_id;
  std::optional<RunPage> page = world_.ListRuns(pid, 2, 10, kFrozenMs);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->total, latest);
  ASSERT_EQ(page->items.size(), 10u);
  EXPECT_EQ(page->items[0].run_id, latest - 10);
  EXPECT_EQ(page->items[9].run_id, latest - 19);
  EXPECT_TRUE(page->items[0].stages.empty());

  EXPECT_FALSE(world_.ListRuns(42, 1, 10, kFrozenMs));
  page = world_.ListRuns(pid, 1000000, 30, kFrozenMs);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->items.empty());
}

TEST_F(WorldTest, FinishOverrideEndsNowAndHolds) {
  const int64_t pid = kPipelineIdBase + 2;
  const int64_t before = world_.LatestRun(pid, kFrozenMs)->run_id;
  ASSERT_TRUE(world_.FinishLatest(pid, "FAIL"));
  RunView r = *world_.LatestRun(pid, kFrozenMs);
  EXPECT_EQ(r.run_id, before + 1);
  EXPECT_EQ(r.status, "FAIL");
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.end_time, kFrozenMs);
  EXPECT_EQ(r.update_time, kFrozenMs);
  CheckRunInvariants(r, kFrozenMs, world_.options());
  // Older runs are still there; the override holds as time passes.
  EXPECT_TRUE(world_.Run(pid, before, kFrozenMs));
  clock_.Advance(6 * 60 * kMinute);
  r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_EQ(r.run_id, before + 1);
  EXPECT_EQ(r.status, "FAIL");

  ASSERT_TRUE(world_.FinishLatest(pid, "CANCELED"));
  r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_EQ(r.run_id, before + 2);
  EXPECT_EQ(r.status, "CANCELED");
  CheckRunInvariants(r, clock_.NowMs(), world_.options());

  // Unknown statuses are passed through.
  ASSERT_TRUE(world_.FinishLatest(pid, "FINISH"));
  r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_EQ(r.status, "FINISH");
  EXPECT_EQ(r.stages.back().status, "FINISH");

  ASSERT_TRUE(world_.ClearOverride(pid));
  clock_.Advance(60 * kMinute);
  r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_GT(r.run_id, before + 3);
  // Ids stay contiguous across segments.
  for (int64_t id = 1; id <= r.run_id; ++id) {
    ASSERT_TRUE(world_.Run(pid, id, clock_.NowMs())) << id;
  }
  EXPECT_FALSE(world_.FinishLatest(42, "FAIL"));
}

TEST_F(WorldTest, StartOverrideStaysRunning) {
  const int64_t pid = kPipelineIdBase + 4;
  const int64_t before = world_.LatestRun(pid, kFrozenMs)->run_id;
  ASSERT_TRUE(world_.StartRun(pid));
  RunView r = *world_.LatestRun(pid, kFrozenMs);
  EXPECT_EQ(r.run_id, before + 1);
  EXPECT_EQ(r.start_time, kFrozenMs);
  EXPECT_FALSE(r.finished);
  EXPECT_TRUE(r.status == "RUNNING" || r.status == "WAITING");
  clock_.Advance(24 * 60 * kMinute);
  r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_EQ(r.run_id, before + 1);
  EXPECT_FALSE(r.finished);
  CheckRunInvariants(r, clock_.NowMs(), world_.options());
  ASSERT_TRUE(world_.ClearOverride(pid));
  r = *world_.Run(pid, before + 1, clock_.NowMs());
  EXPECT_TRUE(r.finished);
}

// Retrying a failed job acts on the existing run: back to RUNNING, same id, finishes again.
// The finishes of one run, from the ground truth.
std::vector<FinishEvent> FinishesOf(const World& w, int64_t pid, int64_t run_id, int64_t since) {
  std::vector<FinishEvent> out;
  const std::vector<FinishEvent> all = *w.Finishes(pid, since);
  for (const FinishEvent& e : all) {
    if (e.run_id == run_id) out.push_back(e);
  }
  return out;
}

// Job history's ground truth: a run's first finish ran every job it reached; its finish
// after a resume ran only the stages from the failed one on, each job once.
TEST_F(WorldTest, FinishesWithJobsListWhatEachAttemptRan) {
  const int64_t pid = kPipelineIdBase + 2;
  ASSERT_TRUE(world_.FinishLatest(pid, "FAIL"));
  const int64_t id = world_.LatestRun(pid, kFrozenMs)->run_id;
  const RunView failed = *world_.Run(pid, id, kFrozenMs);
  clock_.Advance(kMinute);
  ASSERT_EQ(world_.ResumeRun(pid, id, "SUCCESS", 10 * kMinute), RunControl::kOk);
  clock_.Advance(10 * kMinute);
  std::vector<FinishEvent> all = *world_.Finishes(pid, kFrozenMs - 1, true);
  std::vector<FinishEvent> mine;
  for (const FinishEvent& e : all) {
    if (e.run_id == id) mine.push_back(e);
  }
  ASSERT_EQ(mine.size(), 2u);
  size_t ran_first = 0, failed_jobs = 0;
  for (const StageView& s : failed.stages) {
    for (const JobView& j : s.jobs) {
      ran_first += j.status != "INIT";
      failed_jobs += j.status == "FAIL";
    }
  }
  size_t first = 0, fails = 0;
  for (const StageView& s : mine[0].stages) {
    for (const JobView& j : s.jobs) {
      ++first;
      fails += j.status == "FAIL";
    }
  }
  EXPECT_EQ(first, ran_first);
  EXPECT_EQ(fails, failed_jobs);
  EXPECT_EQ(fails, 1u);
  // The second finish: the stages from the failed one on, all started after the first end.
  ASSERT_FALSE(mine[1].stages.empty());
  EXPECT_LT(mine[1].stages.size(), failed.stages.size() + 1);
  for (const StageView& s : mine[1].stages) {
    EXPECT_GT(s.start_time, mine[0].end_time);
    for (const JobView& j : s.jobs) EXPECT_EQ(j.status, "SUCCESS");
  }
  // Without jobs: no stages.
  EXPECT_TRUE((*world_.Finishes(pid, kFrozenMs - 1))[0].stages.empty());
}

TEST_F(WorldTest, ResumedRunFinishesAgainUnderTheSameId) {
  const int64_t pid = kPipelineIdBase + 2;
  ASSERT_TRUE(world_.FinishLatest(pid, "FAIL"));
  const int64_t id = world_.LatestRun(pid, kFrozenMs)->run_id;
  clock_.Advance(kMinute);
  ASSERT_EQ(world_.ResumeRun(pid, id, "SUCCESS", 10 * kMinute), RunControl::kOk);
  RunView r = *world_.LatestRun(pid, clock_.NowMs());
  EXPECT_EQ(r.run_id, id);  // no new run
  EXPECT_EQ(r.status, "RUNNING");
  EXPECT_FALSE(r.finished);
  CheckRunInvariants(r, clock_.NowMs(), world_.options());
  RunPage page = *world_.ListRuns(pid, 1, 30, clock_.NowMs());
  EXPECT_EQ(page.items[0].run_id, id);
  EXPECT_EQ(page.items[0].status, "RUNNING");
  EXPECT_EQ(world_.ResumeRun(pid, id, "SUCCESS", kMinute), RunControl::kNotFinished);
  clock_.Advance(10 * kMinute);
  r = *world_.Run(pid, id, clock_.NowMs());
  EXPECT_EQ(r.status, "SUCCESS");
  EXPECT_EQ(r.end_time, kFrozenMs + 11 * kMinute);
  CheckRunInvariants(r, clock_.NowMs(), world_.options());
  auto finishes = FinishesOf(world_, pid, id, kFrozenMs - 1);
  ASSERT_EQ(finishes.size(), 2u);
  EXPECT_EQ(finishes[0].run_id, id);
  EXPECT_EQ(finishes[0].status, "FAIL");
  EXPECT_EQ(finishes[0].end_time, kFrozenMs);
  EXPECT_TRUE(finishes[0].superseded);
  EXPECT_EQ(finishes[1].status, "SUCCESS");
  EXPECT_FALSE(finishes[1].superseded);
  // Resumed again, to FAIL and CANCELED: each finish stays in the ground truth.
  for (const char* status : {"FAIL", "CANCELED"}) {
    ASSERT_EQ(world_.ResumeRun(pid, id, status, 5 * kMinute), RunControl::kOk);
    clock_.Advance(5 * kMinute);
    r = *world_.Run(pid, id, clock_.NowMs());
    EXPECT_EQ(r.status, status);
    CheckRunInvariants(r, clock_.NowMs(), world_.options());
  }
  EXPECT_EQ(FinishesOf(world_, pid, id, kFrozenMs - 1).size(), 4u);
  EXPECT_EQ(world_.ResumeRun(pid, id + 5, "SUCCESS", kMinute), RunControl::kNoRun);
  EXPECT_EQ(world_.ResumeRun(42, 1, "SUCCESS", kMinute), RunControl::kNoPipeline);
  EXPECT_FALSE(world_.Finishes(42, 0));
}

TEST_F(WorldTest, ResumingAScheduledRunLeavesItsNeighboursAlone) {
  const int64_t pid = kPipelineIdBase + 5;
  const int64_t latest = world_.LatestRun(pid, kFrozenMs)->run_id;
  int64_t id = latest - 3;
  while (!world_.Run(pid, id, kFrozenMs)->finished) --id;
  const RunView before = *world_.Run(pid, id - 1, kFrozenMs);
  const RunView after = *world_.Run(pid, id + 1, kFrozenMs);
  ASSERT_EQ(world_.ResumeRun(pid, id, "FAIL", 2 * kMinute), RunControl::kOk);
  EXPECT_EQ(world_.Run(pid, id, kFrozenMs)->status, "RUNNING");
  EXPECT_EQ(world_.Run(pid, id - 1, kFrozenMs)->end_time, before.end_time);
  EXPECT_EQ(world_.Run(pid, id - 1, kFrozenMs)->status, before.status);
  EXPECT_EQ(world_.Run(pid, id + 1, kFrozenMs)->end_time, after.end_time);
  EXPECT_EQ(world_.Run(pid, id + 1, kFrozenMs)->status, after.status);
  EXPECT_EQ(world_.LatestRun(pid, kFrozenMs)->run_id, latest);
  // The schedule goes on after the split.
  clock_.Advance(120 * kMinute);
  const int64_t later = world_.LatestRun(pid, clock_.NowMs())->run_id;
  EXPECT_GT(later, latest);
  for (int64_t i = 1; i <= later; ++i) ASSERT_TRUE(world_.Run(pid, i, clock_.NowMs())) << i;
  EXPECT_EQ(world_.Run(pid, id, clock_.NowMs())->status, "FAIL");
}

TEST_F(WorldTest, HeldRunWaitsUntilResumed) {
  const int64_t pid = kPipelineIdBase + 3;
  ASSERT_TRUE(world_.HoldRun(pid, "WAITING"));
  const int64_t id = world_.LatestRun(pid, kFrozenMs)->run_id;
  EXPECT_EQ(world_.LatestRun(pid, kFrozenMs)->status, "WAITING");
  clock_.Advance(3 * 24 * 60 * kMinute);
  RunView r = *world_.Run(pid, id, clock_.NowMs());
  EXPECT_EQ(r.status, "WAITING");
  CheckRunInvariants(r, clock_.NowMs(), world_.options());
  EXPECT_TRUE(FinishesOf(world_, pid, id, kFrozenMs - 1).empty());
  // Passing the checkpoint: it runs on and finishes.
  ASSERT_EQ(world_.ResumeRun(pid, id, "SUCCESS", kMinute), RunControl::kOk);
  EXPECT_EQ(world_.Run(pid, id, clock_.NowMs())->status, "RUNNING");
  clock_.Advance(kMinute);
  r = *world_.Run(pid, id, clock_.NowMs());
  EXPECT_EQ(r.status, "SUCCESS");
  CheckRunInvariants(r, clock_.NowMs(), world_.options());
  auto finishes = FinishesOf(world_, pid, id, kFrozenMs - 1);
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_FALSE(finishes[0].superseded);
}

// The ground truth agrees with what the run list shows.
TEST_F(WorldTest, FinishesOfTheScheduleMatchTheRunList) {
  WorldOptions o;
  o.run_duration_ms = 2 * kMinute;
  o.run_gap_ms = kMinute;
  SimClock clock(kFrozenMs);
  World w(o, &clock);
  const int64_t pid = kPipelineIdBase + 1;
  const int64_t since = kFrozenMs - 3 * 60 * kMinute;
  std::vector<std::pair<int64_t, std::string>> listed;
  for (int64_t page = 1; page <= 10; ++page) {
    const RunPage listed_page = *w.ListRuns(pid, page, 30, kFrozenMs);
    for (const RunView& v : listed_page.items) {
      if (v.finished && v.end_time > since) listed.emplace_back(v.run_id, v.status);
    }
  }
  std::sort(listed.begin(), listed.end());
  std::vector<std::pair<int64_t, std::string>> truth;
  const std::vector<FinishEvent> events = *w.Finishes(pid, since);
  for (const FinishEvent& e : events) truth.emplace_back(e.run_id, e.status);
  std::sort(truth.begin(), truth.end());
  EXPECT_GT(truth.size(), 30u);
  EXPECT_EQ(truth, listed);
}

TEST_F(WorldTest, AddAndRemovePipelines) {
  const std::vector<int64_t> added = world_.AddPipelines(3);
  EXPECT_EQ(added, (std::vector<int64_t>{1000013, 1000014, 1000015}));
  EXPECT_TRUE(world_.LatestRun(1000014, kFrozenMs));
  EXPECT_EQ(world_.RemovePipelines({1000002, 42}), (std::vector<int64_t>{1000002}));
  EXPECT_FALSE(world_.FindPipeline(1000002));
  EXPECT_FALSE(world_.LatestRun(1000002, kFrozenMs));
  EXPECT_EQ(world_.Pipelines().size(), 14u);
  std::set<std::string> names;
  for (const PipelinePtr& p : world_.Pipelines()) EXPECT_TRUE(names.insert(p->name).second);
  EXPECT_EQ(world_.Truth().size(), 14u);
}

TEST_F(WorldTest, RenderedRunIsValidJsonWithEscapedResult) {
  for (const PipelinePtr& p : world_.Pipelines()) {
    const std::string body = RenderRun(*p, *world_.LatestRun(p->id, kFrozenMs), world_.options());
    rapidjson::Document doc;
    doc.Parse(body.c_str(), body.size());
    ASSERT_FALSE(doc.HasParseError());
    ASSERT_TRUE(doc.IsObject());
    EXPECT_FALSE(doc.HasMember("endTime"));
    for (const auto& stage : doc["stages"].GetArray()) {
      for (const auto& job : stage["stageInfo"]["jobs"].GetArray()) {
        ASSERT_TRUE(job["result"].IsString());
        rapidjson::Document result;
        result.Parse(job["result"].GetString());
        EXPECT_FALSE(result.HasParseError()) << job["result"].GetString();
        EXPECT_TRUE(job["params"].IsString());
      }
    }
    bool has_secret = false;
    for (const auto& param : doc["globalParams"].GetArray()) {
      if (param["encrypted"].GetBool()) {
        has_secret = std::string(param["value"].GetString()).starts_with("SIM-SECRET-");
      }
    }
    EXPECT_TRUE(has_secret);
  }
}

TEST(SimClockTest, RealClockRefusesChanges) {
  SimClock real;
  EXPECT_FALSE(real.IsFrozen());
  EXPECT_FALSE(real.Advance(1000));
  EXPECT_FALSE(real.Set(1000));
  SimClock frozen(5000);
  EXPECT_TRUE(frozen.Advance(1000));
  EXPECT_EQ(frozen.NowMs(), 6000);
  EXPECT_TRUE(frozen.Set(10));
  EXPECT_EQ(frozen.NowMs(), 10);
}

// --history: every pipeline has weeks of past runs, whatever its run count; the ground
// truth of finishes gives each run's start.
TEST(WorldEdgeTest, HistoryReachesBackWeeks) {
  SimClock clock(kFrozenMs);
  WorldOptions o;
  o.pipelines = 8;
  o.history_ms = 21LL * 24 * 3600 * 1000;
  World w(o, &clock);
  for (const PipelinePtr& p : w.Pipelines()) {
    EXPECT_LE(p->create_time, kFrozenMs - o.history_ms) << p->id;
    const auto finishes = w.Finishes(p->id, kFrozenMs - 20LL * 24 * 3600 * 1000);
    ASSERT_TRUE(finishes);
    EXPECT_GT(finishes->size(), 20u * 24 * 3600 * 1000 / (o.run_duration_ms + o.run_gap_ms) - 5);
    for (const FinishEvent& f : *finishes) {
      std::optional<RunView> r = w.Run(p->id, f.run_id, kFrozenMs);
      ASSERT_TRUE(r);
      EXPECT_EQ(f.start_time, r->start_time);
    }
  }
}

TEST(WorldEdgeTest, TinyDurationsStillNest) {
  SimClock clock(kFrozenMs);
  WorldOptions o;
  o.run_duration_ms = 100;
  o.run_gap_ms = 0;
  o.stages = 3;
  o.jobs_per_stage = 1;
  o.pipelines = 3;
  World w(o, &clock);
  for (int step = 0; step < 200; ++step) {
    for (const PipelinePtr& p : w.Pipelines()) {
      std::optional<RunView> r = w.LatestRun(p->id, clock.NowMs());
      ASSERT_TRUE(r);
      CheckRunInvariants(*r, clock.NowMs(), o);
      if (HasFatalFailure()) return;
    }
    clock.Advance(7);
  }
}

}  // namespace
}  // namespace yfe::sim
