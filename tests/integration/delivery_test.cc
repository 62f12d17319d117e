// Delivery (DORA keys) against the simulator: deployments, failures, a resumed deployment
// and a restart of the exporter in the middle (collect.state_dir); the numbers must be
// exactly those of the script, each deployment once.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "support/harness.h"

namespace yfe::testing {
namespace {

int64_t Latest(const HttpResult& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  return d.HasMember("latestRunId") ? d["latestRunId"].GetInt64() : 0;
}

void Advance(Simulator& sim, int seconds) {
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/clock", "{\"advanceSeconds\":" + std::to_string(seconds) + "}")
          .status,
      200);
}

// End times (ms) of a run's finishes, in order, from the simulator's ground truth.
std::vector<int64_t> Ends(Simulator& sim, const std::string& id, int64_t run) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=0").body.c_str());
  std::vector<int64_t> ends;
  for (const auto& e : d.GetArray()) {
    if (e["runId"].GetInt64() == run) ends.push_back(e["endTime"].GetInt64());
  }
  return ends;
}

// Deployments by the status of each run's first finish since `since`, and the runs that
// succeeded at some finish: what the exporter must show (the simulator's ground truth).
struct Expected {
  std::map<std::string, double> deployments;
  double successes = 0;
};
Expected Truth(Simulator& sim, const std::string& id, int64_t since) {
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + id + "/finishes?since=" + std::to_string(since))
              .body.c_str());
  std::map<int64_t, std::vector<std::string>> runs;
  for (const auto& e : d.GetArray()) runs[e["runId"].GetInt64()].push_back(e["status"].GetString());
  Expected x;
  for (const auto& [run, statuses] : runs) {
    x.deployments[statuses.front()] += 1;
    x.successes += std::count(statuses.begin(), statuses.end(), "SUCCESS") > 0;
  }
  return x;
}

// Samples of `name` whose line contains `fragment`.
size_t Count(const std::string& text, const std::string& name, const std::string& fragment) {
  size_t n = 0;
  for (const auto& line : Samples(text, name)) n += line.find(fragment) != std::string::npos;
  return n;
}

TEST(Delivery, ScriptedDeploymentsAcrossARestartGiveExactlyTheScriptsNumbers) {
  Simulator sim({.pipelines = 2, .frozen = true});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 2u);
  const std::string prod = ids[0], build = ids[1];
  TempDir state;
  const std::string config =
      sim.Config({.ids = ids,
                  .collect = {{"history", "true"},
                              {"history_interval", "1s"},
                              {"state_dir", state.path() + "/state"}},
                  .extra = "delivery:\n  deployments:\n    - environment: production\n"
                           "      pipelines: {ids: ['" +
                           prod + "']}\n"});
  const std::string pid = "pipeline_id=\"" + prod + "\"";
  auto deployments = [&](Exporter& e, const std::string& status) {
    return Sum(e.Scrape(), "yunxiao_flow_deployments_total",
               {pid, "environment=\"production\"", "status=\"" + status + "\""});
  };

  auto exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  // The baseline starts the production series at 0.
  ASSERT_TRUE(Eventually(
      [&] { return Samples(exp->Scrape(), "yunxiao_flow_deployments_total").size() == 3; }));
  int64_t since = 0;
  {
    rapidjson::Document d;
    d.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
    since = d["nowMs"].GetInt64();
  }
  Advance(sim, 60);

  // A successful deployment, then two failed ones.
  sim.Control("POST", "/-/sim/pipelines/" + prod + "/finish", R"({"status":"SUCCESS"})");
  Advance(sim, 600);
  const int64_t failed =
      Latest(sim.Control("POST", "/-/sim/pipelines/" + prod + "/finish", R"({"status":"FAIL"})"));
  Advance(sim, 600);
  sim.Control("POST", "/-/sim/pipelines/" + prod + "/finish", R"({"status":"FAIL"})");
  ASSERT_TRUE(Eventually([&] { return deployments(*exp, "FAIL") == 2; })) << exp->Scrape();
  EXPECT_EQ(deployments(*exp, "SUCCESS"), Truth(sim, prod, since).deployments["SUCCESS"]);
  ASSERT_GT(failed, 0);
  const auto first_fail_end = Ends(sim, prod, failed);
  ASSERT_EQ(first_fail_end.size(), 1u);
  EXPECT_EQ(Sum(exp->Scrape(), "yunxiao_flow_pipeline_failing_since_timestamp_seconds", {pid}),
            static_cast<double>(first_fail_end[0]) / 1000);

  // The exporter stops; meanwhile the first failed deployment is retried and succeeds.
  exp.reset();
  ASSERT_EQ(sim.Control("POST",
                        "/-/sim/pipelines/" + prod + "/runs/" + std::to_string(failed) + "/resume",
                        R"({"status":"SUCCESS","seconds":300})")
                .status,
            200);
  Advance(sim, 400);
  sim.Control("POST", "/-/sim/pipelines/" + build + "/finish", R"({"status":"FAIL"})");

  exp = std::make_unique<Exporter>(config);
  ASSERT_TRUE(exp->started()) << exp->process().Stderr();
  ASSERT_TRUE(Eventually([&] {
    return Sum(exp->Scrape(), "yunxiao_flow_pipeline_restore_duration_seconds_count", {pid}) == 1;
  })) << exp->Scrape();
  const std::string text = exp->Scrape();
  // Each deployment once, by its first outcome: the retried one stays a failed deployment.
  Expected truth = Truth(sim, prod, since);
  EXPECT_EQ(truth.deployments["FAIL"], 2);
  EXPECT_EQ(deployments(*exp, "SUCCESS"), truth.deployments["SUCCESS"])
      << sim.Control("GET", "/-/sim/pipelines/" + prod + "/finishes?since=0").body << " since "
      << since << "\n"
      << text;
  EXPECT_EQ(deployments(*exp, "FAIL"), 2);
  // Lead times: one per deployment that succeeded, the retried one included.
  EXPECT_EQ(Sum(text, "yunxiao_flow_deployment_lead_time_seconds_count", {pid}), truth.successes);
  // Restored: from the end of the first failure to the end of the retried run.
  const auto ends = Ends(sim, prod, failed);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_restore_duration_seconds_sum", {pid}),
            static_cast<double>(ends[1] - ends[0]) / 1000);
  EXPECT_EQ(Count(text, "yunxiao_flow_pipeline_failing_since_timestamp_seconds", pid), 0u) << text;
  // The build pipeline is not a deployment pipeline but its streak shows.
  const std::string bid = "pipeline_id=\"" + build + "\"";
  EXPECT_EQ(Count(text, "yunxiao_flow_deployments_total", bid), 0u);
  EXPECT_EQ(Count(text, "yunxiao_flow_pipeline_failing_since_timestamp_seconds", bid), 1u) << text;
  EXPECT_EQ(PromtoolProblems(text), "");
}

