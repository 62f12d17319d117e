// Job history (collect.job_history): per job_sign counts and durations from the detail of
// each counted run finish, resumed runs, failed detail fetches, caps, and the ledger.
#include "collector/job_history.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "collector/history.h"
#include "collector/ledger_store.h"
#include "config/config.h"
#include "model/status.h"
#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::collector {
namespace {

constexpr int64_t kT0 = 1700000000000;

struct FakeJob {
  std::string sign, name, status;
  int64_t start = 0, end = 0;
};
struct FakeStage {
  std::string name, status;
  int64_t start = 0, end = 0;
  std::vector<FakeJob> jobs;
};
struct FakeRun {
  int64_t id = 0;
  std::string status;
  int64_t start = 0, end = 0;
  std::vector<FakeStage> stages;
};

// A run of stage "Build" (jobs a, b) then "Deploy" (job c), with these job outcomes; a job
// with an empty outcome did not run (INIT). Each job takes 10 s, one after the other.
FakeRun MakeRun(int64_t id, const std::string& status, std::vector<std::string> outcomes,
                int64_t start = 0) {
  FakeRun r{id, status, start ? start : kT0 + id * 3'600'000, 0, {}};
  int64_t t = r.start;
  const char* signs[] = {"a", "b", "c"};
  for (int s = 0; s < 2; ++s) {
    FakeStage st{s == 0 ? "Build" : "Deploy", "INIT", 0, 0, {}};
    for (int j = s == 0 ? 0 : 2; j < (s == 0 ? 2 : 3); ++j) {
      FakeJob job{signs[j], std::string("job ") + signs[j], "INIT"};
      if (!outcomes[static_cast<size_t>(j)].empty()) {
        job.status = outcomes[static_cast<size_t>(j)];
        job.start = t;
        job.end = model::IsFinished(job.status) ? t + 10'000 : 0;
        t += 10'000;
        if (st.start == 0) st.start = job.start;
        st.end = job.end;
        st.status = job.status;
      }
      st.jobs.push_back(job);
    }
    r.stages.push_back(st);
  }
  r.end = model::IsFinished(status) ? t : 0;
  return r;
}

// One pipeline ("p"): lists summaries, answers GetPipelineRun with stages and jobs.
class FakeApi : public flowapi::Api {
 public:
  void GetLatestRun(std::string_view, Clock::Steady, Callback) override {}
  void GetPipeline(std::string_view, Clock::Steady, Callback) override {}
  void ListPipelines(int, int, Clock::Steady, Callback) override {}
  bool ApiUp(Clock::Steady) const override { return true; }

  void ListRuns(std::string_view, int page, int per_page, Clock::Steady, Callback done) override {
    flowapi::ApiResult r;
    r.ok = true;
    r.status = 200;
    r.body = "[";
    int i = 0;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it, ++i) {
      if (i < (page - 1) * per_page || i >= page * per_page) continue;
      if (r.body.size() > 1) r.body += ",";
      const FakeRun& x = it->second;
      r.body += R"({"pipelineRunId":)" + std::to_string(x.id) + R"(,"status":")" + x.status +
                R"(","triggerMode":1,"startTime":)" + std::to_string(x.start) + R"(,"endTime":)" +
                std::to_string(x.end) + "}";
    }
    r.body += "]";
    done(r);
  }
  void GetRun(std::string_view, int64_t run_id, Clock::Steady, Callback done) override {
    ++gets[run_id];
    flowapi::ApiResult r;
    auto it = runs.find(run_id);
    if (failing.count(run_id) || it == runs.end()) {
      r.status = it == runs.end() ? 404 : 503;
      r.error = "HTTP " + std::to_string(r.status);
      return done(r);
    }
    r.ok = true;
    r.status = 200;
    r.body = Detail(it->second);
    done(r);
  }
  static std::string Detail(const FakeRun& x) {
    std::string b = R"({"pipelineRunId":)" + std::to_string(x.id) + R"(,"status":")" + x.status +
                    R"(","triggerMode":1,"createTime":)" + std::to_string(x.start) +
                    R"(,"updateTime":)" + std::to_string(x.end ? x.end : x.start) +
                    R"(,"stages":[)";
    for (size_t s = 0; s < x.stages.size(); ++s) {
      const FakeStage& st = x.stages[s];
      b += (s ? "," : "") + std::string(R"({"index":"Group0-Stage)") + std::to_string(s) +
           R"(","name":")" + st.name + R"(","stageInfo":{"status":")" + st.status +
           R"(","startTime":)" + std::to_string(st.start) + R"(,"endTime":)" +
           std::to_string(st.end) + R"(,"jobs":[)";
      for (size_t j = 0; j < st.jobs.size(); ++j) {
        const FakeJob& job = st.jobs[j];
        b += (j ? "," : "") + std::string(R"({"id":)") + std::to_string(x.id * 100 + j) +
             R"(,"jobSign":")" + job.sign + R"(","name":")" + job.name + R"(","status":")" +
             job.status + R"(","startTime":)" + std::to_string(job.start) + R"(,"endTime":)" +
             std::to_string(job.end) + "}";
      }
      b += "]}}";
    }
    return b + "]}";
  }

  void Set(const FakeRun& r) { runs[r.id] = r; }
  int Gets() const {
    int n = 0;
    for (const auto& [id, c] : gets) n += c;
    return n;
  }

  std::map<int64_t, FakeRun> runs;
  std::set<int64_t> failing;
  std::map<int64_t, int> gets;
};

