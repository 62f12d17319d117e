// Hostile API bodies through the whole binary: whatever the Flow API returns for one
// pipeline, the exporter stays up, its exposition stays valid, the outcome is honest (a
// counted, logged decode error or a correct reading) and the healthy neighbour is unaffected.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "integration/hardening.h"
#include "support/exposition_check.h"
#include "support/harness.h"

namespace yfe::testing {
namespace {

using namespace hardening;

struct HostileCase {
  std::string name;
  std::function<std::string()> body;
  bool decode_error;  // true: the pipeline must fail with a counted, logged decode error
  // For served bodies: checks on the exposition (pipeline kBad) and the log. Without
  // one, either outcome is accepted (but must be honest and valid).
  std::function<void(const std::string& text, const std::string& log)> check = nullptr;
};

std::ostream& operator<<(std::ostream& os, const HostileCase& c) { return os << c.name; }

std::string RunWith(const std::string& fields, const std::string& stages = "[]") {
  return R"({"pipelineRunId":42,"triggerMode":1,"createTime":1795000000000,)"
         R"("updateTime":1795000600000,)" +
         fields + R"(,"stages":)" + stages + "}";
}

std::string Deep(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string StageJson(const std::string& index, const std::string& name, const std::string& status,
                      const std::string& jobs = "[]") {
  return R"({"index":")" + index + R"(","name":")" + name + R"(","stageInfo":{"status":")" +
         status + R"(","jobs":)" + jobs + "}}";
}

