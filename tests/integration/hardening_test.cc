// Hardening of the real exporter binary (issue 4): hostile API bodies, upstream faults,
// secrets, abuse of its HTTP surface, reload and shutdown. Every test runs the real
// exporter (and usually the real simulator) over real sockets on 127.0.0.1. Assertions
// are on outcomes; the few time bounds are generous and only catch hangs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/exposition_check.h"
#include "support/harness.h"
#include "support/raw_http.h"

// Sanitizer builds keep freed memory in quarantine and shadow: RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define YFE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define YFE_SANITIZED 1
#endif
#endif
#ifndef YFE_SANITIZED
#define YFE_SANITIZED 0
#endif

namespace yfe::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kFrozen = "--clock=frozen:1795000000";
constexpr const char* kBad = "1000001";   // the pipeline that gets the hostile input
constexpr const char* kGood = "1000002";  // a healthy neighbour that must keep working

std::string Pid(const std::string& id) { return "pipeline_id=\"" + id + "\""; }
std::string LogId(const std::string& id) { return "pipeline_id=" + id; }

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Region-edition config for the two pipelines, names configured (no GetPipeline calls),
// every scrape fetching afresh and no retries, so each case is one request per pipeline.
std::string TwoPipelineConfig(const std::string& endpoint, const std::string& extra_api = "",
                              const std::string& extra_collect = "") {
  return "api:\n  endpoint: " + endpoint + "\n  edition: region\n  max_retries: 0\n" + extra_api +
         "pipelines:\n  - id: \"" + kBad + "\"\n    name: hostile\n  - id: \"" + kGood +
         "\"\n    name: healthy\ncollect:\n  cache_ttl: 0s\n" + extra_collect;
}

// Lines of a log that contain every fragment.
std::vector<std::string> LogLines(const std::string& log, const std::vector<std::string>& all) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    bool ok = true;
    for (const auto& f : all) ok &= line.find(f) != std::string::npos;
    if (ok) out.push_back(line);
  }
  return out;
}