// A run history with job history on (buckets 5, 15, 60) or off.
struct History : RunHistory {
  explicit History(bool jobs = true) : RunHistory({60, 600}) { SetJobHistory(jobs, {5, 15, 60}); }
};

void Poll(RunHistory& h, FakeApi& api) {
  PollRunHistory(api, h, {"p"}, Clock::Steady::max(), [](std::string_view) {});
}

double JobRuns(const RunHistory& h, const std::string& sign, const std::string& status) {
  double n = 0;
  for (const auto& [key, v] : h.LedgerOf("p").job_runs) {
    if (std::get<1>(key.first) == sign && key.second == status) n += v;
  }
  return n;
}

double JobDurations(const RunHistory& h, const std::string& sign) {
  double n = 0;
  for (const auto& [id, hist] : h.LedgerOf("p").job_durations) {
    if (std::get<1>(id) == sign) n += hist.count;
  }
  return n;
}

const std::vector<std::string> kAllGood = {"SUCCESS", "SUCCESS", "SUCCESS"};

TEST(JobHistory, CountsEachFinishedRunsJobsOncePerJobSign) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));                    // baseline: not counted
  api.Set(MakeRun(2, "RUNNING", {"SUCCESS", "RUNNING", ""}));  // counted when it finishes
  Poll(h, api);
  EXPECT_EQ(api.Gets(), 0);
  api.Set(MakeRun(2, "FAIL", {"SUCCESS", "FAIL", ""}));
  api.Set(MakeRun(3, "SUCCESS", kAllGood));
  Poll(h, api);
  EXPECT_EQ(api.gets[2], 1);
  EXPECT_EQ(api.gets[3], 1);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 2);
  EXPECT_EQ(JobRuns(h, "b", "FAIL"), 1);
  EXPECT_EQ(JobRuns(h, "b", "SUCCESS"), 1);
  EXPECT_EQ(JobRuns(h, "c", "SUCCESS"), 1);  // not run in run 2 (INIT): not counted
  EXPECT_EQ(JobRuns(h, "c", "INIT"), 0);
  EXPECT_EQ(JobDurations(h, "a"), 2);
  EXPECT_EQ(h.LedgerOf("p").job_durations.at({"Build", "a", "job a"}).sum, 20);
  EXPECT_EQ(h.LedgerOf("p").stage_durations.at("Build").count, 2);
  EXPECT_EQ(h.LedgerOf("p").stage_durations.at("Deploy").count, 1);
  // Nothing is fetched or counted again.
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(api.Gets(), 2);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 2);
  EXPECT_TRUE(h.LedgerOf("p").pending_details.empty());
}

TEST(JobHistory, OffFetchesNoDetailsAndRendersNoJobSeries) {
  History h(false);
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  api.Set(MakeRun(2, "SUCCESS", kAllGood));
  Poll(h, api);
  EXPECT_EQ(api.Gets(), 0);
  std::string out;
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(out.find("yunxiao_flow_job_"), std::string::npos);
}

