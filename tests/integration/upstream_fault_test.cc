// Upstream faults through the whole binary: DNS failures, bodies cut or trickled, HTTP
// errors with and without a JSON error body. Each is counted, logged with what an operator
// needs, and the exporter keeps serving and recovers.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "integration/hardening.h"
#include "support/exposition_check.h"
#include "support/harness.h"

namespace yfe::testing {
namespace {

using namespace hardening;

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
void ExpectTransportFaultThenRecovery(const std::string& fault, const Lines& api,
                                      const std::string& log_fragment) {
  Simulator sim({.pipelines = 2, .frozen = true});
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", fault).status, 200);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), api, {{"scrape_deadline", "8s"}}),
               {.warm = false});
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  std::string text = exp.Scrape();
  EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}}), 0);
  EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kGood}}), 0);
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
      [&] {
        return Get(exp.Scrape(), "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}}) == 1;
      },
      30s, 200ms));
  EXPECT_EQ(Value(exp.Scrape(), "yunxiao_flow_up"), 1);
}

TEST(UpstreamFault, ResetMidBodyIsATransportError) {
  ExpectTransportFaultThenRecovery(R"({"reset":1})", {}, "partial file");
}

TEST(UpstreamFault, SlowBodyHitsTheRequestTimeout) {
  // Eight chunks 0.5 s apart: 3.5 s for a body, against a 1 s request timeout.
  ExpectTransportFaultThenRecovery(R"({"slowBody":1})", {{"timeout", "1s"}}, "imeout");
}

TEST(UpstreamFault, HttpErrorsAreCountedAndLoggedWithErrorCodeAndRequestId) {
  Simulator sim({.pipelines = 2, .frozen = true});
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
    // A 404 from an existing pipeline means "no run yet" (see
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
      EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kBad}}), 0);
      EXPECT_EQ(Get(text, "yunxiao_flow_fetch_success", {{"pipeline_id", kGood}}), 1);
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

// /-/ready is 503 "Not ready: first fetch running" while the start-up fetch runs, /-/healthy
// 200; /-/ready turns 200 when every pipeline has been asked (`fetched` of them answered).
void ExpectNotReadyThenReady(Simulator& sim, Exporter& exp, double fetched, bool hung = false) {
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  auto r = exp.Get("/-/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "Not ready: first fetch running\n");
  EXPECT_EQ(exp.Get("/-/healthy").status, 200);
  EXPECT_TRUE(Eventually([&] { return exp.Get("/-/ready").status == 200; }, 30s, 20ms))
      << exp.process().Stderr();
  // Ready once the fetch has ended, not before: the simulator answered both requests (it
  // counts an answer once its delay is over; a hung one is not answered).
  if (!hung) {
    EXPECT_EQ(sim.ApiRequests("latestPipelineRun"), 2);
  }
  std::string text = exp.Scrape();
  EXPECT_EQ(Sum(text, "yunxiao_flow_fetch_success"), fetched) << text;
}

TEST(UpstreamFault, ReadyWaitsForTheFirstFetchOfASlowUpstream) {
  Simulator sim({.pipelines = 2, .frozen = true, .flags = {"--latency=4s"}});
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), {}, {{"cache_ttl", "1h"}}), {.warm = false});
  ExpectNotReadyThenReady(sim, exp, 2);
}

// A first fetch that fails also ends the wait: an upstream that is down or broken leaves
// the exporter ready (it says so through yunxiao_flow_up), never unready for good.
TEST(UpstreamFault, ReadyAfterAFirstFetchThatFails) {
  Simulator sim({.pipelines = 2, .frozen = true, .flags = {"--latency=4s"}});
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"status5xx":1})").status, 200);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), {}, {{"cache_ttl", "1h"}}), {.warm = false});
  ExpectNotReadyThenReady(sim, exp, 0);
}

// A hung upstream: each request ends at api.timeout, and so does the wait.
TEST(UpstreamFault, ReadyAfterAFirstFetchThatTimesOut) {
  Simulator sim({.pipelines = 2, .frozen = true});
  ASSERT_EQ(sim.Control("POST", "/-/sim/faults", R"({"latencyMs":60000})").status, 200);
  Exporter exp(TwoPipelineConfig(sim.Endpoint(), {{"timeout", "4s"}}, {{"cache_ttl", "1h"}}),
               {.warm = false});
  ExpectNotReadyThenReady(sim, exp, 0, /*hung=*/true);
}

TEST(UpstreamFault, ReadyWhenTheUpstreamIsDown) {
  Exporter exp(TwoPipelineConfig("http://127.0.0.1:1"), {.warm = false});
  ASSERT_TRUE(exp.started()) << exp.process().Stderr();
  EXPECT_TRUE(Eventually([&] { return exp.Get("/-/ready").status == 200; }, 30s, 20ms))
      << exp.process().Stderr();
  EXPECT_EQ(Value(exp.Scrape(), "yunxiao_flow_up"), 0);
}

}  // namespace
}  // namespace yfe::testing