std::string Tail(const std::string& s, size_t n = 4000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

long RssKb(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  std::smatch m;
  if (!std::regex_search(status, m, std::regex(R"(VmRSS:\s+(\d+) kB)"))) return -1;
  return std::stol(m[1]);
}

// ---- raw sockets, for requests no well-behaved client would send ----

// Sends raw bytes as one request; returns the status code (0: no response). (No half
// close: httplib drops a request whose client has shut its sending side.)
int RawRequest(int port, const std::string& request, std::string* response = nullptr) {
  int fd = Connect(port);
  if (fd < 0) return -1;
  SendAll(fd, request);  // the server may answer and close before reading everything
  std::string r = ReadResponse(fd, 20s);
  close(fd);
  if (response) *response = r;
  return StatusOf(r);
}

// =====================================================================================
// 1. Hostile API bodies through the whole binary
// =====================================================================================

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

size_t CountFor(const std::string& text, const std::string& metric, const std::string& id) {
  size_t n = 0;
  for (const auto& l : Samples(text, metric)) n += l.find(Pid(id)) != std::string::npos;
  return n;
}

std::vector<HostileCase> HostileCases() {
  std::vector<HostileCase> c;
  auto seed = [] { return Fixture("api/seed_latest_run.json"); };
  auto literal = [](std::string s) { return [s] { return s; }; };
  c.push_back({"truncated_json", [seed] { return seed().substr(0, seed().size() / 2); }, true});
  c.push_back({"truncated_after_one_byte", literal("{"), true});
  // An existing pipeline's empty or null latest run means "no run yet" (issue 9).
  auto no_run = [](const std::string& t, const std::string& log) {
    EXPECT_EQ(CountFor(t, "yunxiao_flow_latest_run_status", kBad), 0u);
    EXPECT_EQ(CountFor(t, "yunxiao_flow_pipeline_info", kBad), 1u);
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
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"SUCCESS\""}),
                   1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_trigger_mode",
                         {Pid(kBad), "trigger_mode=\"unknown\""}),
                   1);
         EXPECT_TRUE(std::isnan(Value(t, "yunxiao_flow_latest_run_id", {Pid(kBad)})));
         EXPECT_TRUE(
             std::isnan(Value(t, "yunxiao_flow_latest_run_start_timestamp_seconds", {Pid(kBad)})));
       }});

  c.push_back(
      {"wrong_types",
       literal(R"({"status":"running","pipelineRunId":"77","triggerMode":"3",)"
               R"("createTime":"1795000000000","updateTime":1795000100000.9,)"
               R"("pipelineType":12,"sources":"not a list","stages":{"not":"a list"}})"),
       false, [](const std::string& t, const std::string&) {
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"RUNNING\""}),
                   1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_id", {Pid(kBad)}), 77);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_trigger_mode",
                         {Pid(kBad), "trigger_mode=\"commit\""}),
                   1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_start_timestamp_seconds", {Pid(kBad)}),
                   1795000000);
         EXPECT_EQ(Value(t, "yunxiao_flow_pipeline_info", {Pid(kBad), "pipeline_type=\"12\""}), 1);
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
                 EXPECT_EQ(
                     Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"SUCCESS\""}),
                     1);
                 EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_stage_status",
                                 {Pid(kBad), "stage_index=\"3\"", "status=\"SUCCESS\""}),
                           1);
               }});

  c.push_back({"negative_float_and_absurd_times",
               literal(R"({"status":"SUCCESS","pipelineRunId":1e300,"createTime":-5,)"
                       R"("updateTime":99999999999999999999,"stages":[{"index":"1","name":"a",)"
                       R"("stageInfo":{"status":"SUCCESS","startTime":1.5e308,"endTime":-1e308,)"
                       R"("jobs":[{"jobSign":"j","name":"j","status":"FAIL",)"
                       R"("startTime":9223372036854775807,"endTime":-9223372036854775808}]}}]})"),
               false, [](const std::string& t, const std::string&) {
                 EXPECT_EQ(
                     Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"SUCCESS\""}),
                     1);
                 for (const char* m : {"yunxiao_flow_latest_run_id",
                                       "yunxiao_flow_latest_run_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_end_timestamp_seconds",
                                       "yunxiao_flow_latest_run_duration_seconds",
                                       "yunxiao_flow_latest_run_stage_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_stage_duration_seconds",
                                       "yunxiao_flow_latest_run_job_start_timestamp_seconds",
                                       "yunxiao_flow_latest_run_job_duration_seconds"}) {
                   EXPECT_TRUE(std::isnan(Value(t, m, {Pid(kBad)}))) << m;
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
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"FAIL\""}), 1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_stage_start_timestamp_seconds", {Pid(kBad)}),
                   1795000600);
         for (const char* m : {"yunxiao_flow_latest_run_duration_seconds",
                               "yunxiao_flow_latest_run_end_timestamp_seconds",
                               "yunxiao_flow_latest_run_stage_duration_seconds",
                               "yunxiao_flow_latest_run_job_duration_seconds"}) {
           EXPECT_TRUE(std::isnan(Value(t, m, {Pid(kBad)}))) << m;
         }
       }});

  c.push_back({"huge_arrays",
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
                 EXPECT_GT(CountFor(t, "yunxiao_flow_latest_run_stage_status", kBad), 0u);
                 EXPECT_LE(CountFor(t, "yunxiao_flow_latest_run_stage_status", kBad), 200u);
                 EXPECT_GT(CountFor(t, "yunxiao_flow_latest_run_job_status", kBad), 0u);
                 EXPECT_LE(CountFor(t, "yunxiao_flow_latest_run_job_status", kBad), 200u);
                 EXPECT_GT(CountFor(t, "yunxiao_flow_pipeline_source_info", kBad), 0u);
                 EXPECT_LE(CountFor(t, "yunxiao_flow_pipeline_source_info", kBad), 20u);
                 EXPECT_LT(t.size(), 2u * 1024 * 1024);
               }});

  c.push_back({"deep_nesting_inside_an_unknown_member",
               [] { return RunWith(R"("status":"SUCCESS","extra":)" + Deep(100000)); }, false,
               [](const std::string& t, const std::string&) {
                 EXPECT_EQ(
                     Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"SUCCESS\""}),
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
                   ASSERT_GT(CountFor(t, m, kBad), 0u) << m;
                   for (const auto& l : Samples(t, m)) EXPECT_LT(l.size(), 1024u) << m;
                 }
               }});

  c.push_back({"invalid_utf8_in_names",
               [] {
                 return RunWith(
                     R"("status":"SUCCESS")",
                     "[" +
                         StageJson("1", "bad\xff\xfe bytes \xc0\xaf overlong \xed\xa0\x80",
                                   "SUCCESS",
                                   "[{\"jobSign\":\"j\xf8\x88\x80\x80\x80\",\"name\":"
                                   "\"cut \xe6\x9e\",\"status\":\"SUCCESS\"}]") +
                         "]");
               },
               false,
               [](const std::string& t, const std::string&) {
                 EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_stage_status",
                                 {Pid(kBad), "stage_name=\"bad\xEF\xBF\xBD\xEF\xBF\xBD bytes"}),
                           1);
                 EXPECT_EQ(CountFor(t, "yunxiao_flow_latest_run_job_status", kBad), 1u);
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
         EXPECT_EQ(CountFor(t, "yunxiao_flow_latest_run_job_status", kBad), 1u);
       }});

  c.push_back(
      {"unknown_status_and_trigger_mode",
       literal(R"({"status":"Exploded","pipelineRunId":9,"triggerMode":42,)"
               R"("createTime":1795000000000,"stages":[{"index":"1","name":"a",)"
               R"("stageInfo":{"status":"ÜBERRASCHUNG","jobs":[{"jobSign":"j","name":"j",)"
               R"("status":"PAUSED_BY_ALIENS"}]}}]})"),
       false, [](const std::string& t, const std::string&) {
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"EXPLODED\""}),
                   1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_status", {Pid(kBad), "status=\"SUCCESS\""}),
                   0);
         EXPECT_EQ(Sum(t, "yunxiao_flow_latest_run_status", {Pid(kBad)}), 1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_trigger_mode",
                         {Pid(kBad), "trigger_mode=\"unknown\""}),
                   1);
         EXPECT_EQ(Value(t, "yunxiao_flow_latest_run_job_status",
                         {Pid(kBad), "status=\"PAUSED_BY_ALIENS\""}),
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
                 EXPECT_EQ(Sum(t, "yunxiao_flow_latest_run_status", {Pid(kBad)}), 1);
               }});
  return c;
}

