#include "model/decode.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace yfe::model {
namespace {

TEST(DecodePipelineRun, SeedExampleFromTheApiDocs) {
  auto run = DecodePipelineRun(testing::Fixture("api/seed_latest_run.json"));
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_EQ(run->status, "RUNNING");
  EXPECT_EQ(*run->run_id, 1);
  EXPECT_EQ(*run->trigger_mode, 1);
  EXPECT_EQ(run->create_ms, 1590730400000);
  EXPECT_EQ(run->pipeline_type, "default");
  ASSERT_EQ(run->sources.size(), 1u);
  EXPECT_EQ(run->sources[0].repo, "https://codeup.aliyun.com/test.git");
  EXPECT_EQ(run->sources[0].branch, "master");
  EXPECT_EQ(run->sources[0].type, "Codeup");
  ASSERT_EQ(run->stages.size(), 1u);
  EXPECT_EQ(run->stages[0].index, "Group0-Stage0");
  EXPECT_EQ(run->stages[0].name, "Java build");
  EXPECT_EQ(run->stages[0].status, "RUNNING");
  ASSERT_EQ(run->stages[0].jobs.size(), 1u);
  EXPECT_EQ(run->stages[0].jobs[0].sign, "job-1");
  EXPECT_EQ(run->stages[0].jobs[0].start_ms, 1729178040000);
}

TEST(DecodePipelineRun, LowercaseStatusesAreUpperCased) {
  auto run = DecodePipelineRun(testing::Fixture("api/finished_fail_run.json"));
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_EQ(run->stages[0].jobs[1].status, "SUCCESS");
  EXPECT_EQ(run->stages[1].jobs[1].status, "PAUSED_BY_ROBOT");
}

TEST(DecodePipelineRun, CredentialsAreStrippedFromRepoUrls) {
  auto run = DecodePipelineRun(testing::Fixture("api/finished_fail_run.json"));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->sources[0].repo, "https://codeup.aliyun.com/org/app.git");
}

TEST(DecodePipelineRun, RejectsWhatIsNotARun) {
  for (const char* body : {"", "nul", "[1,2]", "\"text\"", "42", "{}", "{\"status\":", "null",
                           "{\"errorCode\":\"NotFound\"}", "{\"status\":null}"}) {
    auto run = DecodePipelineRun(body);
    EXPECT_FALSE(run.ok()) << body;
    if (!run.ok()) {
      EXPECT_FALSE(run.error().empty());
    }
  }
}

TEST(DecodePipelineRun, ToleratesLooseTypes) {
  auto run = DecodePipelineRun(
      R"({"status":"SUCCESS","pipelineRunId":"77","triggerMode":2.0,"createTime":1.7e12,
          "updateTime":"1700000100000","stages":[{"index":5,"stageInfo":{"status":"success",
          "startTime":"x","endTime":-5,"jobs":[null,1,"s",{"jobSign":null,"status":7}]}}],
          "sources":"nope"})");
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_EQ(*run->run_id, 77);
  EXPECT_EQ(*run->trigger_mode, 2);
  EXPECT_EQ(run->create_ms, 1700000000000);
  EXPECT_EQ(run->update_ms, 1700000100000);
  ASSERT_EQ(run->stages.size(), 1u);
  EXPECT_EQ(run->stages[0].index, "5");
  EXPECT_EQ(run->stages[0].start_ms, 0);
  EXPECT_EQ(run->stages[0].end_ms, 0);
  ASSERT_EQ(run->stages[0].jobs.size(), 1u);
  EXPECT_EQ(run->stages[0].jobs[0].status, "7");
  EXPECT_TRUE(run->sources.empty());
}

TEST(DecodePipelineRun, AbsurdTimesAreTreatedAsAbsent) {
  auto run = DecodePipelineRun(
      R"({"status":"SUCCESS","createTime":1e300,"updateTime":99999999999999999999})");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->create_ms, 0);
  EXPECT_EQ(run->update_ms, 0);
}

TEST(DecodePipelineRun, DeepNestingDoesNotOverflowTheStack) {
  std::string deep =
      R"({"status":"RUNNING","x":)" + std::string(200000, '[') + std::string(200000, ']') + "}";
  auto run = DecodePipelineRun(deep);
  EXPECT_TRUE(run.ok()) << run.error();
}

TEST(DecodePipelineRun, HugeArraysAreBounded) {
  std::string stages;
  for (int i = 0; i < 1000; ++i) {
    stages += (i ? "," : "") + std::string(R"({"index":"S)") + std::to_string(i) +
              R"(","stageInfo":{"status":"SUCCESS"}})";
  }
  auto run = DecodePipelineRun(R"({"status":"SUCCESS","stages":[)" + stages + "]}");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->stages.size(), kMaxStages);
}