std::vector<HostileCase> HostileCases() {
  std::vector<HostileCase> c;
  auto seed = [] { return Fixture("api/seed_latest_run.json"); };
  auto literal = [](std::string s) { return [s] { return s; }; };
  c.push_back({"truncated_json", [seed] { return seed().substr(0, seed().size() / 2); }, true});
  c.push_back({"truncated_after_one_byte", literal("{"), true});
  // An existing pipeline's empty or null latest run means "no run yet".
  auto no_run = [](const std::string& t, const std::string& log) {
    EXPECT_EQ(CountOf(t, "yunxiao_flow_latest_run_status", {{"pipeline_id", kBad}}), 0u);
    EXPECT_EQ(CountOf(t, "yunxiao_flow_pipeline_info", {{"pipeline_id", kBad}}), 1u);
    EXPECT_TRUE(LogLines(log, {"fetch failed", LogId(kBad)}).empty()) << log;
  };
  c.push_back({"empty_body", literal(""), false, no_run});
  c.push_back({"array_root", literal(R"([{"status":"SUCCESS"}])"), true});
  c.push_back({"string_root", literal(R"("SUCCESS")"), true});
  c.push_back({"number_root", literal("42"), true});
  c.push_back({"null_root", literal("null"), false, no_run});
  c.push_back({"object_without_status", literal(R"({"pipelineRunId":1})"), true});
  c.push_back({"status_is_an_object", literal(R"({"status":{"a":1}})"), true});
  c.push_back({"status_is_a_list", literal(R"({"status":["FAIL"]})"), true});
  c.push_back({"status_is_null", literal(R"({"status":null})"), true});
  c.push_back(
      {"html_error_page_with_200", literal("<html><body>502 Bad Gateway</body></html>"), true});
  c.push_back({"trailing_garbage", literal(R"({"status":"SUCCESS"} {"status":"FAIL"})"), true});
  c.push_back({"nan_literal", literal(R"({"status":"SUCCESS","createTime":NaN})"), true});
  c.push_back(
      {"number_too_big_for_a_double", literal(R"({"status":"SUCCESS","createTime":1e400})"), true});
  c.push_back({"deep_nesting_root_100k", [] { return Deep(100000); }, true});
  c.push_back({"deep_nesting_unclosed_100k",
               [] {
                 std::string s;
                 for (int i = 0; i < 100000; ++i) s += R"({"a":)";
                 return s;
               },
               true});
  c.push_back({"utf8_bom", [] { return "\xEF\xBB\xBF" + RunWith(R"("status":"SUCCESS")"); }, false,
               nullptr});

  c.push_back(
      {"null_fields_at_every_level",
       literal(R"({"status":"SUCCESS","pipelineRunId":null,"triggerMode":null,)"
               R"("createTime":null,"updateTime":null,"pipelineType":null,)"
               R"("sources":[null,{"name":null,"type":null,"data":null},)"
               R"({"data":{"repo":null,"branch":null}}],)"
               R"("stages":[null,{"index":null,"name":null,"stageInfo":null},)"
               R"({"index":"1","name":"s","stageInfo":{"status":null,"startTime":null,)"
               R"("endTime":null,"name":null,"jobs":[null,{"jobSign":null,"name":null,)"
               R"("status":null,"startTime":null,"endTime":null}]}}]})"),
       false, [](const std::string& t, const std::string&) {
         EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                       {{"pipeline_id", kBad}, {"status", "SUCCESS"}}),
                   1);
         EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_trigger_mode",
                       {{"pipeline_id", kBad}, {"trigger_mode", "unknown"}}),
                   1);
         EXPECT_TRUE(std::isnan(Get(t, "yunxiao_flow_latest_run_id", {{"pipeline_id", kBad}})));
         EXPECT_TRUE(std::isnan(
             Get(t, "yunxiao_flow_latest_run_start_timestamp_seconds", {{"pipeline_id", kBad}})));
       }});

  c.push_back({"wrong_types",
               literal(R"({"status":"running","pipelineRunId":"77","triggerMode":"3",)"
                       R"("createTime":"1795000000000","updateTime":1795000100000.9,)"
                       R"("pipelineType":12,"sources":"not a list","stages":{"not":"a list"}})"),
               false, [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "RUNNING"}}),
                           1);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_id", {{"pipeline_id", kBad}}), 77);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_trigger_mode",
                               {{"pipeline_id", kBad}, {"trigger_mode", "commit"}}),
                           1);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_start_timestamp_seconds",
                               {{"pipeline_id", kBad}}),
                           1795000000);
                 EXPECT_EQ(Get(t, "yunxiao_flow_pipeline_info",
                               {{"pipeline_id", kBad}, {"pipeline_type", "12"}}),
                           1);
               }});

  c.push_back({"wrong_types_inside_stages_and_jobs",
               [] {
                 return RunWith(
                     R"("status":"SUCCESS")",
                     R"([{"index":7,"name":["x"],"stageInfo":{"status":1,"startTime":"soon",)"
                     R"("endTime":true,"jobs":{"a":1}}},{"index":"2","name":"b","stageInfo":[1]},)"
                     R"({"index":"3","name":"c","stageInfo":{"status":"SUCCESS","jobs":[1,"x",)"
                     R"([],{"jobSign":{"a":1},"name":5,"status":false,"startTime":[1]}]}}])");
               },
               false,
               [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "SUCCESS"}}),
                           1);
                 EXPECT_EQ(
                     Get(t, "yunxiao_flow_latest_run_stage_status",
                         {{"pipeline_id", kBad}, {"stage_index", "3"}, {"status", "SUCCESS"}}),
                     1);
               }});

  c.push_back({"negative_float_and_absurd_times",
               literal(R"({"status":"SUCCESS","pipelineRunId":1e300,"createTime":-5,)"
                       R"("updateTime":99999999999999999999,"stages":[{"index":"1","name":"a",)"
                       R"("stageInfo":{"status":"SUCCESS","startTime":1.5e308,"endTime":-1e308,)"
                       R"("jobs":[{"jobSign":"j","name":"j","status":"FAIL",)"
                       R"("startTime":9223372036854775807,"endTime":-9223372036854775808}]}}]})"),
               false, [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "SUCCESS"}}),
                           1);
                 for (const char* m : {"yunxiao_flow_latest_run_id",
                                       "yunxiao_flow_latest_run_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_end_timestamp_seconds",
                                       "yunxiao_flow_latest_run_duration_seconds",
                                       "yunxiao_flow_latest_run_stage_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_stage_duration_seconds",
                                       "yunxiao_flow_latest_run_job_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_job_duration_seconds"}) {
                   EXPECT_TRUE(std::isnan(Get(t, m, {{"pipeline_id", kBad}}))) << m;
                 }
               }});

  c.push_back(
      {"end_before_start",
       literal(R"({"status":"FAIL","pipelineRunId":3,"createTime":1795000600000,)"
               R"("updateTime":1795000000000,"stages":[{"index":"1","name":"build",)"
               R"("stageInfo":{"status":"FAIL","startTime":1795000600000,)"
               R"("endTime":1795000000000,"jobs":[{"jobSign":"j1","name":"compile",)"
               R"("status":"FAIL","startTime":1795000600000,"endTime":1795000000000}]}}]})"),
       false, [](const std::string& t, const std::string&) {
         EXPECT_EQ(
             Get(t, "yunxiao_flow_latest_run_status", {{"pipeline_id", kBad}, {"status", "FAIL"}}),
             1);
         EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_stage_start_timestamp_seconds",
                       {{"pipeline_id", kBad}}),
                   1795000600);
         for (const char* m : {"yunxiao_flow_latest_run_duration_seconds",
                               "yunxiao_flow_latest_run_end_timestamp_seconds",
                               "yunxiao_flow_latest_run_stage_duration_seconds",
                               "yunxiao_flow_latest_run_job_duration_seconds"}) {
           EXPECT_TRUE(std::isnan(Get(t, m, {{"pipeline_id", kBad}}))) << m;
         }
       }});

  c.push_back(
      {"huge_arrays",
       [] {
         std::string jobs = "[";
         for (int i = 0; i < 50000; ++i) {
           jobs += (i ? "," : "") + std::string(R"({"jobSign":"j)") + std::to_string(i) +
                   R"(","name":"n","status":"RUNNING"})";
         }
         jobs += "]";
         std::string stages = "[" + StageJson("0", "big", "RUNNING", jobs);
         for (int i = 1; i < 20000; ++i) {
           stages += "," + StageJson(std::to_string(i), "s" + std::to_string(i), "SUCCESS");
         }
         stages += "]";
         std::string sources;
         for (int i = 0; i < 10000; ++i) {
           sources += (i ? "," : "") + std::string(R"({"name":"src)") + std::to_string(i) +
                      R"(","type":"Codeup"})";
         }
         return RunWith(R"("status":"RUNNING","sources":[)" + sources + "]", stages);
       },
       false,
       [](const std::string& t, const std::string&) {
         // Bounded by the decoder's caps (200 stages, 200 jobs a stage, 20 sources).
         EXPECT_GT(CountOf(t, "yunxiao_flow_latest_run_stage_status", {{"pipeline_id", kBad}}), 0u);
         EXPECT_LE(CountOf(t, "yunxiao_flow_latest_run_stage_status", {{"pipeline_id", kBad}}),
                   200u);
         EXPECT_GT(CountOf(t, "yunxiao_flow_latest_run_job_status", {{"pipeline_id", kBad}}), 0u);
         EXPECT_LE(CountOf(t, "yunxiao_flow_latest_run_job_status", {{"pipeline_id", kBad}}), 200u);
         EXPECT_GT(CountOf(t, "yunxiao_flow_pipeline_source_info", {{"pipeline_id", kBad}}), 0u);
         EXPECT_LE(CountOf(t, "yunxiao_flow_pipeline_source_info", {{"pipeline_id", kBad}}), 20u);
         EXPECT_LT(t.size(), 2u * 1024 * 1024);
       }});

  c.push_back({"deep_nesting_inside_an_unknown_member",
               [] { return RunWith(R"("status":"SUCCESS","extra":)" + Deep(100000)); }, false,
               [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "SUCCESS"}}),
                           1);
               }});

  c.push_back({"very_long_strings",
               [] {
                 std::string han;
                 for (int i = 0; i < 400000; ++i) han += "名";  // 1.2 MB, 3 bytes a character
                 std::string ascii(1 << 20, 'x');
                 return RunWith(R"("status":"SUCCESS","pipelineType":")" + ascii + "\"",
                                "[" + StageJson("1", han, "SUCCESS") + "]");
               },
               false,
               [](const std::string& t, const std::string&) {
                 for (const char* m :
                      {"yunxiao_flow_latest_run_stage_status", "yunxiao_flow_pipeline_info"}) {
                   ASSERT_GT(CountOf(t, m, {{"pipeline_id", kBad}}), 0u) << m;
                   for (const auto& l : Samples(t, m)) EXPECT_LT(l.size(), 1024u) << m;
                 }
               }});

  c.push_back(
      {"invalid_utf8_in_names",
       [] {
         return RunWith(
             R"("status":"SUCCESS")",
             "[" +
                 StageJson("1", "bad\xff\xfe bytes \xc0\xaf overlong \xed\xa0\x80", "SUCCESS",
                           "[{\"jobSign\":\"j\xf8\x88\x80\x80\x80\",\"name\":"
                           "\"cut \xe6\x9e\",\"status\":\"SUCCESS\"}]") +
                 "]");
       },
       false,
       [](const std::string& t, const std::string&) {
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_stage_status",
                         {Pid(kBad), "stage_name=\"bad\xEF\xBF\xBD\xEF\xBF\xBD bytes"}),
                   1);
         EXPECT_EQ(CountOf(t, "yunxiao_flow_latest_run_job_status", {{"pipeline_id", kBad}}), 1u);
       }});

  // Either outcome is fine; validity and honesty are checked for every case.
  c.push_back({"lone_surrogate_escape",
               [] { return RunWith(R"("status":"SUCCESS","pipelineType":"a\ud800b")"); }, false,
               nullptr});

  c.push_back(
      {"quotes_backslashes_newlines_chinese_in_names",
       [] {
         return RunWith(
             R"("status":"SUCCESS","sources":[{"name":"源 \"码\"","type":"Codeup",)"
             R"("data":{"repo":"https://user:pa55@codeup.aliyun.com/g/r.git?private_token=x#f",)"
             R"("branch":"feature/中文\\分支"}}])",
             "[" +
                 StageJson(R"(阶段\"0\")", R"(构建 \"引号\" \\ 反斜杠\n换行\t制表\r回车)",
                           "SUCCESS",
                           R"([{"jobSign":"sign\\\"\n","name":"任务\u0000空字节",)"
                           R"("status":"SUCCESS"}])") +
                 "]");
       },
       false,
       [](const std::string& t, const std::string&) {
         EXPECT_NE(t.find(R"(stage_name="构建 \"引号\" \\ 反斜杠\n换行)"), std::string::npos);
         EXPECT_NE(t.find(R"(stage_index="阶段\"0\"")"), std::string::npos);
         EXPECT_NE(t.find(R"(branch="feature/中文\\分支")"), std::string::npos);
         EXPECT_NE(t.find(R"(repo="https://codeup.aliyun.com/g/r.git")"), std::string::npos);
         EXPECT_EQ(t.find("pa55"), std::string::npos);
         EXPECT_EQ(t.find("private_token"), std::string::npos);
         EXPECT_EQ(CountOf(t, "yunxiao_flow_latest_run_job_status", {{"pipeline_id", kBad}}), 1u);
       }});

  c.push_back({"unknown_status_and_trigger_mode",
               literal(R"({"status":"Exploded","pipelineRunId":9,"triggerMode":42,)"
                       R"("createTime":1795000000000,"stages":[{"index":"1","name":"a",)"
                       R"("stageInfo":{"status":"ÜBERRASCHUNG","jobs":[{"jobSign":"j","name":"j",)"
                       R"("status":"PAUSED_BY_ALIENS"}]}}]})"),
               false, [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "EXPLODED"}}),
                           1);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_status",
                               {{"pipeline_id", kBad}, {"status", "SUCCESS"}}),
                           0);
                 EXPECT_EQ(SumOf(t, "yunxiao_flow_latest_run_status", {{"pipeline_id", kBad}}), 1);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_trigger_mode",
                               {{"pipeline_id", kBad}, {"trigger_mode", "unknown"}}),
                           1);
                 EXPECT_EQ(Get(t, "yunxiao_flow_latest_run_job_status",
                               {{"pipeline_id", kBad}, {"status", "PAUSED_BY_ALIENS"}}),
                           1);
               }});

  c.push_back({"duplicate_stage_indexes_and_job_signs",
               [] {
                 std::string jobs = R"([{"jobSign":"j1","name":"build","status":"SUCCESS"},)"
                                    R"({"jobSign":"j1","name":"build","status":"FAIL"}])";
                 return RunWith(R"("status":"SUCCESS")",
                                "[" + StageJson("1", "build", "SUCCESS", jobs) + "," +
                                    StageJson("1", "build", "FAIL", jobs) + "," +
                                    StageJson("1", "other name, same index", "SUCCESS") + "]");
               },
               false,
               [](const std::string& t, const std::string& log) {
                 size_t stages = 0, jobs = 0;
                 for (const auto& l : Samples(t, "yunxiao_flow_latest_run_stage_status")) {
                   stages += l.find("stage_name=\"build\"") != std::string::npos;
                 }
                 for (const auto& l : Samples(t, "yunxiao_flow_latest_run_job_status")) {
                   jobs += l.find("job_sign=\"j1\"") != std::string::npos;
                 }
                 EXPECT_EQ(stages, 1u);
                 EXPECT_EQ(jobs, 1u);
                 EXPECT_FALSE(LogLines(log, {"duplicate stage", LogId(kBad)}).empty()) << log;
               }});

  c.push_back({"duplicate_keys", literal(R"({"status":"FAIL","status":"SUCCESS"})"), false,
               [](const std::string& t, const std::string&) {
                 EXPECT_EQ(SumOf(t, "yunxiao_flow_latest_run_status", {{"pipeline_id", kBad}}), 1);
               }});
  return c;
}

