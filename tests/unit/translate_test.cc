#include "metrics/translate.h"

#include <gtest/gtest.h>

#include <cmath>

#include "metrics/exposition.h"
#include "model/decode.h"
#include "support/exposition_check.h"
#include "support/test_support.h"

namespace yfe::metrics {
namespace {

using testing::Samples;
using testing::Value;

std::string All(const RunFragments& f) {
  std::string out;
  for (const auto& t : f.text) out += t;
  return out;
}

model::PipelineRun Load(const std::string& fixture) {
  auto run = model::DecodePipelineRun(testing::Fixture(fixture));
  EXPECT_TRUE(run.ok());
  return *run;
}

TEST(RenderRun, RunStatusIsAFullStateSet) {
  auto text = All(RenderRun({"1", "p"}, Load("api/seed_latest_run.json"), {}));
  auto status = Samples(text, "yunxiao_flow_latest_run_status");
  EXPECT_EQ(status.size(), 8u);  // the eight known statuses
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"RUNNING\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"FAIL\""}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"SWITCH_MANUAL\""}), 0);
}

TEST(RenderRun, UnfinishedRunHasNoEndOrDuration) {
  auto text = All(RenderRun({"1", "p"}, Load("api/seed_latest_run.json"), {}));
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_end_timestamp_seconds").empty());
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_duration_seconds").empty());
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_stage_duration_seconds").empty());
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_job_duration_seconds").empty());
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_start_timestamp_seconds"), 1590730400);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id"), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_trigger_mode", {"trigger_mode=\"manual\""}), 1);
}

TEST(RenderRun, FinishedRunDurationsUseTheLatestEndTime) {
  auto text = All(RenderRun({"1000003", "app"}, Load("api/finished_fail_run.json"), {}));
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"FAIL\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_end_timestamp_seconds"), 1729178300);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_duration_seconds"), 300);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_trigger_mode", {"trigger_mode=\"commit\""}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {"job_sign=\"job-lint\""}),
            50.5);
  // The e2e job is in an unknown, unfinished state: status kept, no duration.
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_status",
                  {"job_sign=\"job-e2e\"", "status=\"PAUSED_BY_ROBOT\""}),
            1);
  EXPECT_TRUE(std::isnan(
      Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {"job_sign=\"job-e2e\""})));
  // INIT stage: status, but no start time (0) and no duration.
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_stage_status",
                  {"stage_index=\"Group2-Stage0\"", "status=\"INIT\""}),
            1);
  EXPECT_TRUE(std::isnan(Value(text, "yunxiao_flow_latest_run_stage_start_timestamp_seconds",
                               {"stage_index=\"Group2-Stage0\""})));
}

