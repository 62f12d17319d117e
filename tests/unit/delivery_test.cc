#include "collector/delivery.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "collector/ledger_store.h"
#include "config/config.h"
#include "model/status.h"
#include "support/exposition_check.h"

namespace yfe::collector {
namespace {

using model::RunSummary;

constexpr int64_t kT0 = 1'700'000'000'000;  // ms

// A run of `id` that started at kT0 + start_s and (if finished) ended at kT0 + end_s.
RunSummary R(int64_t id, const std::string& status, int64_t start_s, int64_t end_s) {
  RunSummary r;
  r.id = id;
  r.status = status;
  r.trigger_mode = 3;
  r.start_ms = kT0 + start_s * 1000;
  r.end_ms = model::IsFinished(status) ? kT0 + end_s * 1000 : 0;
  return r;
}

config::DeliveryConfig ProdConfig() {
  config::DeliveryConfig c;
  config::DeploymentConfig d;
  d.environment = "production";
  d.include = "-prod$";
  c.deployments.push_back(d);
  return c;
}

// A RunHistory observed by a Delivery, with pipeline "p" (deploys to production) and "b"
// (a build pipeline) past their baseline.
struct Fixture {
  Fixture() {
    history.SetObserver(delivery);
    delivery->SetPipelines(named, {});
    for (const auto& [id, name] : named) Poll(id, {});
  }
  // One poll showing these runs (newest first, as the API lists them).
  void Poll(const std::string& id, std::vector<RunSummary> runs) {
    std::sort(runs.begin(), runs.end(), [](auto& a, auto& b) { return a.id > b.id; });
    history.Observe(id, 1, runs);
    history.FinishPoll(id);
  }
  DeliveryLedger Copy(const std::string& id) {
    return history.Snapshot().pipelines.at(id).delivery;
  }

  std::vector<std::pair<std::string, std::string>> named = {{"p", "web-prod"}, {"b", "web-build"}};
  RunHistory history{{10, 60}};
  std::shared_ptr<Delivery> delivery = std::make_shared<Delivery>(ProdConfig());
};

double Deployments(const DeliveryLedger& d, const std::string& status) {
  auto it = d.deployments.find({"production", status});
  return it == d.deployments.end() ? -1 : it->second;
}

TEST(Delivery, EachDeploymentIsCountedOnceWithItsLeadTime) {
  Fixture f;
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "FAIL", 100, 200), R(3, "RUNNING", 300, 0)});
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "FAIL", 100, 200), R(3, "SUCCESS", 300, 400)});
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "FAIL", 100, 200), R(3, "SUCCESS", 300, 400)});
  DeliveryLedger d = f.Copy("p");
  EXPECT_EQ(Deployments(d, "SUCCESS"), 2);
  EXPECT_EQ(Deployments(d, "FAIL"), 1);
  const auto& lead = d.lead_times.at("production");
  EXPECT_EQ(lead.count, 2);
  EXPECT_DOUBLE_EQ(lead.sum, 600 + 100);
  // 100 s and 600 s: the 300 s and 900 s buckets.
  EXPECT_EQ(lead.counts[1], 1);
  EXPECT_EQ(lead.counts[2], 1);
  // The build pipeline deploys nothing.
  EXPECT_TRUE(f.Copy("b").deployments.empty());
}

TEST(Delivery, BaselineRunsAreNotDeployments) {
  RunHistory history{{10}};
  auto delivery = std::make_shared<Delivery>(ProdConfig());
  history.SetObserver(delivery);
  delivery->SetPipelines({{"p", "web-prod"}}, {});
  history.Observe("p", 1, {R(2, "FAIL", 10, 20), R(1, "SUCCESS", 0, 5)});
  history.FinishPoll("p");
  const DeliveryLedger d = history.Snapshot().pipelines.at("p").delivery;
  EXPECT_EQ(Deployments(d, "SUCCESS"), 0);  // started at 0, not counted
  EXPECT_EQ(Deployments(d, "FAIL"), 0);
  EXPECT_EQ(d.failing_since_ms, 0);
}