class HostileBody : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileBody, ExporterStaysUpWithValidExpositionAndAnHonestOutcome) {
  const HostileCase& c = GetParam();
  Simulator sim({.pipelines = 2, .frozen = true});
  ASSERT_EQ(
      sim.Control("PUT", std::string("/-/sim/pipelines/") + kBad + "/latest", c.body()).status,
      200);
  Exporter exp(TwoPipelineConfig(sim.Endpoint()));
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();

  for (int scrape = 0; scrape < 2; ++scrape) {  // the second one decodes the body again
    SCOPED_TRACE("scrape " + std::to_string(scrape));
    std::string text = exp.Scrape();
    ASSERT_TRUE(exp.process().Running()) << exp.process().Stderr();
    EXPECT_EQ(CheckExposition(text), "");
    EXPECT_EQ(PromtoolProblems(text), "");
    // The neighbour is unaffected.
    EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kGood}}), 1);
    EXPECT_EQ(SumOf(text, "yunxiao_flow_latest_run_status", {{"pipeline_id", kGood}}), 1);
    const double decode_errors =
        Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"latest_pipeline_run\""});
    const double ok = Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}});
    const std::string log = exp.process().Stderr();
    if (c.decode_error) {
      EXPECT_EQ(ok, 0);
      EXPECT_GE(decode_errors, scrape + 1);
      EXPECT_EQ(CountOf(text, "yunxiao_flow_latest_run_status", {{"pipeline_id", kBad}}), 0u);
      EXPECT_FALSE(LogLines(log, {"cannot decode the latest run", LogId(kBad)}).empty()) << log;
    } else if (c.check) {
      EXPECT_EQ(ok, 1) << log;
      EXPECT_TRUE(std::isnan(decode_errors) || decode_errors == 0);
      c.check(text, log);
    } else {
      // Either outcome, but an honest one: a failure is a counted decode error.
      EXPECT_TRUE(ok == 1 || (ok == 0 && decode_errors >= 1)) << ok << " " << decode_errors;
    }
  }
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);
  EXPECT_EQ(exp.process().Stop(SIGTERM, 15s), 0) << exp.process().Stderr();
}

INSTANTIATE_TEST_SUITE_P(Bodies, HostileBody, ::testing::ValuesIn(HostileCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace yfe::testing