TEST(RenderRun, LabelValuesAreEscapedAndSecretsNeverAppear) {
  auto text = All(RenderRun({"1000003", "a \"q\" \\ b"}, Load("api/finished_fail_run.json"), {}));
  EXPECT_NE(text.find(R"(pipeline_name="a \"q\" \\ b")"), std::string::npos);
  EXPECT_NE(text.find(R"(job_name="Java \"build\"")"), std::string::npos);
  EXPECT_NE(text.find(R"(job_name="lint\\check")"), std::string::npos);
  EXPECT_NE(text.find(R"(stage_name="test\nsuite")"), std::string::npos);
  EXPECT_NE(text.find("stage_name=\"构建\""), std::string::npos);
  EXPECT_EQ(text.find("FIXTURE-SECRET"), std::string::npos);
  EXPECT_NE(text.find(R"(repo="https://codeup.aliyun.com/org/app.git")"), std::string::npos);
  EXPECT_EQ(text.find("pipelineRunId"), std::string::npos);
  EXPECT_EQ(text.find("\"901\""), std::string::npos);  // job instance ids are never labels
}

TEST(RenderRun, SparseAndFullStageStatus) {
  auto run = Load("api/finished_fail_run.json");
  RenderOptions sparse;
  auto s = All(RenderRun({"1", "p"}, run, sparse));
  EXPECT_EQ(Samples(s, "yunxiao_flow_latest_run_stage_status").size(), 3u);
  EXPECT_EQ(Samples(s, "yunxiao_flow_latest_run_job_status").size(), 5u);
  RenderOptions full;
  full.sparse_status = false;
  auto f = All(RenderRun({"1", "p"}, run, full));
  EXPECT_EQ(Samples(f, "yunxiao_flow_latest_run_stage_status").size(), 3u * 8);
  // 5 jobs × 8 known statuses + 1 unknown status series.
  EXPECT_EQ(Samples(f, "yunxiao_flow_latest_run_job_status").size(), 5u * 8 + 1);
}

TEST(RenderRun, StagesAndJobsCanBeTurnedOff) {
  auto run = Load("api/finished_fail_run.json");
  RenderOptions o;
  o.jobs = false;
  auto t = All(RenderRun({"1", "p"}, run, o));
  EXPECT_FALSE(Samples(t, "yunxiao_flow_latest_run_stage_status").empty());
  EXPECT_TRUE(Samples(t, "yunxiao_flow_latest_run_job_status").empty());
  o.stages = false;
  t = All(RenderRun({"1", "p"}, run, o));
  EXPECT_TRUE(Samples(t, "yunxiao_flow_latest_run_stage_status").empty());
  EXPECT_FALSE(Samples(t, "yunxiao_flow_latest_run_status").empty());
}

TEST(RenderRun, DuplicateStagesAndJobsAreDroppedWithAWarning) {
  auto run = model::DecodePipelineRun(
      R"({"status":"RUNNING","stages":[
        {"index":"G0","name":"a","stageInfo":{"status":"RUNNING","jobs":[
          {"jobSign":"j","name":"n","status":"RUNNING"},{"jobSign":"j","name":"n","status":"FAIL"}]}},
        {"index":"G0","name":"a","stageInfo":{"status":"FAIL"}}]})");
  ASSERT_TRUE(run.ok());
  auto f = RenderRun({"1", "p"}, *run, {});
  auto t = All(f);
  EXPECT_EQ(Samples(t, "yunxiao_flow_latest_run_stage_status").size(), 1u);
  EXPECT_EQ(Samples(t, "yunxiao_flow_latest_run_job_status").size(), 1u);
  EXPECT_EQ(f.warnings.size(), 2u);
}

TEST(RenderRun, EndBeforeStartGivesNoDuration) {
  auto run = model::DecodePipelineRun(
      R"({"status":"SUCCESS","createTime":1700000100000,"updateTime":1700000000000})");
  ASSERT_TRUE(run.ok());
  auto t = All(RenderRun({"1", "p"}, *run, {}));
  EXPECT_TRUE(Samples(t, "yunxiao_flow_latest_run_duration_seconds").empty());
  EXPECT_TRUE(Samples(t, "yunxiao_flow_latest_run_end_timestamp_seconds").empty());
}

TEST(RenderRun, FinishedRunWithoutStageTimesEndsAtUpdateTime) {
  auto run = model::DecodePipelineRun(
      R"({"status":"CANCELED","createTime":1700000000000,"updateTime":1700000090000})");
  ASSERT_TRUE(run.ok());
  auto t = All(RenderRun({"1", "p"}, *run, {}));
  EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_duration_seconds"), 90);
}

TEST(RenderRun, SkipIsKnownAndFinishedOtherWebhookStatusesComeAsTheyAre) {
  model::PipelineRun run;
  run.status = "RUNNING";
  run.create_ms = 1700000000000;
  model::Stage stage{"Group0-Stage0", "s", "RUNNING", 1700000000000, 0, {}};
  stage.jobs.push_back({"a", "a", "SKIP", 1700000000000, 1700000001500});
  stage.jobs.push_back({"b", "b", "CANCELLING", 1700000000000, 1700000002000});
  stage.jobs.push_back({"c", "c", "UNKOWN", 0, 0});
  run.stages.push_back(stage);
  RenderOptions full;
  full.sparse_status = false;
  auto text = All(RenderRun({"1", "p"}, run, full));
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {"job_sign=\"a\""}), 1.5);
  EXPECT_TRUE(
      std::isnan(Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {"job_sign=\"b\""})));
  // Dense: 8 known statuses per job, plus the value itself when it is not one of them.
  EXPECT_EQ(Samples(text, "yunxiao_flow_latest_run_job_status").size(), 3u * 8 + 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_status", {"job_sign=\"b\"", "CANCELLING"}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_status", {"job_sign=\"c\"", "UNKOWN"}), 1);
  EXPECT_TRUE(std::isnan(
      Value(text, "yunxiao_flow_latest_run_job_start_timestamp_seconds", {"job_sign=\"c\""})));
}

TEST(RenderNoRun, OnlyThePipelineInfo) {
  RunFragments f = RenderNoRun({"9", "never"});
  auto text = All(f);
  EXPECT_EQ(text,
            "yunxiao_flow_pipeline_info{pipeline_id=\"9\",pipeline_name=\"never\","
            "pipeline_type=\"\"} 1\n");
}