TEST(Delivery, ResumedDeploymentIsNotCountedAgainButRestoresAndGetsItsLeadTime) {
  Fixture f;
  f.Poll("p", {R(5, "FAIL", 0, 100)});
  EXPECT_EQ(f.Copy("p").failing_since_ms, kT0 + 100'000);
  f.Poll("p", {R(5, "RUNNING", 0, 0)});  // a failed job retried: taken back
  f.Poll("p", {R(5, "SUCCESS", 0, 700)});
  EXPECT_EQ(f.history.Count("p", "FAIL", "commit"), 1);
  EXPECT_EQ(f.history.Count("p", "SUCCESS", "commit"), 1);
  EXPECT_EQ(f.history.Resumed("p", "FAIL", "commit"), 1);
  DeliveryLedger d = f.Copy("p");
  EXPECT_EQ(Deployments(d, "FAIL"), 1);
  EXPECT_EQ(Deployments(d, "SUCCESS"), 0);  // one deployment, counted once
  EXPECT_EQ(d.lead_times.at("production").count, 1);
  EXPECT_DOUBLE_EQ(d.lead_times.at("production").sum, 700);
  EXPECT_EQ(d.failing_since_ms, 0);
  EXPECT_EQ(d.restores.at("production").count, 1);
  EXPECT_DOUBLE_EQ(d.restores.at("production").sum, 600);
  // Resumed and finished again between two polls: still the same deployment.
  f.Poll("p", {R(5, "FAIL", 0, 900)});
  d = f.Copy("p");
  EXPECT_EQ(Deployments(d, "FAIL"), 1);
  EXPECT_EQ(f.history.Count("p", "FAIL", "commit"), 2);
  EXPECT_EQ(d.failing_since_ms, kT0 + 900'000);
}

// ---- Deployments that end with a stage (delivery.deployments[].stage) ----

model::Job J(const std::string& sign, const std::string& status, int64_t start_s, int64_t end_s) {
  return {sign, sign, status, start_s > 0 ? kT0 + start_s * 1000 : 0,
          end_s > 0 ? kT0 + end_s * 1000 : 0};
}

model::Stage S(const std::string& name, const std::string& status, int64_t start_s, int64_t end_s,
               std::vector<model::Job> jobs = {}) {
  return {"",
          name,
          status,
          start_s > 0 ? kT0 + start_s * 1000 : 0,
          end_s > 0 ? kT0 + end_s * 1000 : 0,
          std::move(jobs)};
}

// The detail of a run created at kT0 with these stages.
model::PipelineRun Detail(const std::string& status, std::vector<model::Stage> stages) {
  model::PipelineRun r;
  r.status = status;
  r.create_ms = kT0;
  r.stages = std::move(stages);
  return r;
}

TEST(Delivery, DeployStepIsTheLastMatchingStageOrJobThatRan) {
  const DeployStep stage("部署|Deploy");
  ASSERT_TRUE(stage.ok());
  auto found = stage.Find(
      Detail("FAIL", {S("构建", "SUCCESS", 1, 100), S("部署 staging", "SUCCESS", 100, 200),
                      S("Deploy prod", "FAIL", 200, 300), S("Smoke", "INIT", 0, 0)}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, "FAIL");
  EXPECT_EQ(found->end_ms, kT0 + 300'000);
  // Never reached (the build failed), skipped, or absent: no deployment.
  EXPECT_FALSE(stage.Find(Detail("FAIL", {S("构建", "FAIL", 1, 100), S("部署", "INIT", 0, 0)})));
  EXPECT_FALSE(
      stage.Find(Detail("SUCCESS", {S("构建", "SUCCESS", 1, 100), S("部署", "SKIP", 100, 100)})));
  EXPECT_FALSE(stage.Find(Detail("SUCCESS", {S("构建", "SUCCESS", 1, 100)})));
  // A stage without times of its own: its jobs'.
  found = stage.Find(Detail("SUCCESS", {S("部署", "SUCCESS", 0, 0, {J("a", "SUCCESS", 10, 40)})}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->end_ms, kT0 + 40'000);
  // job_sign: one job, wherever it runs.
  const DeployStep job("job_sign:deploy-prod");
  ASSERT_TRUE(job.ok());
  found = job.Find(
      Detail("FAIL", {S("发布", "FAIL", 1, 90,
                        {J("deploy-prod", "SUCCESS", 5, 60), J("notify", "FAIL", 60, 90)})}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, "SUCCESS");
  EXPECT_EQ(found->end_ms, kT0 + 60'000);
  EXPECT_FALSE(DeployStep("job_sign:").ok());
  EXPECT_FALSE(DeployStep("(").ok());
}

config::DeliveryConfig StageConfig(const std::string& stage) {
  config::DeliveryConfig c = ProdConfig();
  c.deployments[0].stage = stage;
  return c;
}

// With a stage, a finished run is a deployment only once its detail shows that stage
// finished: with the stage's status, and a lead time to the stage's end. The detail is asked
// for with job history off.
TEST(Delivery, WithAStageARunDeploysOnlyWhenItsDeployStageRan) {
  Fixture f;
  f.delivery->SetConfig(StageConfig("部署|Deploy"));
  f.delivery->SetPipelines(f.named, {});
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "FAIL", 0, 100), R(3, "SUCCESS", 0, 500),
               R(4, "FAIL", 0, 400)});
  EXPECT_EQ(f.history.PendingDetails("p"), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(f.history.PendingDetails("b").empty());  // not a deployment pipeline
  EXPECT_EQ(Deployments(f.Copy("p"), "SUCCESS"), 0);   // not decided yet
  // 1: deployed at 300, smoke tests ran on to 600.
  f.history.ObserveDetail(
      "p", 1,
      Detail("SUCCESS", {S("构建", "SUCCESS", 1, 100), S("部署", "SUCCESS", 100, 300),
                         S("Smoke", "SUCCESS", 300, 600)}));
  // 2: the build failed, the deploy stage never started.
  f.history.ObserveDetail("p", 2,
                          Detail("FAIL", {S("构建", "FAIL", 1, 100), S("部署", "INIT", 0, 0)}));
  // 3: the deploy stage was skipped.
  f.history.ObserveDetail(
      "p", 3, Detail("SUCCESS", {S("构建", "SUCCESS", 1, 100), S("部署", "SKIP", 100, 100)}));
  // 4: the deploy stage failed.
  f.history.ObserveDetail(
      "p", 4, Detail("FAIL", {S("构建", "SUCCESS", 1, 100), S("Deploy", "FAIL", 100, 400)}));
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "FAIL", 0, 100), R(3, "SUCCESS", 0, 500),
               R(4, "FAIL", 0, 400)});
  DeliveryLedger d = f.Copy("p");
  EXPECT_EQ(Deployments(d, "SUCCESS"), 1);  // run 1 only
  EXPECT_EQ(Deployments(d, "FAIL"), 1);     // run 4 only
  EXPECT_EQ(d.lead_times.at("production").count, 1);
  EXPECT_DOUBLE_EQ(d.lead_times.at("production").sum, 300);  // to the stage's end, not 600
  EXPECT_TRUE(d.awaiting.empty());
  EXPECT_TRUE(f.history.PendingDetails("p").empty());
  // The run counts still follow the runs.
  EXPECT_EQ(f.history.Count("p", "SUCCESS", "commit"), 2);
}

TEST(Delivery, AnAwaitedRunIsGivenUpWhenGoneOrAfterRepeatedFailures) {
  Fixture f;
  f.delivery->SetConfig(StageConfig("部署"));
  f.delivery->SetPipelines(f.named, {});
  f.Poll("p", {R(1, "SUCCESS", 0, 600), R(2, "SUCCESS", 0, 700)});
  ::testing::internal::CaptureStderr();
  f.history.DetailFailed("p", 1, /*gone=*/true);
  for (int i = 0; i < Delivery::kMaxDetailAttempts - 1; ++i) f.history.DetailFailed("p", 2, false);
  EXPECT_EQ(f.history.PendingDetails("p"), (std::vector<int64_t>{2}));
  f.history.DetailFailed("p", 2, false);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(f.history.PendingDetails("p").empty());
  EXPECT_NE(log.find("giving up on a run's deploying stage"), std::string::npos) << log;
  EXPECT_EQ(Deployments(f.Copy("p"), "SUCCESS"), 0);
}

// A deployment whose stage failed, resumed and deployed: one failed deployment, with its
// lead time at the successful stage's end; the awaited runs survive a restart.
TEST(Delivery, AResumedStageDeploymentCountsOnceAndAwaitedRunsAreSaved) {
  Fixture f;
  f.delivery->SetConfig(StageConfig("部署"));
  f.delivery->SetPipelines(f.named, {});
  f.Poll("p", {R(1, "FAIL", 0, 100)});
  f.history.ObserveDetail("p", 1, Detail("FAIL", {S("部署", "FAIL", 10, 100)}));
  f.Poll("p", {R(1, "RUNNING", 0, 0)});
  f.Poll("p", {R(1, "SUCCESS", 0, 900)});
  auto back = ParseLedger(SerializeLedger(f.history.Snapshot()));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->pipelines.at("p").delivery.awaiting.count(1), 1u);
  f.history.ObserveDetail("p", 1, Detail("SUCCESS", {S("部署", "SUCCESS", 800, 850)}));
  DeliveryLedger d = f.Copy("p");
  EXPECT_EQ(Deployments(d, "FAIL"), 1);
  EXPECT_EQ(Deployments(d, "SUCCESS"), 0);
  EXPECT_DOUBLE_EQ(d.lead_times.at("production").sum, 850);
  EXPECT_TRUE(d.awaiting.empty());
}

TEST(Delivery, TakenBackDeploymentIsRememberedEvenWhenTheBoundDroppedIt) {
  DeliveryLedger d;
  const std::string env = "production";
  DeliveryTakenBack(d, &env, 7, "FAIL");
  DeliveryCounted(d, &env, R(7, "SUCCESS", 0, 50));
  EXPECT_EQ(d.deployments.count({env, "SUCCESS"}), 0u);
  EXPECT_EQ(d.lead_times.at(env).count, 1);
  // Not a deployment pipeline: nothing remembered.
  DeliveryLedger other;
  DeliveryTakenBack(other, nullptr, 7, "FAIL");
  EXPECT_TRUE(other.empty());
}

TEST(Delivery, StreaksFollowTheOrderRunsEndedNotTheOrderTheyAreListed) {
  Fixture f;
  // One poll shows, newest first: 3 FAIL (ended 300), 2 SUCCESS (ended 200), 1 FAIL (100).
  f.Poll("b", {R(1, "FAIL", 0, 100), R(2, "SUCCESS", 50, 200), R(3, "FAIL", 150, 300)});
  DeliveryLedger d = f.Copy("b");
  EXPECT_EQ(d.failing_since_ms, kT0 + 300'000);
  ASSERT_EQ(d.restores.count(""), 1u);  // not a deployment pipeline: no environment
  EXPECT_EQ(d.restores.at("").count, 1);
  EXPECT_DOUBLE_EQ(d.restores.at("").sum, 100);
  // A second failure keeps the streak's start; CANCELED leaves it; a success ends it.
  f.Poll("b", {R(4, "FAIL", 310, 400)});
  f.Poll("b", {R(5, "CANCELED", 410, 500)});
  EXPECT_EQ(f.Copy("b").failing_since_ms, kT0 + 300'000);
  f.Poll("b", {R(6, "SUCCESS", 510, 1300)});
  d = f.Copy("b");
  EXPECT_EQ(d.failing_since_ms, 0);
  EXPECT_EQ(d.restores.at("").count, 2);
  EXPECT_DOUBLE_EQ(d.restores.at("").sum, 100 + 1000);
  // A failure that ended before the latest applied finish does not start a streak.
  f.Poll("b", {R(7, "RUNNING", 0, 0)});
  f.Poll("b", {R(7, "FAIL", 0, 1200)});
  EXPECT_EQ(f.Copy("b").failing_since_ms, 0);
}

TEST(Delivery, RendersTheFourFamiliesValidly) {
  Fixture f;
  f.Poll("p", {R(1, "FAIL", 0, 100)});
  f.Poll("b", {R(1, "SUCCESS", 0, 100)});
  std::string out;
  f.delivery->Render(out, f.history, f.named);
  EXPECT_TRUE(yfe::testing::CheckExposition(out).empty()) << out;
  EXPECT_NE(out.find("yunxiao_flow_deployments_total{pipeline_id=\"p\",pipeline_name=\"web-prod\","
                     "environment=\"production\",status=\"FAIL\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("yunxiao_flow_pipeline_failing_since_timestamp_seconds{pipeline_id=\"p\","
                     "pipeline_name=\"web-prod\"} 1700000100\n"),
            std::string::npos)
      << out;
  // Green: no failing_since series.
  EXPECT_EQ(out.find("failing_since_timestamp_seconds{pipeline_id=\"b\""), std::string::npos);
  EXPECT_NE(out.find("yunxiao_flow_deployment_lead_time_seconds_bucket{pipeline_id=\"p\","
                     "pipeline_name=\"web-prod\",environment=\"production\",le=\"+Inf\"} 0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("yunxiao_flow_pipeline_restore_duration_seconds_count{pipeline_id=\"p\""),
            std::string::npos);
  // A pipeline no longer watched is not rendered.
  std::string only_b;
  f.delivery->Render(only_b, f.history, {{"b", "web-build"}});
  EXPECT_EQ(only_b.find("pipeline_id=\"p\""), std::string::npos);
}

TEST(Delivery, PipelinesAreAssignedByIdNameOrGroupFirstMatchWins) {
  config::DeliveryConfig c;
  config::DeploymentConfig staging;
  staging.environment = "staging";
  staging.ids = {"42"};
  staging.group_ids = {7};
  config::DeploymentConfig prod;
  prod.environment = "production";
  prod.include = "-prod$";
  c.deployments = {staging, prod};
  Delivery d(c);
  d.SetPipelines({{"42", "api-prod"}, {"43", "web-prod"}, {"44", "etl"}, {"45", "x"}},
                 {{7, {"45"}}});
  EXPECT_EQ(d.EnvironmentOf("42"), "staging");  // first entry wins
  EXPECT_EQ(d.EnvironmentOf("43"), "production");
  EXPECT_EQ(d.EnvironmentOf("44"), "");
  EXPECT_EQ(d.EnvironmentOf("45"), "staging");  // by group
  EXPECT_EQ(d.GroupIds(), std::set<int64_t>{7});
}

TEST(Delivery, WarnsOnceAboutAnEnvironmentNoPipelineMatches) {
  config::DeliveryConfig c = ProdConfig();
  config::DeploymentConfig qa;
  qa.environment = "qa";
  qa.include = "-qa$";
  c.deployments.push_back(qa);
  Delivery d(c);
  ::testing::internal::CaptureStderr();
  d.SetPipelines({{"1", "web-prod"}}, {});
  d.SetPipelines({{"1", "web-prod"}}, {});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("no watched pipeline deploys to this environment"), std::string::npos) << err;
  EXPECT_NE(err.find("qa"), std::string::npos);
  EXPECT_EQ(err.find("production"), std::string::npos) << err;
  EXPECT_EQ(err.find("no watched"), err.rfind("no watched"));  // once
}

TEST(Delivery, StateRoundTripsThroughTheLedgerFileAndContinuesAfterARestart) {
  Fixture f;
  f.Poll("p", {R(1, "FAIL", 0, 100), R(2, "RUNNING", 50, 0)});
  const std::string text = SerializeLedger(f.history.Snapshot());
  EXPECT_NE(text.find("\ndelivery "), std::string::npos);
  auto back = ParseLedger(text);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(SerializeLedger(*back), text);
  const DeliveryLedger& d = back->pipelines.at("p").delivery;
  EXPECT_EQ(d.failing_since_ms, kT0 + 100'000);
  EXPECT_EQ(Deployments(d, "FAIL"), 1);
  EXPECT_EQ(d.deploys.count(1), 1u);

  // A new process: restored, then run 1 is resumed and succeeds, run 2 succeeds.
  RunHistory again{{10, 60}};
  auto delivery = std::make_shared<Delivery>(ProdConfig());
  again.SetObserver(delivery);
  again.Restore(std::move(*back));
  delivery->SetPipelines(f.named, {});
  again.Observe("p", 1, {R(2, "SUCCESS", 50, 400), R(1, "RUNNING", 0, 0)});
  again.FinishPoll("p");
  again.Observe("p", 1, {R(2, "SUCCESS", 50, 400), R(1, "SUCCESS", 0, 500)});
  again.FinishPoll("p");
  const DeliveryLedger after = again.Snapshot().pipelines.at("p").delivery;
  EXPECT_EQ(Deployments(after, "FAIL"), 1);     // run 1, once
  EXPECT_EQ(Deployments(after, "SUCCESS"), 1);  // run 2
  EXPECT_EQ(after.lead_times.at("production").count, 2);
  EXPECT_EQ(after.restores.at("production").count, 1);
  EXPECT_DOUBLE_EQ(after.restores.at("production").sum, 300);  // 100 -> 400
}

TEST(Delivery, PendingFinishesAreSavedWithTheirCommit) {
  DeliveryLedger d;
  const std::string env = "production";
  DeliveryCounted(d, &env, R(3, "FAIL", 0, 30));
  LedgerSnapshot s;
  s.pipelines["p"].baselined = true;
  s.pipelines["p"].delivery = d;
  auto back = ParseLedger(SerializeLedger(s));
  ASSERT_TRUE(back.ok()) << back.error();
  DeliveryLedger& r = back->pipelines.at("p").delivery;
  ASSERT_EQ(r.pending.size(), 1u);
  DeliveryPollEnded(r, &env);
  EXPECT_EQ(r.failing_since_ms, kT0 + 30'000);
}

// Version 3 adds the delivery block: files of versions 1 (before job history) and 2 (job
// history) are read as having no delivery state; a delivery block in them is refused.
TEST(Delivery, Version1And2FilesAreReadAndDeliveryRecordsNeedVersion3) {
  LedgerSnapshot s;
  s.buckets = {10};
  s.pipelines["p"].baselined = true;
  s.pipelines["p"].watermark = 9;
  s.pipelines["p"].runs[{"SUCCESS", "manual"}] = 4;
  std::string v3 = SerializeLedger(s);
  ASSERT_NE(v3.find("version 3\n"), std::string::npos);
  // The same file as versions 2 and 1 wrote it, with its checksum.
  auto resum = [](std::string text) {
    text.erase(text.rfind("crc32 "));
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08lx",
                  crc32(crc32(0L, nullptr, 0), reinterpret_cast<const Bytef*>(text.data()),
                        static_cast<uInt>(text.size())));
    return text + "crc32 " + crc + "\n";
  };
  auto as_version = [](std::string text, int version) {
    text.replace(text.find("version 3\n"), 10, "version " + std::to_string(version) + "\n");
    if (version == 1) text.erase(text.find("job_buckets 0\n"), 14);
    return text;
  };
  for (int version : {1, 2}) {
    auto old = ParseLedger(resum(as_version(v3, version)));
    ASSERT_TRUE(old.ok()) << version << ": " << old.error();
    EXPECT_EQ(old->pipelines.at("p").watermark, 9);
    EXPECT_EQ((old->pipelines.at("p").runs.at({"SUCCESS", "manual"})), 4);
    EXPECT_TRUE(old->pipelines.at("p").delivery.empty());
  }
  // Files of versions 1 and 2 cannot hold delivery records; nor can a delivery line come
  // first, or twice for one pipeline.
  s.pipelines["p"].delivery.failing_since_ms = 5;
  const std::string with = SerializeLedger(s);
  ASSERT_TRUE(ParseLedger(with).ok());
  for (int version : {1, 2}) EXPECT_FALSE(ParseLedger(resum(as_version(with, version))).ok());
  const size_t at = with.find("delivery ");
  const std::string line = with.substr(at, with.find('\n', at) + 1 - at);
  std::string first = with;
  first.erase(at, line.size());
  first.insert(first.find("pipeline "), line);
  EXPECT_FALSE(ParseLedger(resum(first)).ok());
  std::string twice = with;
  twice.insert(at, line);
  EXPECT_FALSE(ParseLedger(resum(twice)).ok());
}

// ---- Configuration ----

config::ConfigLoad Parse(const std::string& delivery, bool history = true) {
  return config::ParseConfig(
      "api: {endpoint: 'http://127.0.0.1:1', edition: region}\n"
      "collect: {history: " +
          std::string(history ? "true" : "false") + "}\npipelines: ['1']\n" + delivery,
      "t.yaml");
}

TEST(DeliveryConfig, ParsesDeployments) {
  auto load = Parse(
      "delivery:\n  deployments:\n"
      "    - environment: production\n"
      "      pipelines: {include: '-prod$', group_ids: [3], ids: ['7', abc]}\n"
      "      stage: '部署|Deploy'\n"
      "    - {environment: staging, pipelines: {ids: ['8']}, stage: 'job_sign:deploy(1'}\n");
  ASSERT_TRUE(load.ok()) << load.errors[0];
  const auto& d = load.config.delivery.deployments;
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].environment, "production");
  EXPECT_EQ(d[0].include, "-prod$");
  EXPECT_EQ(d[0].group_ids, std::vector<int64_t>{3});
  EXPECT_EQ(d[0].ids, (std::vector<std::string>{"7", "abc"}));
  EXPECT_EQ(d[0].stage, "部署|Deploy");
  EXPECT_EQ(d[1].ids, std::vector<std::string>{"8"});
  EXPECT_EQ(d[1].stage, "job_sign:deploy(1");  // a job sign, not a regex
  EXPECT_TRUE(Parse("").config.delivery.deployments.empty());
}

TEST(DeliveryConfig, RefusesWhatCannotWork) {
  const std::pair<const char*, const char*> cases[] = {
      {"delivery: {deploymentz: []}", "unknown key \"delivery.deploymentz\""},
      {"delivery: {deployments: [{environment: p, pipelines: {ids: ['1']}, stages: x}]}",
       "unknown key \"delivery.deployments[0].stages\""},
      {"delivery: {deployments: [{environment: p, pipelines: {name: x}}]}",
       "unknown key \"delivery.deployments[0].pipelines.name\""},
      {"delivery: {deployments: [{environment: p, pipelines: {include: '(a'}}]}",
       "\"delivery.deployments[0].pipelines.include\" is not a valid RE2"},
      {"delivery: {deployments: [{environment: p, pipelines: {ids: ['1']}, stage: '(?=x)'}]}",
       "\"delivery.deployments[0].stage\" is not a valid RE2"},
      {"delivery: {deployments: [{environment: p, pipelines: {ids: ['1']}, stage: 'job_sign:'}]}",
       "\"delivery.deployments[0].stage\" names no job after job_sign:"},
      {"delivery: {deployments: [{pipelines: {ids: ['1']}}]}",
       "\"delivery.deployments[0].environment\" is required"},
      {"delivery: {deployments: [{environment: p}]}",
       "\"delivery.deployments[0].pipelines\" must name pipelines"},
      {"delivery: {deployments: [{environment: p, pipelines: {ids: ['1']}}, "
       "{environment: p, pipelines: {ids: ['2']}}]}",
       "duplicate environment \"p\""},
      {"delivery: {deployments: [{environment: p, pipelines: {ids: ['a b']}}]}",
       "\"delivery.deployments[0].pipelines.ids\" entries"},
      {"delivery: {deployments: [{environment: p, pipelines: {group_ids: [x]}}]}",
       "\"delivery.deployments[0].pipelines.group_ids\" entries must be numbers"},
      {"delivery: {deployments: {environment: p}}", "\"delivery.deployments\" must be a list"},
  };
  for (const auto& [yaml, want] : cases) {
    auto load = Parse(yaml);
    ASSERT_FALSE(load.ok()) << yaml;
    std::string all;
    for (const auto& e : load.errors) all += e + "\n";
    EXPECT_NE(all.find(want), std::string::npos) << yaml << "\n" << all;
  }
  auto no_history =
      Parse("delivery: {deployments: [{environment: p, pipelines: {ids: ['1']}}]}", false);
  ASSERT_FALSE(no_history.ok());
  EXPECT_NE(no_history.errors[0].find("needs collect.history: true"), std::string::npos);
}

TEST(DeliveryConfig, KeysAreListed) {
  const auto keys = config::AllKeys();
  for (const char* k :
       {"delivery.deployments[].environment", "delivery.deployments[].stage",
        "delivery.deployments[].pipelines.include", "delivery.deployments[].pipelines.group_ids",
        "delivery.deployments[].pipelines.ids"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
  }
}

}  // namespace
}  // namespace yfe::collector