class HostileBody : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileBody, ExporterStaysUpWithValidExpositionAndAnHonestOutcome) {
  const HostileCase& c = GetParam();
  Simulator sim({"--pipelines=2", kFrozen});
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
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kGood)}), 1);
    EXPECT_EQ(Sum(text, "yunxiao_flow_latest_run_status", {Pid(kGood)}), 1);
    const double decode_errors =
        Value(text, "yunxiao_flow_api_decode_errors_total", {"endpoint=\"latest_pipeline_run\""});
    const double ok = Value(text, "yunxiao_flow_fetch_success", {Pid(kBad)});
    const std::string log = exp.process().Stderr();
    if (c.decode_error) {
      EXPECT_EQ(ok, 0);
      EXPECT_GE(decode_errors, scrape + 1);
      EXPECT_EQ(CountFor(text, "yunxiao_flow_latest_run_status", kBad), 0u);
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

// =====================================================================================
// 2. Upstream faults
// =====================================================================================

TEST(UpstreamFault, DnsFailureIsATransportErrorAndTheExporterKeepsServing) {
  Exporter exp(
      "api:\n  endpoint: http://nonexistent.invalid\n  edition: region\n  max_retries: 0\n"
      "  timeout: 3s\npipelines:\n  - id: \"1\"\n    name: p\ncollect:\n  cache_ttl: 0s\n");
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"error\""}),
            1);
  EXPECT_FALSE(LogLines(exp.process().Stderr(), {"fetch failed", "pipeline_id=1", "esolv"}).empty())
      << exp.process().Stderr();
  EXPECT_EQ(PromtoolProblems(text), "");
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);
}

// A body fault on every request: the fetch fails as a transport error, then recovers.
void ExpectTransportFaultThenRecovery(const std::string& fault, const std::string& extra_api,
                                      const std::string& log_fragment) {
  Simulator sim({"--pipelines=2", kFrozen});
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", fault).status, 200);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), extra_api, "  scrape_deadline: 8s\n"), {},
               {{"YUNXIAO_TOKEN", kSimToken}}, /*warm=*/false);
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kBad)}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kGood)}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"error\""}),
            2);
  EXPECT_TRUE(std::isnan(Value(text, "yunxiao_flow_api_requests_total",
                               {"endpoint=\"latest_pipeline_run\"", "code=\"200\""})))
      << "a cut or late body is not a success";
  EXPECT_TRUE(exp.process().WaitForOutput(log_fragment)) << exp.process().Stderr();
  EXPECT_FALSE(
      LogLines(exp.process().Stderr(), {"fetch failed", LogId(kBad), log_fragment}).empty())
      << exp.process().Stderr();
  EXPECT_EQ(PromtoolProblems(text), "");
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);

  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"reset":0,"slowBody":0})").status, 200);
  EXPECT_TRUE(Eventually(
      [&] { return Value(exp.Scrape(), "yunxiao_flow_fetch_success", {Pid(kBad)}) == 1; }, 30s,
      200ms));
  EXPECT_EQ(Value(exp.Scrape(), "yunxiao_flow_up"), 1);
}

TEST(UpstreamFault, ResetMidBodyIsATransportError) {
  ExpectTransportFaultThenRecovery(R"({"reset":1})", "", "partial file");
}

TEST(UpstreamFault, SlowBodyHitsTheRequestTimeout) {
  // Eight chunks 0.5 s apart: 3.5 s for a body, against a 1 s request timeout.
  ExpectTransportFaultThenRecovery(R"({"slowBody":1})", "  timeout: 1s\n", "imeout");
}

TEST(UpstreamFault, HttpErrorsAreCountedAndLoggedWithErrorCodeAndRequestId) {
  Simulator sim({"--pipelines=2", kFrozen});
  struct Body {
    std::string name, text;
  };
  const std::vector<Body> bodies = {
      {"json", R"({"errorCode":"E_CODE_XYZ","errorMessage":"explained here",)"
               R"("requestId":"req-4f2a-9b1c"})"},
      {"empty", ""},
      {"html", "<html><body><h1>Error</h1></body></html>"}};
  const std::map<int, std::string> hints = {{401, "token was rejected"},
                                            {403, "lacks permission"},
                                            {404, "check the pipeline id"},
                                            {429, "rate limited"},
                                            {500, "HTTP 500"}};
  for (const auto& [status, hint] : hints) {
    // A 404 from an existing pipeline now means "no run yet" (issue 9; see
    // ExporterTest.PipelinesThatNeverRanKeepTheirInfoAndFetchSuccess).
    if (status == 404) continue;
    for (const auto& body : bodies) {
      SCOPED_TRACE(std::to_string(status) + " with " + body.name + " body");
      ASSERT_EQ(sim.Control("PUT",
                            std::string("/-/sim/pipelines/") + kBad +
                                "/latest?status=" + std::to_string(status),
                            body.text)
                    .status,
                200);
      Exporter exp(TwoPipelineConfig(sim.Endpoint()));
      ASSERT_TRUE(exp.started()) << exp.process().Stderr();
      std::string text = exp.Scrape();
      const std::string code = "code=\"" + std::to_string(status) + "\"";
      EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kBad)}), 0);
      EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kGood)}), 1);
      EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                      {"endpoint=\"latest_pipeline_run\"", code}),
                1);
      EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                      {"endpoint=\"latest_pipeline_run\"", "code=\"200\""}),
                1);
      if (status == 429) {
        EXPECT_GE(Value(text, "yunxiao_flow_api_rate_limited_total"), 1);
      }
      // A missing pipeline does not make the API "down".
      if (status == 404) {
        EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
      }
      EXPECT_EQ(PromtoolProblems(text), "");
      std::vector<std::string> want = {"fetch failed", LogId(kBad),
                                       "HTTP " + std::to_string(status), hint};
      if (body.name == "json") {
        want.push_back("E_CODE_XYZ");
        want.push_back("req-4f2a-9b1c");
        want.push_back("explained here");
      }
      EXPECT_FALSE(LogLines(exp.process().Stderr(), want).empty()) << exp.process().Stderr();
      EXPECT_EQ(exp.Get("/-/healthy").status, 200);
      EXPECT_TRUE(exp.process().Running());
    }
  }
}