TEST(JobHistory, ResumedRunCountsOnlyTheJobsThatRanAgain) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  FakeRun run = MakeRun(2, "FAIL", {"SUCCESS", "FAIL", ""});
  api.Set(run);
  Poll(h, api);
  EXPECT_EQ(JobRuns(h, "b", "FAIL"), 1);
  // Job b is retried an hour later: the run goes back to RUNNING, then succeeds.
  FakeRun again = run;
  again.status = "RUNNING";
  FakeJob& b = again.stages[0].jobs[1];
  b = {"b", "job b", "RUNNING", run.end + 3'600'000, 0};
  api.Set(again);
  Poll(h, api);
  b.status = "SUCCESS";
  b.end = b.start + 30'000;
  again.stages[1].jobs[0] = {"c", "job c", "SUCCESS", b.end, b.end + 10'000};
  again.stages[1].status = "SUCCESS";
  again.stages[1].start = b.end;
  again.stages[1].end = b.end + 10'000;
  again.status = "SUCCESS";
  again.end = b.end + 10'000;
  api.Set(again);
  Poll(h, api);
  EXPECT_EQ(h.Resumed("p", "FAIL", "manual"), 1);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 1);  // ran once
  EXPECT_EQ(JobRuns(h, "b", "FAIL"), 1);
  EXPECT_EQ(JobRuns(h, "b", "SUCCESS"), 1);
  EXPECT_EQ(JobRuns(h, "c", "SUCCESS"), 1);
  EXPECT_EQ(JobDurations(h, "b"), 2);
  EXPECT_EQ(h.LedgerOf("p").stage_durations.at("Build").count, 1);  // its start did not move
  EXPECT_EQ(h.LedgerOf("p").stage_durations.at("Deploy").count, 1);
}

TEST(JobHistory, FailedDetailIsRetriedNextPollAndCountedOnce) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  api.Set(MakeRun(2, "SUCCESS", kAllGood));
  api.failing.insert(2);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "SUCCESS", "manual"), 1);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 0);
  EXPECT_EQ(h.LedgerOf("p").pending_details.size(), 1u);
  api.failing.clear();
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(api.gets[2], 2);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 1);
  EXPECT_TRUE(h.LedgerOf("p").pending_details.empty());
}

TEST(JobHistory, DetailThatNeverComesIsGivenUpAndCounted) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  api.Set(MakeRun(2, "SUCCESS", kAllGood));
  api.failing.insert(2);
  for (int i = 0; i < jobs::kMaxDetailAttempts + 3; ++i) Poll(h, api);
  EXPECT_EQ(api.gets[2], jobs::kMaxDetailAttempts);
  EXPECT_TRUE(h.LedgerOf("p").pending_details.empty());
  EXPECT_EQ(h.LedgerOf("p").jobs_skipped.at("detail_unavailable"), 1);
  // A run deleted before its detail was fetched (404): given up at once.
  api.Set(MakeRun(3, "SUCCESS", kAllGood));
  api.Set(MakeRun(4, "SUCCESS", kAllGood));
  api.failing.insert(3);
  Poll(h, api);
  api.failing.erase(3);
  api.runs.erase(3);
  Poll(h, api);
  EXPECT_EQ(h.LedgerOf("p").jobs_skipped.at("detail_unavailable"), 2);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 1);  // run 4
  std::string out;
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(testing::CheckExposition(out), "");
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_job_history_runs_skipped_total",
                           {"reason=\"detail_unavailable\""}),
            2);
}

// The detail of a finish that failed to come, then a resume and a new finish: every job run
// is counted once (the jobs that ran again with their latest outcome).
TEST(JobHistory, ResumedBeforeItsDetailCameCountsEachJobOnce) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  FakeRun run = MakeRun(2, "FAIL", {"SUCCESS", "FAIL", ""});
  api.Set(run);
  api.failing.insert(2);
  Poll(h, api);
  run.status = "RUNNING";
  run.stages[0].jobs[1] = {"b", "job b", "RUNNING", run.end + 60'000, 0};
  api.Set(run);
  Poll(h, api);
  api.failing.clear();
  run.status = "SUCCESS";
  run.stages[0].jobs[1].status = "SUCCESS";
  run.stages[0].jobs[1].end = run.end + 70'000;
  run.end += 70'000;
  api.Set(run);
  Poll(h, api);
  Poll(h, api);
  EXPECT_EQ(h.Count("p", "FAIL", "manual") + h.Count("p", "SUCCESS", "manual"), 2);
  EXPECT_EQ(JobRuns(h, "a", "SUCCESS"), 1);
  EXPECT_EQ(JobRuns(h, "b", "SUCCESS"), 1);
  EXPECT_EQ(JobRuns(h, "b", "FAIL"), 0);  // its outcome was replaced before it was seen
  EXPECT_TRUE(h.LedgerOf("p").pending_details.empty());
}

