// The real exporter binary against the real simulator over HTTP on 127.0.0.1.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/harness.h"

namespace yfe::testing {
namespace {

class ExporterTest : public ::testing::Test {
 protected:
  static std::set<std::string> PipelinesIn(const std::string& text, const std::string& metric) {
    return PipelineIdsIn(text, metric);
  }
};

TEST_F(ExporterTest, ServesLatestRunStageAndJobSeriesForEveryPipeline) {
  Simulator sim({.pipelines = 6, .frozen = true});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 6u);
  Exporter exp(sim.Config());
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  std::string text = exp.Scrape();
  std::set<std::string> want(ids.begin(), ids.end());
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_status"), want);
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_stage_status"), want);
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_job_status"), want);
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_id"), want);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
  for (const auto& id : ids) {
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"" + id + "\""}), 1);
    // Exactly one status is current per pipeline.
    double sum = 0;
    for (const auto& l : Samples(text, "yunxiao_flow_latest_run_status")) {
      if (l.find("pipeline_id=\"" + id + "\"") != std::string::npos) {
        sum += std::stod(l.substr(l.rfind(' ') + 1));
      }
    }
    EXPECT_EQ(sum, 1) << id;
  }
  // Names come from GetPipeline when not configured.
  EXPECT_EQ(text.find("pipeline_name=\"" + ids[0] + "\""), std::string::npos);
  EXPECT_EQ(PromtoolProblems(text), "");
  // Secrets of the simulated runs never leak.
  EXPECT_EQ(text.find("SIM-SECRET"), std::string::npos);
  EXPECT_EQ(text.find(kSimToken), std::string::npos);
}

TEST_F(ExporterTest, LatestRunMatchesTheSimulatorsTruth) {
  Simulator sim({.pipelines = 4, .frozen = true});
  Exporter exp(sim.Config());
  std::string text = exp.Scrape();
  auto truth = sim.Control("GET", "/-/sim/pipelines").body;
  std::regex item(
      "\\{[^{}]*\"id\":\"?(\\d+)\"?[^{}]*\"latestRunId\":(\\d+)[^{}]*\"status\":\"([A-Z_]+)\"");
  int checked = 0;
  for (auto it = std::sregex_iterator(truth.begin(), truth.end(), item);
       it != std::sregex_iterator(); ++it) {
    std::string id = (*it)[1], run = (*it)[2], status = (*it)[3];
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id", {"pipeline_id=\"" + id + "\""}),
              std::stod(run));
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status",
                    {"pipeline_id=\"" + id + "\"", "status=\"" + status + "\""}),
              1);
    ++checked;
  }
  EXPECT_EQ(checked, 4) << truth;
}

TEST_F(ExporterTest, EveryPathFormWorks) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  for (const auto& [edition, prefix] : std::vector<std::pair<std::string, std::string>>{
           {"central", ""},
           {"region", ""},
           {"region", "/oapi/v1/flow/organizations"},
           {"region", "/oapi/v1/flow/organizations/sim-org/"}}) {
    ConfigOptions config{.ids = ids, .edition = edition};
    if (!prefix.empty()) config.api = {{"path_prefix", prefix}};
    Exporter exp(sim.Config(config));
    std::string text = exp.Scrape();
    EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_status").size(), 2u)
        << edition << " " << prefix << "\n"
        << exp.process().Stderr();
  }
}

TEST_F(ExporterTest, WrongOrganizationIsAClearFailureNotACrash) {
  Simulator sim({.pipelines = 2, .frozen = true});
  std::string config = sim.Config();
  config = std::regex_replace(config, std::regex("organization_id: sim-org"),
                              "organization_id: other-org");
  Exporter exp(config);
  std::string text = exp.Scrape();
  EXPECT_TRUE(Samples(text, "yunxiao_flow_latest_run_status").empty());
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  EXPECT_TRUE(exp.process().WaitForOutput("HTTP 404"));
  EXPECT_EQ(PromtoolProblems(text), "");
}