// =====================================================================================
// 3. Secrets
// =====================================================================================

// The names of the channels holding the secret ("" if none).
std::string FindSecret(const std::map<std::string, std::string>& channels,
                       const std::string& secret) {
  std::string found;
  for (const auto& [name, text] : channels) {
    if (text.find(secret) != std::string::npos) found += name + "; ";
  }
  return found;
}

TEST(Secrets, TokenNeverAppearsInAnyOutputChannel) {
  const std::string token = "pt-SeCrEt-9f8e7d6c5b4a3210zyx";
  Simulator sim({"--pipelines=2", kFrozen, "--token=" + token});
  std::map<std::string, std::string> channels;
  const std::string config = TwoPipelineConfig(sim.Endpoint());
  {
    Exporter exp(config, {"--log.level=debug", "--web.enable-lifecycle"},
                 {{"YUNXIAO_TOKEN", token}});
    ASSERT_TRUE(exp.started()) << exp.process().Stderr();
    auto keep = [&](const std::string& name, const HttpResult& r) {
      std::string all = std::to_string(r.status) + "\n";
      for (const auto& [k, v] : r.headers) all += k + ": " + v + "\n";
      channels[name] = all + r.body;
      return r;
    };
    std::string text = keep("/metrics", exp.Get("/metrics")).body;
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {Pid(kBad)}), 1)
        << "the token works\n"
        << exp.process().Stderr() << sim.process().Stderr();
    EXPECT_EQ(keep("/", exp.Get("/")).status, 200);
    EXPECT_EQ(keep("/-/healthy", exp.Get("/-/healthy")).status, 200);
    EXPECT_EQ(keep("/-/ready", exp.Get("/-/ready")).status, 200);
    EXPECT_EQ(keep("404", exp.Get("/no/such/page?token=x")).status, 404);
    EXPECT_EQ(keep("reload", HttpPost("127.0.0.1", exp.port(), "/-/reload", "")).status, 200);
    exp.dir().Write("config.yaml", config + "unknown_section: 1\n");
    EXPECT_EQ(keep("bad reload", HttpPost("127.0.0.1", exp.port(), "/-/reload", "")).status, 500);
    exp.dir().Write("config.yaml", config);
    // The API refuses the token.
    ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"rejectToken":true})").status, 200);
    // (A scrape may first join a fetch the reload started before the fault.)
    EXPECT_TRUE(Eventually(
        [&] {
          text = keep("/metrics after 401", exp.Get("/metrics")).body;
          return Value(text, "yunxiao_flow_api_requests_total", {"code=\"401\""}) >= 1;
        },
        20s, 100ms));
    EXPECT_EQ(exp.process().Stop(SIGTERM, 15s), 0);
    channels["exporter stdout"] = exp.process().Stdout();
    channels["exporter stderr"] = exp.process().Stderr();
    // The channels are real: debug logs every request, and the 401 was logged.
    EXPECT_NE(channels["exporter stderr"].find("msg=\"api request\""), std::string::npos);
    EXPECT_NE(channels["exporter stderr"].find("HTTP 401"), std::string::npos);
    ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"rejectToken":false})").status, 200);
  }
  {
    // The token in the config itself (accepted with a warning), JSON logs.
    TempDir dir;
    Process exp(
        {YFE_EXPORTER_BIN,
         "--config.file=" +
             dir.Write("c.yaml", TwoPipelineConfig(sim.Endpoint(), "  token: " + token + "\n")),
         "--web.listen-address=127.0.0.1:0", "--log.level=debug", "--log.format=json"});
    const int port = exp.WaitForPort("\"address\":\"127.0.0.1:");
    ASSERT_GT(port, 0) << exp.Stderr();
    auto r = HttpGet("127.0.0.1", port, "/metrics");
    channels["literal token /metrics"] = r.body;
    EXPECT_EQ(Value(r.body, "yunxiao_flow_fetch_success", {Pid(kBad)}), 1) << exp.Stderr();
    EXPECT_EQ(exp.Stop(SIGTERM, 15s), 0);
    channels["literal token logs"] = exp.Stderr() + exp.Stdout();
    EXPECT_NE(channels["literal token logs"].find("api.token"), std::string::npos);
  }
  TempDir dir;
  const std::string good = dir.Write("good.yaml", config);
  const std::string broken =
      dir.Write("broken.yaml", "api:\n  endpoint: " + sim.Endpoint() + "\n  timeout: forever\n");
  const std::string literal =
      dir.Write("literal.yaml",
                TwoPipelineConfig(sim.Endpoint(), "  token: " + token + "\n  bogus_key: 1\n"));
  const std::string token_file = dir.Write("token", token + "\n");
  const std::string from_file = dir.Write(
      "file.yaml", "api:\n  endpoint: " + sim.Endpoint() + "\n  token_file: " + token_file +
                       "\n  max_retries: nope\npipelines: [\"1\"]\n");
  int n = 0;
  for (const auto& [file, want_rc] : std::vector<std::pair<std::string, int>>{
           {good, 0}, {broken, 1}, {literal, 1}, {from_file, 1}}) {
    Process check({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + file},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(check.Wait(15s), want_rc) << file << "\n" << check.Stdout() << check.Stderr();
    channels["config.check " + std::to_string(n++)] = check.Stdout() + check.Stderr();
  }
  // And starting with an invalid config.
  Process bad_start({YFE_EXPORTER_BIN, "--config.file=" + literal, "--log.level=debug",
                     "--web.listen-address=127.0.0.1:0"},
                    {{"YUNXIAO_TOKEN", token}});
  EXPECT_EQ(bad_start.Wait(15s), 1);
  channels["invalid config start"] = bad_start.Stdout() + bad_start.Stderr();

  EXPECT_EQ(FindSecret(channels, token), "") << "the token leaked";
  EXPECT_GE(channels.size(), 16u);
}