// delivery.deployments[].stage: a run deploys only once its deploy stage ran, with that
// stage's status, and its lead time ends at that stage's end. 8 stages: "生产部署" is the
// 7th, "Smoke test" runs after it; a failed run fails at a random stage, so most failed
// runs never reach the deploy stage and some fail after it (a successful deployment).
// Job history is off: the exporter fetches each finished run's detail for delivery alone.
TEST(Delivery, WithAStageOnlyRunsThatReachedTheDeployStageDeploy) {
  Simulator sim({.pipelines = 1, .frozen = true, .flags = {"--stages=8"}});
  const auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 1u);
  const std::string prod = ids[0];
  const std::string config =
      sim.Config({.ids = ids,
                  .collect = {{"history", "true"}, {"history_interval", "1s"}},
                  .extra = "delivery:\n  deployments:\n    - environment: production\n"
                           "      pipelines: {ids: ['" +
                           prod + "']}\n      stage: '生产部署'\n"});
  Exporter exp(config);
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  ASSERT_TRUE(Eventually(
      [&] { return Samples(exp.Scrape(), "yunxiao_flow_deployments_total").size() == 3; }));
  rapidjson::Document clock;
  clock.Parse(sim.Control("GET", "/-/sim/clock").body.c_str());
  const int64_t since = clock["nowMs"].GetInt64();
  Advance(sim, 60);
  for (int i = 0; i < 12; ++i) {
    sim.Control("POST", "/-/sim/pipelines/" + prod + "/finish",
                i % 3 == 0 ? R"({"status":"SUCCESS"})" : R"({"status":"FAIL"})");
    Advance(sim, 900);
  }

  // The ground truth: each finish's deploy stage, if it ran.
  rapidjson::Document d;
  d.Parse(sim.Control("GET", "/-/sim/pipelines/" + prod +
                                 "/finishes?jobs=1&since=" + std::to_string(since))
              .body.c_str());
  std::map<std::string, double> want, runs;
  double lead_sum = 0, lead_count = 0;
  for (const auto& e : d.GetArray()) {
    runs[e["status"].GetString()] += 1;
    for (const auto& st : e["stages"].GetArray()) {
      if (std::string(st["name"].GetString()) != "生产部署") continue;
      const std::string status = st["status"].GetString();
      want[status] += 1;
      if (status == "SUCCESS") {
        lead_sum +=
            static_cast<double>(st["endTime"].GetInt64() - e["startTime"].GetInt64()) / 1000;
        lead_count += 1;
      }
    }
  }
  ASSERT_GE(runs["FAIL"], 8);
  const std::string pid = "pipeline_id=\"" + prod + "\"";
  auto deployments = [&](const std::string& text, const std::string& status) {
    return Sum(text, "yunxiao_flow_deployments_total",
               {pid, "environment=\"production\"", "status=\"" + status + "\""});
  };
  ASSERT_TRUE(Eventually([&] {
    const std::string text = exp.Scrape();
    return deployments(text, "SUCCESS") == want["SUCCESS"] &&
           deployments(text, "FAIL") == want["FAIL"];
  })) << exp.Scrape()
      << "\nwant SUCCESS " << want["SUCCESS"] << " FAIL " << want["FAIL"];
  const std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_deployment_lead_time_seconds_count", {pid}), lead_count);
  EXPECT_DOUBLE_EQ(Sum(text, "yunxiao_flow_deployment_lead_time_seconds_sum", {pid}), lead_sum);
  // Failed runs that never reached the deploy stage are no deployments; the run counter
  // still has them all.
  EXPECT_LT(want["FAIL"], runs["FAIL"]);
  EXPECT_EQ(Sum(text, "yunxiao_flow_pipeline_runs_total", {pid, "status=\"FAIL\""}), runs["FAIL"]);
  // One detail request per finished run, job history off.
  EXPECT_GE(sim.ApiRequests("getPipelineRun"), static_cast<long>(d.GetArray().Size()));
  EXPECT_EQ(Samples(text, "yunxiao_flow_job_runs_total").size(), 0u);
  EXPECT_EQ(PromtoolProblems(text), "");
}

}  // namespace
}  // namespace yfe::testing