// A run body as large as the API may send: `stages` stages of `jobs` finished jobs, every
// label 256 bytes (the per-label cap).
std::string HugeRunBody(int stages, int jobs) {
  const std::string label(240, 'x');
  std::string body = R"({"status":"FAIL","pipelineRunId":7,"createTime":1700000000000,)"
                     R"("pipelineType":"default","sources":[{"name":"src","type":"Codeup",)"
                     R"("data":{"repo":"https://host/r.git","branch":"main"}}],"stages":[)";
  for (int s = 0; s < stages; ++s) {
    if (s) body += ',';
    body += R"({"index":")" + label + std::to_string(s) + R"(","name":")" + label +
            std::to_string(s) +
            R"(","stageInfo":{"status":"FAIL","startTime":1700000000000,)"
            R"("endTime":1700000100000,"jobs":[)";
    for (int j = 0; j < jobs; ++j) {
      if (j) body += ',';
      body += R"({"jobSign":")" + label + std::to_string(j) + R"(","name":")" + label +
              std::to_string(j) +
              R"(","status":"FAIL","startTime":1700000000000,"endTime":1700000100000})";
    }
    body += "]}}";
  }
  return body + "]}";
}

// Audit finding 8: a 3 MB body rendered 73 MB (329 MB with sparse_status: false), per
// pipeline. The default caps hold it to max_run_bytes, the run-level series intact.
TEST(RenderRun, AHugeRunIsCutToTheByteBudget) {
  const std::string body = HugeRunBody(200, 200);
  ASSERT_GT(body.size(), 3u << 20);
  auto run = model::DecodePipelineRun(body);
  ASSERT_TRUE(run.ok()) << run.error();
  for (bool sparse : {true, false}) {
    RenderOptions o;
    o.sparse_status = sparse;
    auto f = RenderRun({"1", std::string(256, 'p')}, *run, o);
    EXPECT_LE(f.Bytes(), o.max_run_bytes);
    EXPECT_GT(f.Bytes(), o.max_run_bytes / 2);
    EXPECT_TRUE(f.Truncated());
    EXPECT_TRUE(f.cut[static_cast<size_t>(Cut::kRunBytes)]);
    const std::string text = All(f);
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"FAIL\""}), 1);
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id"), 7);
    EXPECT_EQ(Samples(text, "yunxiao_flow_pipeline_source_info").size(), 1u);
    // Whole series only: every line ends with a value.
    for (const auto& line : Samples(text, "yunxiao_flow_latest_run_job_status")) {
      const std::string end = line.substr(line.size() - 2);
      EXPECT_TRUE(end == " 1" || end == " 0") << line.substr(line.size() - 40);
    }
    EXPECT_EQ(testing::CheckExposition(text), "");
  }
}

TEST(RenderRun, StageAndJobCaps) {
  auto run = model::DecodePipelineRun(HugeRunBody(5, 4));
  ASSERT_TRUE(run.ok());
  RenderOptions o;
  o.max_stages = 3;
  o.max_jobs_per_stage = 2;
  auto f = RenderRun({"1", "p"}, *run, o);
  const std::string text = All(f);
  EXPECT_EQ(Samples(text, "yunxiao_flow_latest_run_stage_status").size(), 3u);
  EXPECT_EQ(Samples(text, "yunxiao_flow_latest_run_job_status").size(), 6u);
  EXPECT_EQ(Samples(text, "yunxiao_flow_latest_run_job_duration_seconds").size(), 6u);
  EXPECT_TRUE(f.cut[static_cast<size_t>(Cut::kStages)]);
  EXPECT_TRUE(f.cut[static_cast<size_t>(Cut::kJobsPerStage)]);
  EXPECT_FALSE(f.cut[static_cast<size_t>(Cut::kRunBytes)]);
  o.max_stages = 5;
  o.max_jobs_per_stage = 4;
  EXPECT_FALSE(RenderRun({"1", "p"}, *run, o).Truncated());
}

// Duplicates used to push one warning each: up to 40,000 log lines per change of a run.
TEST(RenderRun, WarningsAreCapped) {
  model::PipelineRun run;
  run.status = "SUCCESS";
  for (int i = 0; i < 500; ++i) run.stages.push_back({"same", "stage", "SUCCESS", 0, 0, {}});
  auto f = RenderRun({"1", "p"}, run, {});
  EXPECT_EQ(f.warnings.size(), RunFragments::kMaxWarnings + 1);
  EXPECT_NE(f.warnings.back().find("489 more"), std::string::npos) << f.warnings.back();
}

}  // namespace
}  // namespace yfe::metrics