// A token pasted under the wrong key (token_file: pt-..., or into a number field) must not
// be echoed by config errors: not by --config.check, not in the start-up log, not in the
// body of POST /-/reload. The exporter knows the token from YUNXIAO_TOKEN before it reads
// the config. DISABLED: fails today (main.cc / config.cc echo the value; see the report of
// issue 4); enable once config errors are redacted.
TEST(Secrets, MisplacedTokenIsNeverEchoed) {
  const std::string token = "pt-MiSpLaCeD-4c3b2a1908f7e6d5";
  Simulator sim({"--pipelines=1", kFrozen, "--token=" + token});
  const std::string head = "api:\n  endpoint: " + sim.Endpoint() + "\n  edition: region\n";
  const std::vector<std::string> configs = {
      head + "  token_file: " + token + "\npipelines: [\"1000001\"]\n",
      head + "  max_retries: " + token + "\npipelines: [\"1000001\"]\n",
      head + "  timeout: " + token + "\npipelines: [\"1000001\"]\n"};
  std::map<std::string, std::string> channels;
  TempDir dir;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string file = dir.Write("c" + std::to_string(i) + ".yaml", configs[i]);
    Process check({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + file},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(check.Wait(15s), 1);
    channels["config.check " + std::to_string(i)] = check.Stdout() + check.Stderr();
    Process start({YFE_EXPORTER_BIN, "--config.file=" + file, "--web.listen-address=127.0.0.1:0"},
                  {{"YUNXIAO_TOKEN", token}});
    EXPECT_EQ(start.Wait(15s), 1);
    channels["start " + std::to_string(i)] = start.Stdout() + start.Stderr();
  }
  Exporter exp(head + "pipelines: [\"1000001\"]\n", {"--web.enable-lifecycle"},
               {{"YUNXIAO_TOKEN", token}});
  ASSERT_TRUE(exp.started());
  for (size_t i = 0; i < configs.size(); ++i) {
    exp.dir().Write("config.yaml", configs[i]);
    auto r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
    EXPECT_EQ(r.status, 500);
    channels["reload " + std::to_string(i)] = r.body;
  }
  exp.process().Stop(SIGTERM, 15s);
  channels["reload log"] = exp.process().Stderr();
  EXPECT_EQ(FindSecret(channels, token), "") << "the token leaked";
}

// Kubernetes mounts a secret as dir/token -> ..data/token, ..data -> ..<version>/ and
// rotates it by swapping the ..data symlink atomically.
class MountedSecret {
 public:
  explicit MountedSecret(const std::string& token) { Rotate(token); }
  std::string path() const { return dir_.path() + "/token"; }
  void Rotate(const std::string& token) {
    namespace fs = std::filesystem;
    const std::string version = "..v" + std::to_string(++version_);
    fs::create_directory(dir_.path() + "/" + version);
    dir_.Write(version + "/token", token + "\n");
    fs::create_directory_symlink(version, dir_.path() + "/..data_tmp");
    fs::rename(dir_.path() + "/..data_tmp", dir_.path() + "/..data");
    if (!fs::is_symlink(path())) fs::create_symlink("..data/token", path());
  }

 private:
  TempDir dir_;
  int version_ = 0;
};