TEST_F(ExporterTest, RejectedTokenGivesUpZeroAndSaysSo) {
  Simulator sim({.pipelines = 2, .frozen = true});
  Exporter exp(sim.Config(), {.token = "pt-wrong-token-123456"});
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
  // The start-up fetch of 2 pipelines; the scrape joins it or waits out the failure
  // backoff (one cache_ttl) instead of asking again.
  EXPECT_EQ(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"401\""}),
            2);
  EXPECT_TRUE(exp.process().WaitForOutput("token was rejected"));
  EXPECT_EQ(exp.process().Stderr().find("pt-wrong-token-123456"), std::string::npos);
}

TEST_F(ExporterTest, OneFailingPipelineDoesNotFailTheScrape) {
  Simulator sim({.pipelines = 3, .frozen = true});
  auto ids = sim.PipelineIds();
  ids.push_back("9999999");
  Exporter exp(sim.Config({.ids = ids}));
  std::string text = exp.Scrape();
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_status").size(), 3u);
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"9999999\""}), 0);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
}

TEST_F(ExporterTest, OnePipelinesServerErrorAmongHealthyOnesKeepsUpAtOne) {
  Simulator sim({.pipelines = 3, .frozen = true});
  auto ids = sim.PipelineIds();
  // One pipeline answers 500 every time; its retries come after the healthy answers.
  ASSERT_EQ(sim.Control("PUT", "/-/sim/pipelines/" + ids[1] + "/latest?status=500",
                        R"({"errorCode":"InternalServerError","errorMessage":"boom"})")
                .status,
            200);
  Exporter exp(sim.Config());
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"" + ids[1] + "\""}), 0);
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 2);
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
  EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                  {"endpoint=\"latest_pipeline_run\"", "code=\"500\""}),
            3);
}

TEST_F(ExporterTest, RefusedPipelineAndGroupPermissionsNeverTurnUpOff) {
  // The token may read runs but not pipelines or groups: names fall back to the id, the
  // refusals are counted, and the API stays usable for the runs.
  Simulator sim({.pipelines = 3, .frozen = true});
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/faults", R"({"denyPermissions":["pipeline","group"]})").status,
      200);
  Exporter exp(sim.Config());
  for (int i = 0; i < 2; ++i) {
    std::string text = exp.Scrape();
    EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
    EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), 3);
    EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total",
                    {"endpoint=\"get_pipeline\"", "code=\"403\""}),
              1);
  }
  // Refusing the run endpoints too is what turns it off.
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"denyPermissions":["run"]})").status, 200);
  Exporter denied(sim.Config());
  EXPECT_EQ(Value(denied.Scrape(), "yunxiao_flow_up"), 0);
}

TEST_F(ExporterTest, PipelinesThatNeverRanKeepTheirInfoAndFetchSuccess) {
  // #3..#6 never ran: their latest run is 404, an empty 200, null and {}.
  Simulator sim({.pipelines = 6, .frozen = true, .flags = {"--never-run=4"}});
  auto ids = sim.PipelineIds();
  ASSERT_EQ(ids.size(), 6u);
  auto config_ids = ids;
  config_ids.push_back("9999999");  // does not exist: stays a failed fetch
  Exporter exp(sim.Config({.ids = config_ids}));
  std::string text = exp.Scrape();
  for (const auto& id : ids) {
    const std::string pid = "pipeline_id=\"" + id + "\"";
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {pid}), 1) << id;
    EXPECT_EQ(Value(text, "yunxiao_flow_pipeline_info", {pid}), 1) << id;
  }
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_status"),
            (std::set<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(PipelinesIn(text, "yunxiao_flow_latest_run_id"),
            (std::set<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success", {"pipeline_id=\"9999999\""}), 0);
  EXPECT_TRUE(std::isnan(Value(text, "yunxiao_flow_api_decode_errors_total")));
  EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
  EXPECT_EQ(PromtoolProblems(text), "");
  const std::string log = exp.process().Stderr();
  EXPECT_NE(log.find("pipeline_id=9999999"), std::string::npos) << log;
  for (size_t i = 2; i < ids.size(); ++i) {
    EXPECT_EQ(log.find("pipeline_id=" + ids[i]), std::string::npos) << log;
  }
}