TEST(DecodePipelineRun, InvalidUtf8AndLongStringsBecomeSafeLabels) {
  std::string body =
      "{\"status\":\"FAIL\",\"pipelineType\":\"a\xff\xfe"
      "b\",\"stages\":[{"
      "\"index\":\"" +
      std::string(5000, 'x') + "\",\"name\":\"\xe6\x9e\x84\"}]}";
  auto run = DecodePipelineRun(body);
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_EQ(run->pipeline_type,
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(run->stages[0].index.size(), kMaxLabelBytes);
  EXPECT_EQ(run->stages[0].name, "\xe6\x9e\x84");
}

TEST(SanitizeLabel, CutsAtCharacterBoundaries) {
  EXPECT_EQ(SanitizeLabel("\xe6\x9e\x84\xe5\xbb\xba", 4), "\xe6\x9e\x84");
  EXPECT_EQ(SanitizeLabel("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeLabel("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(SanitizeLabel("ok"), "ok");
}

TEST(DecodePipelineList, AcceptsRealAndDocumentedFieldNames) {
  auto list = DecodePipelineList(
      R"([{"id":1,"name":"a","groupId":7},{"pipelineId":"2","pipelineName":"b"},{"x":1},5])");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "1");
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ(*(*list)[0].group_id, 7);
  EXPECT_EQ((*list)[1].id, "2");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_FALSE(DecodePipelineList(R"({"a":1})").ok());
}

TEST(IsNoRunAnswer, EachStyleOfNoRunYet) {
  struct Case {
    bool ok;
    long status;
    const char* body;
    bool want;
  };
  const Case cases[] = {
      {false, 404, R"({"errorCode":"NotFound"})", true},
      {true, 200, "", true},
      {true, 200, " \n", true},
      {true, 200, "null", true},
      {true, 200, "{}", true},
      {true, 204, " { } ", true},
      {true, 200, R"({"status":"SUCCESS"})", false},
      {true, 200, "[]", false},
      {true, 200, "nul", false},
      {true, 200, "{", false},
      {false, 500, "", false},
      {false, 403, "", false},
      {false, 0, "", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsNoRunAnswer(c.ok, c.status, c.body), c.want) << c.status << " '" << c.body << "'";
  }
}

TEST(DecodePipelineRun, NullTimesAndHugeJobIdsAreAbsentNotErrors) {
  auto run = DecodePipelineRun(
      R"({"status":"RUNNING","pipelineRunId":3,"createTime":1795000000000,"creator":null,)"
      R"("stages":[{"index":"Group0-Stage0","name":"s","stageInfo":{"status":"INIT",)"
      R"("startTime":null,"endTime":null,"jobs":[{"id":18446744073709551615,)"
      R"("jobSign":"j","name":"j","status":"SKIP","startTime":null,"endTime":null}]}}]})");
  ASSERT_TRUE(run.ok()) << run.error();
  ASSERT_EQ(run->stages.size(), 1u);
  EXPECT_EQ(run->stages[0].start_ms, 0);
  ASSERT_EQ(run->stages[0].jobs.size(), 1u);
  EXPECT_EQ(run->stages[0].jobs[0].status, "SKIP");
  EXPECT_EQ(run->stages[0].jobs[0].start_ms, 0);
  EXPECT_EQ(run->stages[0].jobs[0].end_ms, 0);
}

TEST(DecodePipelineList, TodaysShapeHasNoGroupAndThe2025ShapeHasNulls) {
  auto list = DecodePipelineList(
      R"([{"pipelineId":5,"pipelineName":"a","createAccountId":"x","createTime":1},)"
      R"({"name":"b","owner":null,"id":6,"groupId":0,"updateTime":null,"tagList":null,)"
      R"("creator":{"id":"x","username":null},"modifier":null}])");
  ASSERT_TRUE(list.ok()) << list.error();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "5");
  EXPECT_FALSE((*list)[0].group_id.has_value());
  EXPECT_EQ((*list)[1].id, "6");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ((*list)[1].group_id, 0);
}

TEST(DecodeApiError, ReadsTheErrorBody) {
  auto e =
      DecodeApiError(R"({"errorCode":"NotFound","errorMessage":"Not Found","requestId":"r-1"})");
  EXPECT_EQ(e.code, "NotFound");
  EXPECT_EQ(e.message, "Not Found");
  EXPECT_EQ(e.request_id, "r-1");
  EXPECT_TRUE(DecodeApiError("<html>").code.empty());
}

}  // namespace
}  // namespace yfe::model