TEST(Secrets, RotatedTokenFileIsUsedWithoutRestart) {
  const std::string old_token = "pt-old-token-1111aaaa";
  const std::string new_token = "pt-new-token-2222bbbb";
  const std::string revoked = "pt-revoked-3333cccc";
  Simulator sim({"--pipelines=2", kFrozen, "--token=" + new_token});
  MountedSecret secret(old_token);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), "  token_file: " + secret.path() + "\n"), {}, {});
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  const pid_t pid = exp.process().pid();
  std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total", {"code=\"401\""}), 1);

  secret.Rotate(new_token);
  EXPECT_TRUE(Eventually(
      [&] {
        text = exp.Scrape();
        return Sum(text, "yunxiao_flow_fetch_success") == 2;
      },
      20s, 250ms))
      << text;
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
  EXPECT_TRUE(exp.process().WaitForOutput("token file changed; using the new token"));
  EXPECT_TRUE(exp.process().Running());
  EXPECT_EQ(exp.process().pid(), pid);

  // A plain rewrite of the file is noticed too.
  std::ofstream(secret.path(), std::ios::trunc) << revoked << "\n";
  EXPECT_TRUE(
      Eventually([&] { return Sum(exp.Scrape(), "yunxiao_flow_fetch_success") == 0; }, 20s, 250ms));
  const std::string log = exp.process().Stderr();
  for (const auto& t : {old_token, new_token, revoked}) {
    EXPECT_EQ(log.find(t), std::string::npos) << t;
  }
}

// =====================================================================================
// 5. The exporter's HTTP surface under abuse
// =====================================================================================

class HttpAbuse : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<Simulator>(std::vector<std::string>{"--pipelines=3", kFrozen});
    exp_ = std::make_unique<Exporter>(sim_->CentralConfig());
    ASSERT_TRUE(exp_->started()) << exp_->process().Stderr();
  }
  // A scrape that must be answered; returns how long it took.
  double TimedScrape() {
    auto start = Clock::now();
    auto r = exp_->Get("/metrics");
    EXPECT_EQ(r.status, 200) << r.error << "\n" << Tail(exp_->process().Stderr());
    EXPECT_NE(r.body.find("yunxiao_flow_up 1"), std::string::npos);
    return Seconds(start);
  }
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<Exporter> exp_;
};

TEST_F(HttpAbuse, UnknownPathsAndMethodsAre4xx) {
  for (const std::string path :
       {"/nope", "/metrics/", "/METRICS", "/metrics.json", "/-/", "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd", "/-/healthy/x", "//metrics"}) {
    auto r = exp_->Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
  }
  for (const std::string method : {"DELETE", "PATCH", "OPTIONS", "FOO"}) {
    int status = RawRequest(exp_->port(),
                            method + " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_GE(status, 400) << method;
    EXPECT_LT(status, 500) << method;
  }
  EXPECT_EQ(
      RawRequest(exp_->port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
      404);
  EXPECT_LT(TimedScrape(), 10);
}

TEST_F(HttpAbuse, HugeUrlsHeadersAndMalformedRequestsAreRejectedWithoutHarm) {
  const int port = exp_->port();
  const std::string big(100 * 1024, 'a');
  int s = RawRequest(port, "GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_GE(s, 400);
  EXPECT_LT(s, 500);
  s = RawRequest(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
  EXPECT_GE(s, 400);
  EXPECT_LT(s, 500);
  // 100 KB in a thousand ordinary headers: rejected or answered, never a crash.
  std::string many = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 1000; ++i) {
    many += "X-H" + std::to_string(i) + ": " + big.substr(0, 100) + "\r\n";
  }
  s = RawRequest(port, many + "\r\n");
  EXPECT_TRUE(s == 200 || s == 431 || s == 400) << s;
  // Garbage and protocol abuse, all at once: some make the server wait for more bytes
  // until its read timeout.
  std::vector<std::string> garbage = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/9.9\r\n\r\n",
      "GET  HTTP/1.1\r\n\r\n",
      "\r\n\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nAuthorization: Basic " + std::string(5000, '=') + "\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n" + std::string(10, '\0') + "\r\n\r\n"};
  std::vector<std::future<std::pair<int, std::string>>> answers;
  for (const auto& req : garbage) {
    answers.push_back(std::async(std::launch::async, [port, req] {
      std::string response;
      int status = RawRequest(port, req, &response);
      return std::make_pair(status, response);
    }));
  }
  for (size_t i = 0; i < garbage.size(); ++i) {
    auto [status, response] = answers[i].get();
    EXPECT_TRUE(status == 0 || status == 200 || (status >= 400 && status < 500))
        << status << " for " << garbage[i].substr(0, 60) << "\n"
        << response.substr(0, 300);
  }
  ASSERT_TRUE(exp_->process().Running()) << exp_->process().Stderr();
  EXPECT_LT(TimedScrape(), 10);
}

// Overlapping byte ranges would make httplib build one copy of the body per range: an
// 8 KB request for a response a thousand times the size of /metrics. Ranges are ignored.
TEST_F(HttpAbuse, ManyRangesDoNotMultiplyTheResponse) {
  const size_t plain = exp_->Scrape().size();
  std::string ranges = "bytes=0-";
  for (int i = 0; i < 1500; ++i) ranges += ",0-";
  auto r = exp_->Get("/metrics", {{"Range", ranges}});
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.body.size(), 2 * plain + 4096);
  EXPECT_EQ(CheckExposition(r.body), "");
}

TEST_F(HttpAbuse, ScrapeIsAnsweredWhile200ConnectionsSitIdle) {
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect(exp_->port());
    ASSERT_GE(fd, 0) << i;
    idle.push_back(fd);
  }
  // Half of them also started a request and stalled.
  for (size_t i = 0; i < idle.size(); i += 2) SendAll(idle[i], "GET /metrics HTTP/1.1\r\nHo");
  std::this_thread::sleep_for(300ms);
  const double took = TimedScrape();
  RecordProperty("scrape_seconds", std::to_string(took));
  EXPECT_LT(took, 15) << "a scrape waited behind idle connections";
  for (int fd : idle) close(fd);
  EXPECT_TRUE(exp_->process().Running());
}