TEST_F(ExporterTest, ConfiguredNamesWinAndNeedNoLookup) {
  Simulator sim({.pipelines = 1, .frozen = true});
  auto ids = sim.PipelineIds();
  Exporter exp("api:\n  endpoint: " + sim.Endpoint() +
               "\n  edition: region\npipelines:\n  - id: \"" + ids[0] +
               "\"\n    name: 构建 \"main\"\n");
  std::string text = exp.Scrape();
  EXPECT_NE(text.find("pipeline_name=\"构建 \\\"main\\\"\""), std::string::npos);
  EXPECT_EQ(sim.ApiRequests("getPipeline"), 0);
  EXPECT_EQ(PromtoolProblems(text), "");
}

TEST_F(ExporterTest, CacheServesRepeatedScrapesWithoutRequests) {
  Simulator sim({.pipelines = 3, .frozen = true});
  Exporter exp(sim.Config({.collect = {{"cache_ttl", "1h"}}}));
  // The start-up fetch filled the cache: no scrape sends a request.
  EXPECT_EQ(sim.ApiRequests("latestPipelineRun"), 3);
  for (int i = 0; i < 5; ++i) exp.Scrape();
  EXPECT_EQ(sim.ApiRequests("latestPipelineRun"), 3);
  std::string text = exp.Scrape();
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"hit\""}), 18);
  EXPECT_EQ(Value(text, "yunxiao_flow_cache_requests_total", {"result=\"miss\""}), 0);
}

TEST_F(ExporterTest, NewRunsAndFailuresShowUpAfterTheCacheExpires) {
  Simulator sim({.pipelines = 2, .frozen = true});
  auto ids = sim.PipelineIds();
  Exporter exp(sim.Config({.collect = {{"cache_ttl", "0s"}}}));
  std::string before = exp.Scrape();
  double run_before =
      Value(before, "yunxiao_flow_latest_run_id", {"pipeline_id=\"" + ids[0] + "\""});
  ASSERT_EQ(
      sim.Control("POST", "/-/sim/pipelines/" + ids[0] + "/finish", R"({"status":"FAIL"})").status,
      200);
  std::string after = exp.Scrape();
  EXPECT_EQ(Value(after, "yunxiao_flow_latest_run_status",
                  {"pipeline_id=\"" + ids[0] + "\"", "status=\"FAIL\""}),
            1);
  EXPECT_GT(Value(after, "yunxiao_flow_latest_run_id", {"pipeline_id=\"" + ids[0] + "\""}),
            run_before);
  EXPECT_FALSE(std::isnan(Value(after, "yunxiao_flow_latest_run_duration_seconds",
                                {"pipeline_id=\"" + ids[0] + "\""})));
  EXPECT_EQ(Value(after, "yunxiao_flow_latest_run_stage_status",
                  {"pipeline_id=\"" + ids[0] + "\"", "status=\"FAIL\""}),
            1);
}

