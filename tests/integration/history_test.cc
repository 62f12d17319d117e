// Run history against the simulator's ground truth: resumed runs and runs stuck waiting.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>

#include "support/harness.h"

namespace yfe::testing {
namespace {

int64_t SimNowMs(Simulator& sim) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
  return d["nowMs"].GetInt64();
}

int64_t LatestRunId(const HttpResult& truth_item) {
  rapidjson::Document d;
  d.Parse(truth_item.body.c_str());
  return d["latestRunId"].GetInt64();
}

// Ground truth since `since`: finishes per status, and finishes a resume took back.
struct Truth {
  std::map<std::string, double> finishes, superseded;
};
Truth SimFinishes(Simulator& sim, const std::string& id, int64_t since) {
  Truth t;
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=" + std::to_string(since))
              .body.c_str());
  for (const auto& e : d.GetArray()) {
    const std::string status = e["status"].GetString();
    t.finishes[status] += 1;
    if (e["superseded"].GetBool()) t.superseded[status] += 1;
  }
  return t;
}

// The exporter's counts and the simulator's truth agree for this pipeline and status set.
bool Agrees(Simulator& sim, Exporter& exp, const std::string& id, int64_t since,
            std::string* diff) {
  const Truth truth = SimFinishes(sim, id, since);
  const std::string text = exp.Scrape();
  const std::string pid = "pipeline_id=\"" + id + "\"";
  diff->clear();
  for (const char* status : {"SUCCESS", "FAIL", "CANCELED"}) {
    const std::string s = "status=\"" + std::string(status) + "\"";
    const double runs = Sum(text, "yunxiao_flow_pipeline_runs_total", {pid, s});
    const double resumed = Sum(text, "yunxiao_flow_pipeline_runs_resumed_total", {pid, s});
    const double durations =
        Sum(text, "yunxiao_flow_pipeline_run_duration_seconds_count", {pid, s});
    auto want = [&](const std::map<std::string, double>& m) {
      auto it = m.find(status);
      return it == m.end() ? 0.0 : it->second;
    };
    if (runs != want(truth.finishes) || resumed != want(truth.superseded) || durations != runs) {
      *diff += id + " " + status + ": runs " + std::to_string(runs) + " want " +
               std::to_string(want(truth.finishes)) + ", resumed " + std::to_string(resumed) +
               " want " + std::to_string(want(truth.superseded)) + ", durations " +
               std::to_string(durations) + "; ";
    }
  }
  return diff->empty();
}

TEST(History, CountsMatchTheSimulatorIncludingResumedAndWaitingRuns) {
  Simulator sim({.pipelines = 2, .frozen = true});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  const std::string a = ids[0], b = ids[1];
  Exporter exp(
      sim.Config({.ids = {a, b}, .collect = {{"history", "true"}, {"history_interval", "1s"}}}));
  // Baseline done for both pipelines: their zero series exist.
  ASSERT_TRUE(Eventually(
      [&] { return PipelineIdsIn(exp.Scrape(), "yunxiao_flow_pipeline_runs_total").size() == 2; }));
  // Everything that finishes from here on is counted (the frozen clock moves only on request).
  const int64_t since = SimNowMs(sim);
  ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":1})").status, 200);

  // A: a run fails, its failed job is retried (the same run goes back to RUNNING)...
  const int64_t run =
      LatestRunId(sim.Control("POST", "/-/sim/pipelines/" + a + "/finish", R"({"status":"FAIL"})"));
  EXPECT_TRUE(Eventually([&] {
    return Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_total",
               {"pipeline_id=\"" + a + "\"", "FAIL"}) == 1;
  }));
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + a + "/runs/" + std::to_string(run) + "/resume",
                  R"({"status":"SUCCESS","seconds":90})")
          .status,
      200);
  EXPECT_TRUE(Eventually([&] {
    return Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_resumed_total",
               {"pipeline_id=\"" + a + "\"", "FAIL"}) == 1;
  }));

  // B: a run waits at a manual checkpoint while 31 newer runs push it off page 1.
  const int64_t waiting = LatestRunId(sim.Control("POST", "/-/sim/pipelines/" + b + "/hold", ""));
  for (int i = 0; i < 31; ++i) {
    ASSERT_EQ(
        sim.Control("POST", "/-/sim/pipelines/" + b + "/finish", R"({"status":"SUCCESS"})").status,
        200);
  }
  // It is then followed by id, one GetPipelineRun a poll.
  const long gets = sim.ApiRequests("getPipelineRun");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("getPipelineRun") >= gets + 3; }));
  const long lists = sim.ApiRequests("listPipelineRuns");
  const long gets_before = sim.ApiRequests("getPipelineRun");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("listPipelineRuns") >= lists + 8; }));
  // About one list and one get per pipeline per poll, never 5 pages.
  const long list_delta = sim.ApiRequests("listPipelineRuns") - lists;
  const long get_delta = sim.ApiRequests("getPipelineRun") - gets_before;
  EXPECT_LE(get_delta, list_delta / 2 + 2);
  // The checkpoint is passed; both runs finish.
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + b + "/runs/" + std::to_string(waiting) + "/resume",
                  R"({"status":"SUCCESS","seconds":60})")
          .status,
      200);
  ASSERT_EQ(sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":120})").status, 200);

  std::string diff;
  EXPECT_TRUE(Eventually([&] { return Agrees(sim, exp, a, since, &diff); })) << diff;
  EXPECT_TRUE(Eventually([&] { return Agrees(sim, exp, b, since, &diff); })) << diff;
  const std::string text = exp.Scrape();
  // A: FAIL then SUCCESS for one run; B: 32 successes, the waiting one included.
  EXPECT_GE(Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + a + "\"", "SUCCESS"}),
            1);
  EXPECT_GE(Sum(text, "yunxiao_flow_pipeline_runs_total", {"pipeline_id=\"" + b + "\"", "SUCCESS"}),
            32);
  EXPECT_EQ(PromtoolProblems(text), "");
  // Several more polls count nothing again.
  const long polls = sim.ApiRequests("listPipelineRuns");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("listPipelineRuns") >= polls + 6; }));
  EXPECT_TRUE(Agrees(sim, exp, a, since, &diff)) << diff;
  EXPECT_TRUE(Agrees(sim, exp, b, since, &diff)) << diff;
}

}  // namespace
}  // namespace yfe::testing