TEST_F(HttpAbuse, SlowTricklingClientsDoNotBlockScrapes) {
  // More tricklers than a fixed pool of workers would have had, each taking about 9 s for
  // its request (a byte every 150 ms, well within the server's per-read timeout).
  constexpr int kClients = 40;
  const std::string request = "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      int fd = Connect(exp_->port());
      if (fd < 0) return;
      for (char c : request) {
        if (!SendAll(fd, std::string_view(&c, 1))) break;
        std::this_thread::sleep_for(150ms);
      }
      if (StatusOf(ReadResponse(fd, 20s)) == 200) answered++;
      close(fd);
    });
  }
  std::this_thread::sleep_for(1s);
  // While they trickle, scrapes are answered (in milliseconds; 5 s only catches waiting
  // behind the tricklers).
  for (int i = 0; i < 3; ++i) EXPECT_LT(TimedScrape(), 5);
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients) << "slow but valid requests are still served";
  EXPECT_TRUE(exp_->process().Running());
}

TEST_F(HttpAbuse, MemoryDoesNotGrowOver2000Requests) {
  const pid_t pid = exp_->process().pid();
  httplib::Client keep_alive("127.0.0.1", exp_->port());
  keep_alive.set_keep_alive(true);
  auto batch = [&](int n) {
    for (int i = 0; i < n; ++i) {
      switch (i % 5) {
        case 0:
        case 1: {
          auto r = keep_alive.Get("/metrics");
          ASSERT_TRUE(r && r->status == 200);
          break;
        }
        case 2:
          ASSERT_EQ(exp_->Get("/-/healthy").status, 200);
          break;
        case 3:
          ASSERT_EQ(exp_->Get("/nope/" + std::to_string(i)).status, 404);
          break;
        default:
          ASSERT_EQ(RawRequest(exp_->port(),
                               "GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n"),
                    414);
          break;
      }
    }
  };
  batch(200);  // warm up: caches, threads, allocator arenas
  const long before = RssKb(pid);
  ASSERT_GT(before, 0);
  batch(2000);
  const long after = RssKb(pid);
  RecordProperty("rss_before_kb", static_cast<int>(before));
  RecordProperty("rss_after_kb", static_cast<int>(after));
  if (!YFE_SANITIZED) {
    EXPECT_LT(after - before, 20 * 1024) << "RSS " << before << " kB -> " << after << " kB";
  }
  EXPECT_TRUE(exp_->process().Running());
}

// =====================================================================================
// 6. Reload and lifecycle
// =====================================================================================

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<Simulator>(std::vector<std::string>{"--pipelines=3", kFrozen});
    ids_ = sim_->PipelineIds();
    ASSERT_EQ(ids_.size(), 3u);
  }
  std::string ConfigFor(const std::vector<std::string>& ids, const std::string& collect = "") {
    return sim_->Config(ids, "central", "", "collect:\n  cache_ttl: 0s\n" + collect);
  }
  static std::set<std::string> Watched(const std::string& text) {
    std::set<std::string> ids;
    std::regex re("pipeline_id=\"([^\"]+)\"");
    for (const auto& line : Samples(text, "yunxiao_flow_fetch_success")) {
      std::smatch m;
      if (std::regex_search(line, m, re)) ids.insert(m[1]);
    }
    return ids;
  }
  std::unique_ptr<Simulator> sim_;
  std::vector<std::string> ids_;
};

TEST_F(Lifecycle, SighupAppliesAValidConfigAndKeepsTheOldOnAnInvalidOne) {
  Exporter exp(ConfigFor({ids_[0]}));
  ASSERT_TRUE(exp.started());
  EXPECT_EQ(Watched(exp.Scrape()), (std::set<std::string>{ids_[0]}));

  exp.dir().Write("config.yaml", ConfigFor({ids_[0], ids_[1]}));
  exp.process().Signal(SIGHUP);
  EXPECT_TRUE(Eventually(
      [&] {
        return Watched(exp.Scrape()) == std::set<std::string>{ids_[0], ids_[1]};
      },
      20s, 200ms));

  exp.dir().Write("config.yaml", ConfigFor({ids_[2]}, "  max_stale: yesterday\n"));
  exp.process().Signal(SIGHUP);
  EXPECT_TRUE(exp.process().WaitForOutput("max_stale")) << exp.process().Stderr();
  EXPECT_FALSE(
      LogLines(exp.process().Stderr(), {"level=error", "invalid config", "max_stale"}).empty());
  std::string text = exp.Scrape();
  EXPECT_EQ(Watched(text), (std::set<std::string>{ids_[0], ids_[1]}));
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 2);
  EXPECT_TRUE(exp.process().Running());
}