TEST(JobHistory, JobsAndLabelsAreCappedPerPipeline) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  // Every run renames its jobs (a hostile or odd API): distinct jobs stop at the cap.
  for (int64_t id = 2; id < 2 + static_cast<int64_t>(jobs::kMaxJobs); ++id) {
    FakeRun r = MakeRun(id, "SUCCESS", kAllGood);
    for (auto& st : r.stages) {
      for (auto& j : st.jobs) j.sign += "-" + std::to_string(id);
    }
    if (id == 2) r.stages[0].jobs[0].name = std::string(jobs::kMaxLabelBytes + 1, 'x');
    api.Set(r);
    if (id % 20 == 0) Poll(h, api);
  }
  Poll(h, api);
  const RunLedger l = h.LedgerOf("p");
  EXPECT_EQ(l.job_durations.size(), jobs::kMaxJobs);
  EXPECT_GT(l.jobs_skipped.at("cap"), 100);
  for (const auto& [id, hist] : l.job_durations) {
    EXPECT_LE(std::get<2>(id).size(), jobs::kMaxLabelBytes);
  }
}

TEST(JobHistory, RendersValidFamiliesWithEscapedLabels) {
  History h;
  FakeApi api;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(h, api);
  FakeRun r = MakeRun(2, "SUCCESS", kAllGood);
  r.stages[0].name = "构建 \\\"x\\\"";  // JSON for: 构建 "x"
  api.Set(r);
  Poll(h, api);
  std::string out;
  h.Render(out, {{"p", "name"}});
  EXPECT_EQ(testing::CheckExposition(out), "") << out;
  EXPECT_EQ(
      testing::Value(out, "yunxiao_flow_job_runs_total",
                     {"stage_name=\"构建 \\\"x\\\"\"", "job_sign=\"a\"", "status=\"SUCCESS\""}),
      1);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_job_run_duration_seconds_bucket",
                           {"job_sign=\"a\"", "le=\"15\""}),
            1);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_job_run_duration_seconds_bucket",
                           {"job_sign=\"a\"", "le=\"5\""}),
            0);
  EXPECT_EQ(testing::Value(out, "yunxiao_flow_stage_run_duration_seconds_count",
                           {"stage_name=\"Deploy\""}),
            1);
}

// Restart: the pending details and the job counters are in the ledger with the run
// counters; after a restore the next poll fetches what was pending, once.
TEST(JobHistory, PendingDetailsAndCountsSurviveARestart) {
  FakeApi api;
  History before;
  api.Set(MakeRun(1, "SUCCESS", kAllGood));
  Poll(before, api);
  api.Set(MakeRun(2, "SUCCESS", kAllGood));
  api.Set(MakeRun(3, "SUCCESS", kAllGood));
  api.failing.insert(3);
  Poll(before, api);
  ASSERT_EQ(JobRuns(before, "a", "SUCCESS"), 1);
  auto saved = ParseLedger(SerializeLedger(before.Snapshot()));
  ASSERT_TRUE(saved.ok()) << saved.error();
  api.failing.clear();
  History after;
  after.Restore(*saved);
  Poll(after, api);
  Poll(after, api);
  EXPECT_EQ(JobRuns(after, "a", "SUCCESS"), 2);
  EXPECT_EQ(JobDurations(after, "c"), 2);
  EXPECT_EQ(api.gets[2], 1);
  EXPECT_EQ(api.gets[3], 2);
  // Other buckets: the job histograms start again, the counters continue.
  RunHistory rebucketed({60, 600});
  rebucketed.SetJobHistory(true, {1, 2});
  rebucketed.Restore(after.Snapshot());
  EXPECT_EQ(JobRuns(rebucketed, "a", "SUCCESS"), 2);
  EXPECT_EQ(JobDurations(rebucketed, "a"), 0);
}

TEST(JobHistory, KeysAreValidatedConfigKeys) {
  const std::string head = "api: {endpoint: 'http://x', edition: region}\npipelines: [1]\n";
  auto ok = config::ParseConfig(
      head + "collect: {history: true, job_history: true, job_history_buckets: [1, 2.5]}\n",
      "c.yaml");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok.config.collect.job_history);
  EXPECT_EQ(ok.config.collect.job_history_buckets, (std::vector<double>{1, 2.5}));
  auto defaults = config::ParseConfig(head, "c.yaml");
  EXPECT_FALSE(defaults.config.collect.job_history);
  EXPECT_EQ(defaults.config.collect.job_history_buckets.size(), 10u);
  for (const char* bad :
       {"job_history: maybe", "job_history_buckets: []", "job_history_buckets: [2, 1]",
        "job_history_buckets: [0]", "job_history_buckets: [.inf]", "job_history_buckets: 5"}) {
    auto l = config::ParseConfig(head + "collect: {" + bad + "}\n", "c.yaml");
    EXPECT_FALSE(l.ok()) << bad;
    bool named = false;
    for (const auto& e : l.errors) named |= e.find("collect.job_history") != std::string::npos;
    EXPECT_TRUE(named) << bad;
  }
}

}  // namespace
}  // namespace yfe::collector