TEST_F(ExporterTest, GzipWhenAskedAndTheSameText) {
  Simulator sim({.pipelines = 3, .frozen = true});
  Exporter exp(sim.Config({.collect = {{"cache_ttl", "1h"}}}));
  std::string plain, zipped, headers;
  ASSERT_EQ(
      RunCommand("curl -sf http://127.0.0.1:" + std::to_string(exp.port()) + "/metrics", &plain),
      0);
  ASSERT_EQ(RunCommand(
                "curl -sf --compressed http://127.0.0.1:" + std::to_string(exp.port()) + "/metrics",
                &zipped),
            0);
  ASSERT_EQ(RunCommand("curl -sf --compressed -o /dev/null -D - http://127.0.0.1:" +
                           std::to_string(exp.port()) + "/metrics",
                       &headers),
            0);
  EXPECT_NE(headers.find("Content-Encoding: gzip"), std::string::npos) << headers;
  auto strip = [](const std::string& t) {  // the parts that change between scrapes
    std::string out;
    std::istringstream in(t);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("yunxiao_flow_api") != std::string::npos ||
          line.find("yunxiao_flow_cache") != std::string::npos ||
          line.find("scrape_duration") != std::string::npos) {
        continue;
      }
      out += line + "\n";
    }
    return out;
  };
  EXPECT_TRUE(strip(zipped) == strip(plain)) << "gzip and plain bodies differ";
  EXPECT_FALSE(Samples(plain, "yunxiao_flow_latest_run_status").empty());
}

TEST_F(ExporterTest, HttpSurface) {
  Simulator sim({.pipelines = 1, .frozen = true});
  Exporter exp(sim.Config(), {.flags = {"--web.telemetry-path=/custom"}});
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);
  EXPECT_EQ(exp.Get("/-/ready").status, 200);
  auto landing = exp.Get("/");
  EXPECT_EQ(landing.status, 200);
  EXPECT_NE(landing.body.find("href=\"/custom\""), std::string::npos);
  EXPECT_EQ(exp.Get("/metrics").status, 404);
  EXPECT_EQ(exp.Get("/nope").status, 404);
  auto m = exp.Get("/custom");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.headers["Content-Type"].find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(exp.process().Stop(15), 0) << exp.process().Stderr();
  EXPECT_TRUE(exp.process().WaitForOutput("msg=stopped"));
}

// stdout carries one stable line for scripts, the address; the log goes to stderr.
TEST_F(ExporterTest, StdoutCarriesOnlyTheListeningLine) {
  Simulator sim({.pipelines = 1, .frozen = true});
  Exporter exp(sim.Config(), {.flags = {"--log.level=debug"}});
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  exp.Scrape();
  EXPECT_EQ(exp.process().Stop(15), 0) << exp.process().Stderr();
  EXPECT_EQ(exp.process().Stdout(), "listening on 127.0.0.1:" + std::to_string(exp.port()) + "\n");
  EXPECT_FALSE(exp.process().Stderr().empty()) << "the log goes to stderr";
}

TEST_F(ExporterTest, ConfigCheckListsEveryProblem) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml",
                              "api:\n  endpoint: nope\n  timeout: forever\n"
                              "pipelines:\n  - id: \"1\"\n  - id: \"1\"\n");
  Process p({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + bad});
  EXPECT_EQ(p.Wait(std::chrono::seconds(10)), 1);
  std::string out = p.Stdout();
  EXPECT_NE(out.find("bad.yaml:2: \"api.endpoint\""), std::string::npos) << out;
  EXPECT_NE(out.find("bad.yaml:3: \"api.timeout\""), std::string::npos) << out;
  EXPECT_NE(out.find("duplicate pipeline id"), std::string::npos) << out;
  EXPECT_NE(out.find("3 problems found"), std::string::npos) << out;

  std::string good = dir.Write("good.yaml", "api:\n  endpoint: https://x\npipelines: [\"1\"]\n");
  Process ok({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + good},
             {{"YUNXIAO_TOKEN", "pt-check-token-1"}});
  EXPECT_EQ(ok.Wait(std::chrono::seconds(10)), 0) << ok.Stdout();
  EXPECT_EQ(ok.Stdout().find("pt-check-token-1"), std::string::npos);

  Process no_token({YFE_EXPORTER_BIN, "--config.check", "--config.file=" + good});
  EXPECT_EQ(no_token.Wait(std::chrono::seconds(10)), 1);
  EXPECT_NE(no_token.Stdout().find("no API token"), std::string::npos);
}