TEST_F(Lifecycle, PostReloadAppliesOrRejectsWithTheReason) {
  Exporter exp(ConfigFor({ids_[0], ids_[1]}), {"--web.enable-lifecycle"});
  ASSERT_TRUE(exp.started());
  exp.dir().Write("config.yaml", ConfigFor({ids_[1], ids_[2]}));
  auto r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Eventually(
      [&] {
        return Watched(exp.Scrape()) == std::set<std::string>{ids_[1], ids_[2]};
      },
      20s, 200ms));

  for (const std::string& broken :
       {std::string("api: [1"), ConfigFor({ids_[0]}) + "surprise: true\n",
        ConfigFor({ids_[0], ids_[0]}), std::string("")}) {
    SCOPED_TRACE(broken);
    exp.dir().Write("config.yaml", broken);
    r = HttpPost("127.0.0.1", exp.port(), "/-/reload", "");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("reload failed"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("config.yaml"), std::string::npos) << r.body;  // names the file
    std::string text = exp.Scrape();
    EXPECT_EQ(Watched(text), (std::set<std::string>{ids_[1], ids_[2]}));
    EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 2);
  }
  EXPECT_EQ(exp.Get("/-/reload").status, 405) << "GET does not reload (as in Prometheus)";

  // `curl -X POST` sends neither Content-Length nor a body; a body is read and dropped.
  exp.dir().Write("config.yaml", ConfigFor({ids_[0]}));
  auto start = Clock::now();
  std::string response;
  EXPECT_EQ(RawRequest(exp.port(), "POST /-/reload HTTP/1.1\r\nHost: x\r\n\r\n", &response), 200)
      << response;
  EXPECT_LT(Seconds(start), 5) << "the reload waited for a body that was never announced";
  // An announced body is consumed: the next request on the connection is understood.
  int fd = Connect(exp.port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"x\": true}");
  EXPECT_EQ(StatusOf(ReadResponse(fd, 10s)), 200);
  SendAll(fd, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string next = ReadResponse(fd, 10s);
  EXPECT_EQ(StatusOf(next), 200) << next;
  EXPECT_NE(next.find("Healthy"), std::string::npos) << next;
  close(fd);
  // A body larger than the server accepts.
  std::string big_put =
      "PUT /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(1 << 20) +
      "\r\n\r\n" + std::string(1 << 20, 'x');
  EXPECT_EQ(RawRequest(exp.port(), big_put), 413);
  EXPECT_EQ(Watched(exp.Scrape()), (std::set<std::string>{ids_[0]}));
}

// A scrape that arrives while a reload swaps the configuration is answered in full by the
// old or the new configuration, never with an empty body.
TEST_F(Lifecycle, ScrapesDuringReloadsAreAlwaysComplete) {
  Exporter exp(ConfigFor(ids_), {"--web.enable-lifecycle"});
  ASSERT_TRUE(exp.started());
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, incomplete{0};
  std::string example;
  std::thread scraper([&] {
    while (!stop) {
      auto r = exp.Get("/metrics");
      scrapes++;
      if (r.status != 200 || r.body.find("yunxiao_flow_up ") == std::string::npos) {
        if (incomplete++ == 0) example = std::to_string(r.status) + " [" + r.body + "]";
      }
    }
  });
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(HttpPost("127.0.0.1", exp.port(), "/-/reload", "").status, 200);
  }
  stop = true;
  scraper.join();
  EXPECT_GT(scrapes.load(), 0);
  EXPECT_EQ(incomplete.load(), 0) << "of " << scrapes << ", e.g. " << example;
}

TEST_F(Lifecycle, SigtermWhileTheUpstreamIsSlowExitsPromptly) {
  ASSERT_EQ(sim_->Control("POST", "/-/sim/faults", R"({"latencyMs":30000})").status, 200);
  Exporter exp(ConfigFor(ids_), {}, {{"YUNXIAO_TOKEN", kSimToken}}, /*warm=*/false);
  ASSERT_TRUE(exp.started());
  auto scrape =
      std::async(std::launch::async, [&] { return HttpGet("127.0.0.1", exp.port(), "/metrics"); });
  std::this_thread::sleep_for(1s);  // requests are in flight upstream
  // Idle keep-alive connections must not hold the shutdown either.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(Connect(exp.port()));
  auto start = Clock::now();
  exp.process().Signal(SIGTERM);
  const int rc = exp.process().Wait(30s);
  const double took = Seconds(start);
  EXPECT_EQ(rc, 0) << exp.process().Stderr();
  EXPECT_LT(took, 15) << "exit took " << took << " s";
  RecordProperty("sigterm_exit_seconds", std::to_string(took));
  EXPECT_TRUE(exp.process().WaitForOutput("msg=stopped"));
  scrape.wait();
  for (int fd : idle) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace
}  // namespace yfe::testing
