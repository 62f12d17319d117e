// Replay: bodies shaped like the real API's public captures (tests/fixtures/api/replay/)
// through decode → translate, against golden text. UPDATE_GOLDEN=1 rewrites the golden files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "metrics/translate.h"
#include "model/decode.h"
#include "support/test_support.h"

namespace yfe::metrics {
namespace {

using testing::Fixture;
using testing::Samples;
using testing::Value;

std::string Render(const std::string& fixture) {
  auto run = model::DecodePipelineRun(Fixture("api/replay/" + fixture + ".json"));
  EXPECT_TRUE(run.ok()) << fixture << ": " << run.error();
  if (!run.ok()) return "";
  RunFragments f = RenderRun({"2813417", "replay"}, *run, {});
  std::string out;
  for (const auto& t : f.text) out += t;
  for (const auto& w : f.warnings) out += "# warning: " + w + "\n";
  return out;
}

class Replay : public ::testing::TestWithParam<const char*> {};

TEST_P(Replay, DecodeAndTranslateMatchTheGoldenText) {
  const std::string name = GetParam();
  const std::string got = Render(name);
  ASSERT_FALSE(got.empty());
  const std::string path = std::string(YFE_SOURCE_DIR) + "/tests/golden/replay/" + name + ".txt";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    GTEST_SKIP() << "golden file updated";
  }
  const std::string want = testing::ReadFile(path);
  ASSERT_FALSE(want.empty()) << "missing " << path << "; run with UPDATE_GOLDEN=1";
  EXPECT_EQ(got, want) << "run with UPDATE_GOLDEN=1 to accept the new output";
  // Secrets of the captures never reach the text.
  EXPECT_EQ(got.find("REPLAY-SECRET"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Captures, Replay, ::testing::Values("running_run", "finished_run"));

TEST(Replay, JobsNotStartedHaveNoStartOrDurationSeries) {
  const std::string text = Render("running_run");
  auto job = [](const char* sign) { return std::string("job_sign=\"") + sign + "\""; };
  // SKIP and INIT jobs with null times: a status, nothing else.
  for (const char* sign : {"job_code_scan", "job_deploy"}) {
    EXPECT_TRUE(
        std::isnan(Value(text, "yunxiao_flow_latest_run_job_start_timestamp_seconds", {job(sign)})))
        << sign;
    EXPECT_TRUE(
        std::isnan(Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {job(sign)})))
        << sign;
  }
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_status", {job("job_code_scan"), "SKIP"}), 1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {job("job_unit_test")}),
            111.5);
  // The unfinished run has no end; the waiting checkpoint has a start but no duration.
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_end_timestamp_seconds").empty());
  EXPECT_TRUE(std::isnan(
      Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {job("job_approval")})));
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_stage_status", {"SWITCH_MANUAL"}), 1);
}

TEST(Replay, UnknownStatusesAreExportedAsTheyCome) {
  const std::string text = Render("finished_run");
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_job_status", {"job_cache", "CANCELLING"}), 1);
  EXPECT_TRUE(std::isnan(
      Value(text, "yunxiao_flow_latest_run_job_duration_seconds", {"job_sign=\"job_cache\""})));
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_stage_status", {"stage_name=\"部署\"", "SKIP"}),
            1);
  EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_duration_seconds"), 455);
  // The source's branch is its configured default branch, credentials stripped.
  EXPECT_NE(text.find("repo=\"https://codeup.aliyun.com/5f8e7d6c/web/web-console.git\","
                      "branch=\"develop\""),
            std::string::npos);
}

TEST(Replay, BothListPipelinesShapesAndTheGroupListDecode) {
  auto today = model::DecodePipelineList(Fixture("api/replay/list_pipelines_today.json"));
  auto old = model::DecodePipelineList(Fixture("api/replay/list_pipelines_2025.json"));
  auto group = model::DecodePipelineList(Fixture("api/replay/group_pipelines.json"));
  ASSERT_TRUE(today.ok() && old.ok() && group.ok());
  ASSERT_EQ(today->size(), 3u);
  EXPECT_EQ((*today)[1].id, "2813420");
  EXPECT_EQ((*today)[1].name, "web-console 发布");
  EXPECT_FALSE((*today)[0].group_id.has_value());  // today's items carry no groupId
  ASSERT_EQ(old->size(), 2u);
  EXPECT_EQ((*old)[1].id, "2813420");
  EXPECT_EQ((*old)[1].name, "web-console 发布");
  EXPECT_EQ((*old)[1].group_id, 0);  // 0 = ungrouped
  ASSERT_EQ(group->size(), 2u);
  EXPECT_EQ((*group)[1].id, "2813440");
  EXPECT_EQ((*group)[1].name, "pay-settlement");
}

TEST(Replay, RunListWithNullsDecodes) {
  auto runs = model::DecodeRunList(Fixture("api/replay/run_list.json"));
  ASSERT_TRUE(runs.ok()) << runs.error();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].id, 318);
  EXPECT_EQ((*runs)[0].end_ms, 0);  // null
  EXPECT_EQ((*runs)[1].end_ms, 0);
  EXPECT_EQ((*runs)[2].end_ms, 1794999600000);
}

}  // namespace
}  // namespace yfe::metrics