TEST_F(ExporterTest, InvalidConfigExitsWithoutServing) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", "api: [1");
  Process p({YFE_EXPORTER_BIN, "--config.file=" + bad, "--web.listen-address=127.0.0.1:0"},
            {{"YUNXIAO_TOKEN", "t-123456"}});
  EXPECT_EQ(p.Wait(std::chrono::seconds(10)), 1);
  EXPECT_NE(p.Stderr().find("invalid YAML"), std::string::npos);
  EXPECT_EQ(p.Stderr().find("listening"), std::string::npos);
  Process flags({YFE_EXPORTER_BIN, "--bogus"});
  EXPECT_EQ(flags.Wait(std::chrono::seconds(10)), 2);
  Process version({YFE_EXPORTER_BIN, "--version"});
  EXPECT_EQ(version.Wait(std::chrono::seconds(10)), 0);
  EXPECT_NE(version.Stdout().find("yunxiao-flow-exporter, version"), std::string::npos);
}

// Golden file: the whole /metrics for a fixed scenario (frozen simulator clock, fixed
// seed). Values that depend on the wall clock or on timing are masked. To update:
// UPDATE_GOLDEN=1 ctest -R Golden
TEST_F(ExporterTest, GoldenMetrics) {
  Simulator sim({.pipelines = 5, .frozen = true, .flags = {"--seed=7"}});
  auto ids = sim.PipelineIds();
  Exporter exp(sim.Config({.ids = ids, .collect = {{"sparse_status", "true"}}}));
  std::string text = exp.Scrape();
  std::ostringstream normalized;
  std::istringstream in(text);
  std::string line;
  const std::regex masked(
      "^(yunxiao_flow_fetch_last_success_timestamp_seconds|yunxiao_flow_scrape_duration_seconds|"
      "yunxiao_flow_api_request_duration_seconds_(sum|bucket)|yunxiao_flow_api_requests_(in_flight|"
      "queued))");
  while (std::getline(in, line)) {
    line = std::regex_replace(line, std::regex("revision=\"[^\"]*\""), "revision=\"REV\"");
    line = std::regex_replace(line, std::regex("version=\"[^\"]*\""), "version=\"VERSION\"");
    if (line[0] != '#' && std::regex_search(line, masked)) {
      line = line.substr(0, line.rfind(' ')) + " MASKED";
    }
    normalized << line << "\n";
  }
  // prometheus-cpp orders label sets of its own metrics by hash: sort for stability.
  std::string golden_path = std::string(YFE_SOURCE_DIR) + "/tests/golden/metrics.txt";
  std::vector<std::string> lines;
  std::istringstream n(normalized.str());
  while (std::getline(n, line)) lines.push_back(line);
  std::sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
    auto family = [](const std::string& l) {
      if (l[0] == '#') return l.substr(7, l.find(' ', 7) - 7);
      auto e = l.find_first_of("{ ");
      std::string f = l.substr(0, e);
      for (const char* s : {"_bucket", "_sum", "_count"}) {
        if (f.size() > strlen(s) && f.compare(f.size() - strlen(s), strlen(s), s) == 0) {
          f.resize(f.size() - strlen(s));
        }
      }
      return f;
    };
    // HELP/TYPE first, then the samples in a stable order.
    return std::make_tuple(family(a), a[0] != '#', a) < std::make_tuple(family(b), b[0] != '#', b);
  });
  std::string got;
  for (const auto& l : lines) got += l + "\n";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(golden_path) << got;
    GTEST_SKIP() << "golden file updated";
  }
  std::string want = ReadFile(golden_path);
  ASSERT_FALSE(want.empty()) << "missing " << golden_path << "; run with UPDATE_GOLDEN=1";
  EXPECT_EQ(got, want) << "run with UPDATE_GOLDEN=1 to accept the new output";
}

}  // namespace
}  // namespace yfe::testing
