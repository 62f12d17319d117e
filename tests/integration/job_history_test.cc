// Job history (collect.job_history) against the simulator's ground truth per job_sign: a
// scripted day of runs with resumed runs, then a clean restart and a kill -9 with
// collect.state_dir.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <tuple>

#include "support/harness.h"

namespace yfe::testing {
namespace {

int64_t SimNowMs(Simulator& sim) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
  return d["nowMs"].GetInt64();
}

void Advance(Simulator& sim, int seconds) {
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/clock", R"({"advanceSeconds":)" + std::to_string(seconds) + "}")
          .status,
      200);
}

// The simulator's truth since `since` for one pipeline: job finishes by (job_sign, status),
// job durations by job_sign, stage durations by stage name.
struct JobTruth {
  std::map<std::pair<std::string, std::string>, double> runs;
  std::map<std::string, double> durations, stages;
  double total = 0;
};
JobTruth Truth(Simulator& sim, const std::string& id, int64_t since) {
  JobTruth t;
  rapidjson::Document d;
  d.Parse(sim.Control("GET",
                      "/-/sim/pipelines/" + id + "/finishes?jobs=1&since=" + std::to_string(since))
              .body.c_str());
  for (const auto& e : d.GetArray()) {
    for (const auto& s : e["stages"].GetArray()) {
      if (s["endTime"].GetInt64() >= s["startTime"].GetInt64())
        t.stages[s["name"].GetString()] += 1;
      for (const auto& j : s["jobs"].GetArray()) {
        const std::string sign = j["jobSign"].GetString();
        t.runs[{sign, j["status"].GetString()}] += 1;
        t.total += 1;
        if (j["startTime"].GetInt64() > 0 && j["endTime"].GetInt64() >= j["startTime"].GetInt64()) {
          t.durations[sign] += 1;
        }
      }
    }
  }
  return t;
}

// Where the exporter's job history differs from the truth ("" when it agrees exactly).
std::string Differences(Simulator& sim, const std::string& text,
                        const std::vector<std::string>& ids, int64_t since) {
  std::string diff;
  for (const auto& id : ids) {
    const JobTruth t = Truth(sim, id, since);
    const std::string pid = "pipeline_id=\"" + id + "\"";
    auto check = [&](const std::string& what, double got, double want) {
      if (got != want) {
        diff +=
            id + " " + what + ": " + std::to_string(got) + " want " + std::to_string(want) + "; ";
      }
    };
    for (const auto& [key, n] : t.runs) {
      check(key.first + " " + key.second,
            Sum(text, "yunxiao_flow_job_runs_total",
                {pid, "job_sign=\"" + key.first + "\"", "status=\"" + key.second + "\""}),
            n);
    }
    for (const auto& [sign, n] : t.durations) {
      check(sign + " durations",
            Sum(text, "yunxiao_flow_job_run_duration_seconds_count",
                {pid, "job_sign=\"" + sign + "\""}),
            n);
    }
    for (const auto& [stage, n] : t.stages) {
      check(stage + " stage durations",
            Sum(text, "yunxiao_flow_stage_run_duration_seconds_count",
                {pid, "stage_name=\"" + stage + "\""}),
            n);
    }
    check("all jobs", Sum(text, "yunxiao_flow_job_runs_total", {pid}), t.total);
  }
  return diff;
}

std::string Config(Simulator& sim, const std::vector<std::string>& ids, const std::string& dir) {
  return sim.Config({.ids = ids,
                     .collect = {{"history", "true"},
                                 {"history_interval", "1s"},
                                 {"job_history", "true"},
                                 {"state_dir", dir}}});
}

bool Agrees(Simulator& sim, Exporter& exp, const std::vector<std::string>& ids, int64_t since,
            std::string* diff) {
  return Eventually(
      [&] {
        auto r = exp.Get("/metrics");
        *diff = r.status == 200 ? Differences(sim, r.body, ids, since) : "no scrape";
        return diff->empty();
      },
      std::chrono::seconds(30));
}

// A run of pipeline `id` fails, the exporter counts it, its failed job is retried and the
// run succeeds; then the schedule goes on.
void FailAndResume(Simulator& sim, Exporter& exp, const std::string& id) {
  rapidjson::Document d;
  const double fails_before = Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_total",
                                  {"pipeline_id=\"" + id + "\"", "status=\"FAIL\""});
  d.Parse(sim.Control("POST", "/-/sim/pipelines/" + id + "/finish", R"({"status":"FAIL"})")
              .body.c_str());
  const int64_t run = d["latestRunId"].GetInt64();
  ASSERT_TRUE(Eventually([&] {
    return Sum(exp.Scrape(), "yunxiao_flow_pipeline_runs_total",
               {"pipeline_id=\"" + id + "\"", "status=\"FAIL\""}) > fails_before;
  }));
  Advance(sim, 30);
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + id + "/runs/" + std::to_string(run) + "/resume",
                  R"({"status":"SUCCESS","seconds":120})")
          .status,
      200);
  Advance(sim, 150);
  ASSERT_EQ(sim.Control("DELETE", "/-/sim/pipelines/" + id + "/override").status, 200);
}

TEST(JobHistory, MatchesTheSimulatorPerJobSignOverADayAndAcrossRestarts) {
  Simulator sim({.pipelines = 2, .frozen = true});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  TempDir state;
  const std::string config = Config(sim, ids, state.path() + "/state");
  auto exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(Eventually([&] {
    return PipelineIdsIn(exp->Scrape(), "yunxiao_flow_pipeline_runs_total").size() == 2;
  }));
  const int64_t since = SimNowMs(sim);
  Advance(sim, 1);

  // A day in two-hour steps (about 8 scheduled runs of 5 stages × 4 jobs per pipeline and
  // step), with a failed run retried to success every third step.
  std::string diff;
  for (int step = 0; step < 12; ++step) {
    if (step % 3 == 1) FailAndResume(sim, *exp, ids[step % 2]);
    Advance(sim, 2 * 3600);
    ASSERT_TRUE(Agrees(sim, *exp, ids, since, &diff)) << "step " << step << ": " << diff;
  }
  const std::string text = exp->Scrape();
  EXPECT_EQ(PromtoolProblems(text), "");
  EXPECT_GT(Sum(text, "yunxiao_flow_job_runs_total", {}), 1000);
  EXPECT_GE(Sum(text, "yunxiao_flow_pipeline_runs_resumed_total", {"status=\"FAIL\""}), 4);

  // Runs finish while the exporter is stopped; then again around a kill -9.
  ASSERT_EQ(exp->process().Stop(15), 0);
  exp.reset();
  Advance(sim, 3600);
  exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(Agrees(sim, *exp, ids, since, &diff)) << diff;
  Advance(sim, 1800);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_EQ(exp->process().Stop(9), -9);
  exp.reset();
  Advance(sim, 1800);
  exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(Agrees(sim, *exp, ids, since, &diff)) << diff;
  // Further polls count nothing again.
  const long polls = sim.ApiRequests("listPipelineRuns");
  EXPECT_TRUE(Eventually([&] { return sim.ApiRequests("listPipelineRuns") >= polls + 6; }));
  EXPECT_EQ(Differences(sim, exp->Scrape(), ids, since), "");
}

}  // namespace
}  // namespace yfe::testing
